"""The trivial rule the model must beat: nearest class mean of per-channel statistics.

Each site becomes 12 numbers, the mean and standard deviation of each of its six channels
(optionally after its experiment's normalisation); a well is the mean of its sites; a class
is the mean of its training wells; a well is given the class whose mean is nearest.
"""

import numpy as np


def channel_stats(array: np.ndarray, norm: np.ndarray | None = None) -> np.ndarray:
    """N x 12: per-channel mean and std of each N x H x W x 6 row; with `norm` (N x 2 x 6,
    see normalize.group_stats) of the normalised image."""
    out = np.empty((len(array), 2 * array.shape[-1]))
    for i in range(len(array)):
        x = np.asarray(array[i], np.float64)
        if norm is not None:
            x = (x - norm[i, 0]) / norm[i, 1]
        out[i] = np.concatenate([x.mean(axis=(0, 1)), x.std(axis=(0, 1))])
    return out


def nearest_class_mean(
    train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray, standardise: bool = True
) -> np.ndarray:
    """The label of the nearest class mean (Euclidean, on features scaled to unit variance
    over the training rows when `standardise`)."""
    if standardise:
        mu, sd = train_x.mean(0), train_x.std(0) + 1e-9
        train_x, x = (train_x - mu) / sd, (x - mu) / sd
    classes = np.unique(train_y)
    means = np.stack([train_x[train_y == c].mean(0) for c in classes])
    d = ((x[:, None, :] - means[None]) ** 2).sum(-1)
    return classes[d.argmin(1)]


def per_well(features: np.ndarray, well_of: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(wells, their sites' mean features)."""
    wells, inverse = np.unique(well_of, return_inverse=True)
    sums = np.zeros((len(wells), features.shape[1]))
    np.add.at(sums, inverse, features)
    return wells, sums / np.bincount(inverse)[:, None]


__all__ = ["channel_stats", "nearest_class_mean", "per_well"]
