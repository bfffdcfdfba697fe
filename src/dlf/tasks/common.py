"""Pieces every image task uses: where caches live, the task loaders, progress bars."""

import hashlib
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from dlf.core.paths import dlf_home
from dlf.data.cache import ImageCache
from dlf.data.image import read_image
from dlf.data.loaders import train_drop_last
from dlf.data.resident import ArrayLoader


def progress(iterable: Iterable, total: int, desc: str) -> Iterable:
    """A progress bar on stderr for a loop that takes more than a few seconds (writing a
    synthetic dataset); off when stderr is not a terminal, so logs and tests stay clean."""
    return tqdm(iterable, total=total, desc=desc, unit="img", disable=None, leave=False)


def cache_folder(data: Path, split: str, size: int, recipe: str) -> Path:
    """A cache per (data folder, split, size, preprocessing), kept out of the data folder
    (Kaggle's input folders are read-only)."""
    key = hashlib.sha1(f"{Path(data).resolve()}|{split}|{size}|{recipe}".encode()).hexdigest()[:12]
    return dlf_home() / "cache" / f"{Path(data).name}-{split}-{size}-{key}"


def build_cache(
    paths: Sequence[Path],
    data: Path,
    split: str,
    size: int,
    reader: Callable = read_image,
    recipe: str = "",
    log=print,
    channels: int | None = None,
) -> ImageCache:
    """The task's decoded-image cache of one split, kept in dlf_home (see `cache_folder`)."""
    folder = cache_folder(data, split, size, recipe)
    log(f"decoded-image cache for {len(paths)} {split} images at {size}px: {folder}")
    return ImageCache.build(
        list(paths), size, folder=folder, reader=reader, channels=channels, recipe=recipe,
        progress=sys.stderr.isatty(),  # a bar on a terminal; logs and tests stay clean
    )  # fmt: skip


def array_loaders(
    columns: dict | list, train_idx, valid_idx, bs: int, sampler=None
) -> tuple[ArrayLoader, ArrayLoader]:
    """Train and valid loaders over the same cache columns (e.g. images and targets)."""
    n_rows = len(sampler) if sampler is not None else len(train_idx)
    train = ArrayLoader(columns, train_idx, bs=bs, shuffle=sampler is None,
                        drop_last=train_drop_last(n_rows, bs), sampler=sampler)  # fmt: skip
    valid = ArrayLoader(columns, valid_idx, bs=bs * 2, shuffle=False)
    return train, valid
