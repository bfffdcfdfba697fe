"""The data block: describe a dataset in parts, get `Datasets` and `DataLoaders` out.

    dblock = DataBlock(blocks=(ImageBlock(size=128), CategoryBlock()),
                       get_items=get_image_files, get_y=parent_label,
                       splitter=random_splitter(0.2), batch_tfms=aug_transforms())
    dblock.summary(path)            # one item, then one batch, through every step
    dls = dblock.dataloaders(path, bs=64)

Image and mask blocks are decoded once into an `ImageCache` (in memory, or memory-mapped in
`cache_dir`); every other block is encoded into one array per block. Batches are slices of
these arrays (`ArrayLoader`), or, with num_workers > 0, come from a torch `DataLoader`.
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from dlf.core.errors import DlfError
from dlf.data.augment import ToFloat, configure
from dlf.data.blocks import Block
from dlf.data.cache import ImageCache, _fit_channels
from dlf.data.image import header_channels, resize, to_uint8
from dlf.data.loaders import DataLoaders, train_drop_last
from dlf.data.resident import ArrayLoader, array_column, image_column, mask_column, ragged_column
from dlf.data.splits import random_splitter

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom")


def get_image_files(path: str | os.PathLike) -> list[Path]:
    """All image files under `path`, sorted (so splits are repeatable)."""
    path = Path(path)
    if not path.is_dir():
        raise DlfError(f"{path}: not a folder of images")
    return sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def parent_label(path: str | os.PathLike) -> str:
    return Path(path).parent.name


def _identity(x):
    return x


class Datasets:
    """Encoded items of one source: `columns[b]` per block, train/valid `splits`, `vocab`.

    `ds[i]` is the tuple of tensors of row i; `encode_item(item)` turns one raw item (say a
    new file) into the model inputs the same way, for `Learner.predict`.
    """

    def __init__(
        self,
        dblock: "DataBlock",
        items: list,
        cache_dir=None,
        on_error: str = "raise",
        workers=None,
        progress=True,
    ):
        self.dblock, self.items, self.blocks = dblock, items, dblock.blocks
        self.n_inp = dblock.n_inp
        values = [[g(it) for it in items] for g in dblock.getters]
        for block, vals in zip(self.blocks, values):
            block.setup(vals)
        self.caches: dict[int, ImageCache] = {}
        self.block_channels: dict[int, int] = {}  # channels each cached block decided on
        ok = np.ones(len(items), dtype=bool)
        self.skipped: list[tuple[int, str, str]] = []
        for b, (block, vals) in enumerate(zip(self.blocks, values)):
            if block.cached:
                if block.size is None:
                    raise DlfError(
                        f"{type(block).__name__} needs a size to batch images: pass size=..."
                    )
                folder = None if cache_dir is None else Path(cache_dir) / f"block{b}_{block.kind}"
                # from the files themselves, before item_tfms wrap the reader
                channels = block.channels or header_channels(vals, block.reader)
                cache = ImageCache.build(
                    vals,
                    block.size,
                    folder,
                    reader=self._reader(block),
                    channels=channels,
                    nearest=block.nearest,
                    workers=workers,
                    on_error=on_error,
                    progress=progress,
                    recipe=repr(dblock.item_tfms) if not block.nearest else "",
                )
                self.caches[b] = cache
                self.block_channels[b] = cache.array.shape[-1]
                ok &= cache.ok
                self.skipped += cache.skipped
        self.columns = [self._column(b, vals) for b, vals in enumerate(values)]
        train, valid = dblock.splitter(items)
        self.splits = (train[ok[train]], valid[ok[valid]])
        self.vocab = next(
            (blk.vocab for blk in self.blocks[self.n_inp :] if blk.vocab is not None), None
        )

    @property
    def channels(self) -> int | None:
        """Channels of the first image input (what `create_model(in_chans=...)` needs)."""
        return next(
            (self.block_channels[b] for b in range(self.n_inp) if b in self.block_channels), None
        )

    def _reader(self, block) -> Callable:
        tfms = () if block.nearest else self.dblock.item_tfms
        if not tfms:
            return block.reader

        def read(item):
            arr = block.reader(item)
            for t in tfms:
                arr = t(arr)
            return arr

        return read

    def _column(self, b: int, vals: list) -> Callable:
        block = self.blocks[b]
        if block.cached:
            arr = self.caches[b].array
            return mask_column(arr) if block.kind == "mask" else image_column(arr)
        if block.kind == "boxes":
            scale = self._box_scale()
            return ragged_column(
                [block.encode(v) * s for v, s in zip(vals, scale)], 0.0, torch.float32
            )
        if block.kind == "box_labels":
            return ragged_column([block.encode(v) for v in vals], -1, torch.int64)
        return array_column(np.stack([block.encode(v) for v in vals]))

    def _box_scale(self) -> np.ndarray:
        """Per item (sx, sy, sx, sy): boxes in original pixels -> pixels of the cached image."""
        b = next((b for b, blk in enumerate(self.blocks) if blk.kind == "image"), None)
        if b is None:
            raise DlfError("a BoxBlock needs an ImageBlock in the same data block")
        cache = self.caches[b]
        h, w = cache.size
        orig = np.maximum(cache.orig_shapes, 1).astype(np.float32)
        return np.stack([w / orig[:, 1], h / orig[:, 0]] * 2, axis=1)[:, None, :]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple:
        idx = np.array([i])
        return tuple(col(idx)[0] for col in self.columns)

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(blk.kind for blk in self.blocks)

    def encode_item(self, item) -> torch.Tensor | tuple:
        """One raw item -> its model input(s) as uint8 C x H x W tensors (no batch dim)."""
        out = []
        for b, (block, getter) in enumerate(zip(self.blocks[: self.n_inp], self.dblock.getters)):
            # as the cache holds it: the channel count decided from the training files
            channels = self.block_channels.get(b)
            out.append(self.dblock.encode_value(block, getter(item), channels))
        return out[0] if len(out) == 1 else tuple(out)


class DataBlock:
    """A recipe for turning a source (a folder, a table) into `Datasets` and `DataLoaders`.

    blocks: one `Block` per column; the first `n_inp` go to the model.
    get_items: source -> list of items (default: the source itself, as a list).
    getters: one function per block (item -> raw value), or get_x (for the inputs) and
      get_y (one function, or a list for several targets).
    splitter: items -> (train_idx, valid_idx). item_tfms: functions on the decoded HWC uint8
      array before resizing and caching (e.g. a crop). batch_tfms: see dlf.data.augment.
    """

    def __init__(
        self,
        blocks: Sequence[Block],
        get_items: Callable | None = None,
        get_x: Callable | None = None,
        get_y: Callable | Sequence[Callable] | None = None,
        getters: Sequence[Callable] | None = None,
        splitter: Callable | None = None,
        item_tfms: Sequence[Callable] = (),
        batch_tfms: Sequence[Callable] = (),
        n_inp: int = 1,
    ) -> None:
        self.blocks = [b() if isinstance(b, type) else b for b in blocks]
        self.n_inp, self.get_items = n_inp, get_items or list
        if getters is None:
            ys = (
                list(get_y)
                if isinstance(get_y, list | tuple)
                else [get_y or _identity] * (len(self.blocks) - n_inp)
            )
            getters = [get_x or _identity] * n_inp + ys
        if len(getters) != len(self.blocks):
            raise DlfError(f"{len(getters)} getters for {len(self.blocks)} blocks")
        self.getters = list(getters)
        self.splitter = splitter or random_splitter(0.2)
        self.item_tfms, self.batch_tfms = list(item_tfms), list(batch_tfms)

    def encode_value(self, block: Block, value, channels: int | None = None) -> torch.Tensor:
        """One raw value through the block's per-item path (what the cache stores).

        channels: the count to fit images to (default: the block's own, if it sets one)."""
        if not block.cached:
            return torch.as_tensor(block.encode(value))
        arr = block.reader(value)
        for t in () if block.nearest else self.item_tfms:
            arr = t(arr)
        arr = to_uint8(arr)
        channels = channels or block.channels
        if channels is not None:
            arr = _fit_channels(arr, channels, value)
        if block.size is not None:
            size = (block.size, block.size) if isinstance(block.size, int) else block.size
            arr = resize(arr, tuple(size), nearest=block.nearest)
        t = torch.from_numpy(np.array(arr))  # a writable copy (Pillow arrays are read-only)
        return t[..., 0] if block.kind == "mask" else t.permute(2, 0, 1)

    def datasets(
        self, source, cache_dir=None, on_error: str = "raise", workers=None, progress=True
    ) -> Datasets:
        items = list(self.get_items(source))
        if not items:
            raise DlfError(f"{source}: get_items found no items")
        return Datasets(self, items, cache_dir, on_error, workers, progress)

    def batch_transforms(self, dsets: Datasets) -> list:
        n_classes = len(dsets.vocab) if dsets.vocab is not None else None
        tfms = [configure(t, dsets.kinds, n_classes) for t in self.batch_tfms]
        return [*tfms, ToFloat(kinds=dsets.kinds)]  # a no-op on floats; masks -> int64

    def dataloaders(
        self,
        source,
        bs: int = 64,
        device: torch.device | str | None = None,
        shuffle: bool = True,
        sampler=None,
        num_workers: int = 0,
        cache_dir=None,
        on_error: str = "raise",
        seed: int | None = None,
        progress: bool = True,
        valid_bs: int | None = None,
    ) -> DataLoaders:
        """Datasets, then batches: slices of the cache (num_workers=0) or a torch DataLoader."""
        dsets = self.datasets(source, cache_dir, on_error, progress=progress)
        dls = loaders_from_datasets(
            dsets,
            bs,
            device,
            shuffle,
            sampler,
            num_workers,
            seed,
            valid_bs,
            self.batch_transforms(dsets),
        )
        return dls

    def summary(self, source, bs: int = 4) -> str:
        """Walk one item, then one batch, through every step; print and return the report.

        A failing step raises DlfError naming the step and the item, with the error."""
        lines: list[str] = []
        say = lines.append

        def step(name, fn, item="-"):
            try:
                return fn()
            except Exception as e:
                print("\n".join(lines))
                raise DlfError(
                    f"summary: step '{name}' failed on item {item}: {type(e).__name__}: {e}"
                ) from e

        items = step("get_items", lambda: list(self.get_items(source)))
        say(
            f"get_items: {len(items)} items; item 0: {items[0]!r}"
            if items
            else "get_items: 0 items"
        )
        if not items:
            raise DlfError(f"summary: step 'get_items' found no items in {source}")
        item = items[0]
        values = []
        for b, (block, getter) in enumerate(zip(self.blocks, self.getters)):
            name = type(block).__name__
            v = step(
                f"getter {b} ({getattr(getter, '__name__', getter)})",
                lambda g=getter: g(item),
                f"0 ({item!r})",
            )
            values.append(v)
            say(f"  getter {b} -> {type(v).__name__}: {v!r}"[:200])
        for b, (block, v) in enumerate(zip(self.blocks, values)):
            name = type(block).__name__
            if not block.cached:
                vals = step(f"{name}.setup", lambda g=self.getters[b]: [g(o) for o in items])
                step(f"{name}.setup", lambda blk=block, vs=vals: blk.setup(vs))
            t = step(
                f"{name}.encode",
                lambda blk=block, val=v: self.encode_value(blk, val),
                f"0 ({item!r})",
            )
            say(f"  {name} -> {tuple(t.shape)} {t.dtype}")
        tr, va = step("splitter", lambda: self.splitter(items))
        say(f"splitter: {len(tr)} train, {len(va)} valid")
        sub = [items[i] for i in tr[:bs]] or items[:bs]
        small = DataBlock(
            self.blocks,
            getters=self.getters,
            splitter=lambda its: (np.arange(len(its)), np.arange(0)),
            item_tfms=self.item_tfms,
            n_inp=self.n_inp,
        )
        dsets = step(
            "building the cache for one batch",
            lambda: small.datasets(sub, progress=False),
            f"0..{len(sub) - 1}",
        )
        cols = [c(np.arange(len(sub))) for c in dsets.columns]
        batch = tuple(cols)
        say(
            "batch: "
            + ", ".join(f"{k} {tuple(x.shape)} {x.dtype}" for k, x in zip(dsets.kinds, batch))
        )
        dsets.vocab = next(
            (blk.vocab for blk in self.blocks[self.n_inp :] if blk.vocab is not None), None
        )
        for tfm in self.batch_transforms(dsets):
            name = type(tfm).__name__
            batch = step(
                f"batch_tfm {name}",
                lambda t=tfm, bt=batch: t(bt),
                f"batch of items 0..{len(sub) - 1}",
            )
            say(f"  {name} -> " + ", ".join(f"{tuple(x.shape)} {x.dtype}" for x in batch))
        text = "\n".join(lines)
        print(text)
        return text


def loaders_from_datasets(
    dsets: Datasets, bs, device, shuffle, sampler, num_workers, seed, valid_bs, batch_tfms
) -> DataLoaders:
    """Train/valid loaders over `dsets`: ArrayLoader slices, or a torch DataLoader with workers."""
    device = None if device is None else torch.device(device)
    on_cuda = (device or _auto_device()).type == "cuda"
    train_idx, valid_idx = dsets.splits
    if len(train_idx) == 0:
        raise DlfError("the split left no training items")
    vbs = valid_bs or bs * 2
    if num_workers == 0:
        train = ArrayLoader(
            dsets.columns,
            train_idx,
            bs,
            shuffle=shuffle,
            drop_last=train_drop_last(len(train_idx), bs),
            sampler=sampler,
            seed=seed,
            pin_memory=on_cuda,
        )
        valid = (
            ArrayLoader(dsets.columns, valid_idx, vbs, pin_memory=on_cuda)
            if len(valid_idx)
            else None
        )
    else:
        from torch.utils.data import DataLoader, Subset

        kw = dict(
            num_workers=num_workers, pin_memory=on_cuda, persistent_workers=True, prefetch_factor=2
        )
        gen = None if seed is None else torch.Generator().manual_seed(seed)
        train = DataLoader(
            Subset(dsets, train_idx),
            bs,
            shuffle=shuffle and sampler is None,
            sampler=sampler,
            drop_last=train_drop_last(len(train_idx), bs),
            generator=gen,
            **kw,
        )
        valid = DataLoader(Subset(dsets, valid_idx), vbs, **kw) if len(valid_idx) else None
    dls = DataLoaders(
        train, valid, device=device, batch_tfms=batch_tfms, n_inp=dsets.n_inp, vocab=dsets.vocab
    )
    dls.datasets = dsets
    return dls


def _auto_device() -> torch.device:
    from dlf.core.hardware import default_device

    return default_device()
