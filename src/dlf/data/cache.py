"""The array cache: make every row once (decode, presize, stack, dequantise...), then read
slices.

`ArrayCache` holds N rows of one fixed shape and dtype, made from N sources by a function
of yours: 6-channel cell stacks, per-video frame features, any fixed-shape array. Its
specialisation `ImageCache` decodes and presizes images into uint8 N x H x W x C.

Layout in `folder`:
  array.npy      (images.npy for an ImageCache) a memory-mapped NumPy file
                 (np.load(..., mmap_mode="r")), N x row shape
  manifest.json  per row: the source file(s) with byte size and mtime, what the row maker
                 reported (an image's original shape), and a state: "done", "bad"
                 (unreadable, with the error) or "todo".

A rerun compares each source's size and mtime with the manifest and makes only rows that
changed or are not done yet, so an interrupted build (Ctrl-C, a kill) is finished by running
it again. The array is flushed before the manifest marks rows done, and the manifest is
written atomically, so a row marked done is always really in the array.
Rows are made in a thread pool: Pillow and NumPy release the GIL while they work, and
threads write their rows straight into the shared memmap.
"""

import json
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.image import header_channels, read_image, resize, to_uint8

Item = str | os.PathLike | Sequence[str | os.PathLike]  # a path, or paths stacked as channels
Reader = Callable[[Item], np.ndarray]

MANIFEST = "manifest.json"
CHECKPOINT_SECONDS = 2.0  # how often a long build records its progress


def _size2(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


def _files(item: Item) -> list[str]:
    return [str(item)] if isinstance(item, str | os.PathLike) else [str(p) for p in item]


def _stamp(item: Item) -> list:
    """What identifies a source's content cheaply: path, byte size, mtime (ns)."""
    out = []
    for f in _files(item):
        try:
            st = os.stat(f)
            out.append([f, st.st_size, st.st_mtime_ns])
        except FileNotFoundError:
            out.append([f, -1, -1])
    return out


def _fit_channels(arr: np.ndarray, channels: int, item: Item) -> np.ndarray:
    c = arr.shape[-1]
    if c == channels:
        return arr
    if c == 1:
        return np.repeat(arr, channels, axis=-1)
    if c == 3 and channels == 1:  # ITU-R 601 luma, as Pillow's convert("L")
        luma = arr.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
        return np.rint(luma)[..., None].astype(np.uint8)
    raise DlfError(f"{_files(item)[0]}: image has {c} channels, the cache holds {channels}")


RowMaker = Callable[[Item], tuple[np.ndarray, dict]]  # source -> (row, facts for the manifest)


class ArrayCache:
    """N rows of one shape and dtype: `cache.array` is N x row shape; `cache[idx]` slices it.

    `ok` marks usable rows; `skipped` lists (index, source, error) for rows that could not
    be made when built with on_error="skip"; `rows` is the manifest's record of each row.
    """

    ARRAY = "array.npy"
    KIND = "array"

    def __init__(self, array: np.ndarray, manifest: dict, folder: Path | None = None) -> None:
        self.array, self.manifest, self.folder = array, manifest, folder
        self.rows = manifest["items"]
        self.ok = np.array([r["state"] == "done" for r in self.rows], dtype=bool)
        self.skipped = [
            (i, r["source"], r.get("error", ""))
            for i, r in enumerate(self.rows)
            if r["state"] == "bad"
        ]

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, idx) -> np.ndarray:
        return self.array[idx]

    def __repr__(self) -> str:
        where = self.folder or "memory"
        return (
            f"{type(self).__name__}({tuple(self.array.shape)} {self.array.dtype} in {where}, "
            f"{len(self.skipped)} skipped)"
        )

    @classmethod
    def open(cls, folder: str | os.PathLike):
        """Open a finished cache for reading (no source file is touched)."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            array = np.load(folder / cls.ARRAY, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DlfError(
                f"{folder}: not a dlf {cls.KIND} cache ({e}); build it with {cls.__name__}.build"
            ) from e
        return cls(array, manifest, folder)

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        make_row: Callable[[Item], np.ndarray | tuple[np.ndarray, dict]],
        row_shape: Sequence[int],
        dtype: np.dtype | str = np.uint8,
        folder: str | os.PathLike | None = None,
        workers: int | None = None,
        on_error: str = "raise",
        progress: bool = True,
        recipe: str = "",
    ):
        """Make each of `items` into one row with `make_row` (returning the row, or the row and
        a dict of facts kept in the manifest); reuse rows whose sources have not changed.

        folder: where the memmap and manifest live (None: an in-memory array, rebuilt each
          time). on_error: "raise" or "skip" (a DlfError from make_row marks the row bad).
          recipe: any text naming how rows are made; a change rebuilds the cache.
        """
        header = {"kind": cls.KIND, "dtype": np.dtype(dtype).str, "recipe": recipe}
        return cls._fill(items, make_row, tuple(row_shape), header, folder, workers, on_error,
                         progress)  # fmt: skip

    @classmethod
    def _fill(cls, items, make_row, row_shape, header, folder, workers, on_error, progress):
        if on_error not in ("raise", "skip"):
            raise DlfError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        items = list(items)
        header = {"version": 2, **header, "shape": [len(items), *row_shape]}
        folder = None if folder is None else Path(folder)
        array, rows = _open_or_create(folder, cls.ARRAY, header, [_stamp(it) for it in items])
        manifest = {**header, "items": rows}

        def work(i: int) -> dict:
            out = make_row(items[i])
            row, facts = out if isinstance(out, tuple) else (out, {})
            if tuple(row.shape) != tuple(row_shape):
                raise DlfError(
                    f"{_files(items[i])[0]}: made a row of shape {tuple(row.shape)}, the cache "
                    f"holds {tuple(row_shape)}"
                )
            array[i] = row
            return facts

        todo = [i for i, r in enumerate(rows) if r["state"] == "todo"]
        bar = tqdm(total=len(todo), desc=f"caching {cls.KIND}s", unit=cls.KIND[:5],
                   disable=not progress or not todo)  # fmt: skip
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1))
        try:
            futures = {pool.submit(work, i): i for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    rows[i].update(state="done", **fut.result())
                except DlfError as e:
                    if on_error == "raise":
                        raise DlfError(f"item {i}: {e}") from e
                    rows[i].update(state="bad", error=str(e))
                bar.update(1)
                if folder is not None and time.monotonic() - last_save > CHECKPOINT_SECONDS:
                    _save(folder, array, manifest)
                    last_save = time.monotonic()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            bar.close()
            if folder is not None:  # also on an error: what is done stays done
                _save(folder, array, manifest)
        if folder is not None:
            array = np.load(folder / cls.ARRAY, mmap_mode="r")  # readers never write
        return cls(array, manifest, folder)


class ImageCache(ArrayCache):
    """N decoded, presized uint8 images: `cache.array` is N x H x W x C; `orig_shapes` holds
    each source's (h, w)."""

    ARRAY = "images.npy"
    KIND = "image"

    def __init__(self, array: np.ndarray, manifest: dict, folder: Path | None = None) -> None:
        super().__init__(array, manifest, folder)
        self.orig_shapes = np.array([r.get("orig") or (0, 0) for r in self.rows], dtype=np.int64)

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.array.shape[1:3])

    @classmethod
    def build(
        cls,
        items: Sequence[Item],
        size: int | Sequence[int],
        folder: str | os.PathLike | None = None,
        reader: Reader = read_image,
        channels: int | None = None,
        nearest: bool = False,
        workers: int | None = None,
        on_error: str = "raise",
        progress: bool = True,
        recipe: str = "",
    ) -> "ImageCache":
        """Decode, scale to uint8 and resize `items` into a cache; reuse what is still valid.

        folder: where the memmap and manifest live (None: an in-memory array, rebuilt each
          time). reader: item -> HWC array. channels: None decides from every item's file
          header with the built-in readers (`channel_count`: 1 if all are single-channel, else
          3); with a reader of your own, from the first readable image (pass it to be sure).
          nearest: resize with nearest neighbour (masks). on_error: "raise" or "skip".
          recipe: any text naming extra preprocessing; a change rebuilds the cache.
        """
        h, w = _size2(size)
        items = list(items)
        first = None
        if channels is None:
            channels = header_channels(items, reader)  # headers only: no pixel decoded twice
        if channels is None:  # a reader of your own: the first readable image's output decides
            for i, it in enumerate(items):
                try:
                    first = (i, reader(it))
                    break
                except DlfError:
                    if on_error == "raise":
                        raise
            channels = 3 if first is None else first[1].shape[-1]
        peeked = {} if first is None else {id(items[first[0]]): first[1]}

        def make_row(item: Item) -> tuple[np.ndarray, dict]:
            arr = peeked.pop(id(item), None)
            arr = reader(item) if arr is None else arr
            arr = _fit_channels(to_uint8(arr), channels, item)
            return resize(arr, (h, w), nearest=nearest), {"orig": list(arr.shape[:2])}

        header = {"kind": cls.KIND, "dtype": "|u1", "nearest": nearest, "recipe": recipe}
        return cls._fill(items, make_row, (h, w, channels), header, folder, workers, on_error,
                         progress)  # fmt: skip


def _open_or_create(
    folder: Path | None, name: str, header: dict, stamps: list
) -> tuple[np.ndarray, list]:
    """The array to fill and one manifest row per item, "todo" unless still valid."""
    fresh = [
        {"source": s[0][0] if len(s) == 1 else [f[0] for f in s], "files": s, "state": "todo"}
        for s in stamps
    ]
    if folder is None:
        return np.empty(header["shape"], header["dtype"]), fresh
    folder.mkdir(parents=True, exist_ok=True)
    old = None
    try:
        old = json.loads((folder / MANIFEST).read_text())
        array = np.load(folder / name, mmap_mode="r+")
    except (OSError, ValueError):
        old = None
    same = (
        old is not None
        and all(old.get(k) == header[k] for k in header)
        and list(array.shape) == header["shape"]
    )
    if not same:
        array = np.lib.format.open_memmap(
            folder / name, mode="w+", dtype=header["dtype"], shape=tuple(header["shape"])
        )
        return array, fresh
    for row, prev in zip(fresh, old["items"]):
        if prev["files"] == row["files"] and prev["state"] in ("done", "bad"):
            row.update({k: v for k, v in prev.items() if k not in ("source", "files")})
    return array, fresh


def _save(folder: Path, array: np.ndarray, manifest: dict) -> None:
    array.flush()  # rows first, then the manifest that says they are there
    atomic_write_text(folder / MANIFEST, json.dumps(manifest))
