"""The decoded-image cache: decode and presize every image once, then read slices.

Layout in `folder`:
  images.npy     uint8 N x H x W x C, a memory-mapped NumPy file (np.load(..., mmap_mode="r"))
  manifest.json  per row: the source file(s) with byte size and mtime, the original image
                 shape, and a state: "done", "bad" (unreadable, with the error) or "todo".

A rerun compares each source's size and mtime with the manifest and decodes only rows that
changed or are not done yet, so an interrupted build (Ctrl-C, a kill) is finished by running
it again. The array is flushed before the manifest marks rows done, and the manifest is
written atomically, so a row marked done is always really in the array.
Decoding runs in a thread pool: Pillow and NumPy release the GIL while they work, and
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
from dlf.data.image import channel_count, read_image, read_pillow, read_stack, resize, to_uint8

Item = str | os.PathLike | Sequence[str | os.PathLike]  # a path, or paths stacked as channels
Reader = Callable[[Item], np.ndarray]

MANIFEST, ARRAY = "manifest.json", "images.npy"
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


class ImageCache:
    """N decoded, presized uint8 images: `cache.array` is N x H x W x C; `cache[idx]` slices it.

    `ok` marks usable rows; `skipped` lists (index, source, error) for rows that could not
    be read when built with on_error="skip"; `orig_shapes` holds each source's (h, w).
    """

    def __init__(self, array: np.ndarray, manifest: dict, folder: Path | None = None) -> None:
        self.array, self.manifest, self.folder = array, manifest, folder
        rows = manifest["items"]
        self.ok = np.array([r["state"] == "done" for r in rows], dtype=bool)
        self.orig_shapes = np.array([r.get("orig") or (0, 0) for r in rows], dtype=np.int64)
        self.skipped = [
            (i, r["source"], r.get("error", "")) for i, r in enumerate(rows) if r["state"] == "bad"
        ]

    def __len__(self) -> int:
        return len(self.array)

    def __getitem__(self, idx) -> np.ndarray:
        return self.array[idx]

    @property
    def size(self) -> tuple[int, int]:
        return tuple(self.array.shape[1:3])

    def __repr__(self) -> str:
        where = self.folder or "memory"
        return (
            f"ImageCache({tuple(self.array.shape)} uint8 in {where}, {len(self.skipped)} skipped)"
        )

    @classmethod
    def open(cls, folder: str | os.PathLike) -> "ImageCache":
        """Open a finished cache for reading (no source file is touched)."""
        folder = Path(folder)
        try:
            manifest = json.loads((folder / MANIFEST).read_text())
            array = np.load(folder / ARRAY, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise DlfError(
                f"{folder}: not a dlf image cache ({e}); build it with ImageCache.build"
            ) from e
        return cls(array, manifest, folder)

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
        if on_error not in ("raise", "skip"):
            raise DlfError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        h, w = _size2(size)
        items = list(items)
        stamps = [_stamp(it) for it in items]
        first = None
        if channels is None and reader in (read_image, read_pillow, read_stack):
            channels = channel_count(items)  # headers only: no pixel is decoded twice
        if channels is None:  # a reader of your own: the first readable image's output decides
            for i, it in enumerate(items):
                try:
                    first = (i, reader(it))
                    break
                except DlfError:
                    if on_error == "raise":
                        raise
            channels = 3 if first is None else first[1].shape[-1]
        shape = (len(items), h, w, channels)
        header = {"version": 1, "shape": list(shape), "nearest": nearest, "recipe": recipe}
        folder = None if folder is None else Path(folder)
        array, rows = _open_or_create(folder, header, stamps)
        manifest = {**header, "items": rows}

        def work(i: int) -> tuple[int, tuple[int, int]]:
            arr = first[1] if first is not None and first[0] == i else reader(items[i])
            arr = _fit_channels(to_uint8(arr), channels, items[i])
            array[i] = resize(arr, (h, w), nearest=nearest)
            return i, arr.shape[:2]

        todo = [i for i, r in enumerate(rows) if r["state"] == "todo"]
        bar = tqdm(
            total=len(todo), desc="caching images", unit="img", disable=not progress or not todo
        )
        last_save = time.monotonic()
        pool = ThreadPoolExecutor(max_workers=workers or min(8, os.cpu_count() or 1))
        try:
            futures = {pool.submit(work, i): i for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                try:
                    _, orig = fut.result()
                    rows[i].update(state="done", orig=list(orig))
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
            array = np.load(folder / ARRAY, mmap_mode="r")  # readers never write
        return cls(array, manifest, folder)


def _open_or_create(folder: Path | None, header: dict, stamps: list) -> tuple[np.ndarray, list]:
    """The array to fill and one manifest row per item, "todo" unless still valid."""
    fresh = [
        {"source": s[0][0] if len(s) == 1 else [f[0] for f in s], "files": s, "state": "todo"}
        for s in stamps
    ]
    if folder is None:
        return np.empty(header["shape"], np.uint8), fresh
    folder.mkdir(parents=True, exist_ok=True)
    old = None
    try:
        old = json.loads((folder / MANIFEST).read_text())
        array = np.load(folder / ARRAY, mmap_mode="r+")
    except (OSError, ValueError):
        old = None
    same = (
        old is not None
        and all(old.get(k) == header[k] for k in header)
        and list(array.shape) == header["shape"]
    )
    if not same:
        array = np.lib.format.open_memmap(
            folder / ARRAY, mode="w+", dtype=np.uint8, shape=tuple(header["shape"])
        )
        return array, fresh
    for row, prev in zip(fresh, old["items"]):
        if prev["files"] == row["files"] and prev["state"] in ("done", "bad"):
            row.update({k: v for k, v in prev.items() if k in ("state", "orig", "error")})
    return array, fresh


def _save(folder: Path, array: np.ndarray, manifest: dict) -> None:
    array.flush()  # rows first, then the manifest that says they are there
    atomic_write_text(folder / MANIFEST, json.dumps(manifest))
