"""Pieces every image task uses: where caches live, resident loaders, batched prediction."""

import hashlib
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from dlf.core.hardware import default_device, resolve_precision
from dlf.core.paths import dlf_home
from dlf.data.cache import ImageCache
from dlf.data.loaders import train_drop_last
from dlf.data.resident import ArrayLoader, image_column
from dlf.train.tta import tta_predict


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
    paths: Sequence[Path], data: Path, split: str, size: int, reader: Callable, recipe: str, log
) -> ImageCache:
    folder = cache_folder(data, split, size, recipe)
    log(f"decoded-image cache for {len(paths)} {split} images at {size}px: {folder}")
    return ImageCache.build(
        list(paths), size, folder=folder, reader=reader, recipe=recipe,
        progress=sys.stderr.isatty(),  # a bar on a terminal; logs and tests stay clean
    )  # fmt: skip


def array_loaders(
    columns: list, train_idx, valid_idx, bs: int, sampler=None
) -> tuple[ArrayLoader, ArrayLoader]:
    """Train and valid loaders over the same cache columns (e.g. images and targets)."""
    n_rows = len(sampler) if sampler is not None else len(train_idx)
    train = ArrayLoader(columns, train_idx, bs=bs, shuffle=sampler is None,
                        drop_last=train_drop_last(n_rows, bs), sampler=sampler)  # fmt: skip
    valid = ArrayLoader(columns, valid_idx, bs=bs * 2, shuffle=False)
    return train, valid


@torch.no_grad()
def predict_images(
    model: nn.Module,
    images: np.ndarray,
    tfms: Sequence[Callable],
    bs: int = 64,
    tta: int = 1,
    dense: bool = False,
    act: Callable | None = None,
    device: torch.device | None = None,
) -> torch.Tensor:
    """Model outputs for every row of a uint8 NHWC array, in order, on the CPU. The model runs
    on `device`, by default the one it is on (`dlf predict --device` puts it there)."""
    device = device or next((p.device for p in model.parameters()), None) or default_device()
    precision = resolve_precision("auto", device)
    model = model.to(device).eval()
    loader = ArrayLoader([image_column(images)], np.arange(len(images)), bs=bs, shuffle=False)
    outs = []
    for (xb,) in loader:
        batch = (xb.to(device),)
        for t in tfms:
            batch = t(batch)
        ctx = (
            torch.autocast(device.type, dtype=precision.autocast_dtype)
            if precision.autocast
            else torch.autocast(device.type, enabled=False)
        )
        with ctx:
            outs.append(tta_predict(model, batch[0], tta, dense=dense, act=act).float().cpu())
    return torch.cat(outs)
