"""Normalisation per experiment (or per plate): the batch effect removed with the statistics
of the images that share it.

Each experiment was stained and imaged on its own, so its channels have their own levels.
Every site is normalised by the per-channel mean and standard deviation of all the sites of
its own experiment (control wells included), for training, validation and test alike; test
statistics come from the test images themselves, which needs no label (what competitors
did). "off" uses one mean and std per channel from the training images, for comparison.
"""

from collections.abc import Sequence

import numpy as np
import torch


def group_stats(array: np.ndarray, keys: Sequence[str]) -> np.ndarray:
    """N x 2 x C float32: each row's group's per-channel mean and std (0-255 units), computed
    over all rows with the same key, read in chunks (the cache may be larger than memory)."""
    keys = np.asarray(keys)
    n, c = len(array), array.shape[-1]
    sums, squares = np.zeros((n, c)), np.zeros((n, c))
    chunk = max(1, 2**24 // max(1, int(np.prod(array.shape[1:]))))
    for i in range(0, n, chunk):
        a = np.asarray(array[i : i + chunk], dtype=np.float64).reshape(-1, *array.shape[1:])
        sums[i : i + chunk] = a.sum(axis=(1, 2))
        squares[i : i + chunk] = (a * a).sum(axis=(1, 2))
    pixels = int(np.prod(array.shape[1:3]))
    out = np.empty((n, 2, c), np.float32)
    for key in np.unique(keys):
        rows = keys == key
        count = pixels * rows.sum()
        mean = sums[rows].sum(0) / count
        var = squares[rows].sum(0) / count - mean**2
        out[rows, 0], out[rows, 1] = mean, np.sqrt(np.maximum(var, 1.0))  # std >= 1 grey level
    return out


class PerItemNormalize:
    """(image - mean) / std with each item's own statistics from its "norm" field (B x 2 x C),
    which it removes from the batch: the model sees only the image."""

    def __call__(self, batch: dict) -> dict:
        batch = dict(batch)
        norm = batch.pop("norm").to(batch["image"].device, torch.float32)
        x = batch["image"].float()
        batch["image"] = (x - norm[:, 0, :, None, None]) / norm[:, 1, :, None, None]
        return batch


__all__ = ["PerItemNormalize", "group_stats"]
