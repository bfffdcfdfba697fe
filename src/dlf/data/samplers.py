"""Samplers for imbalanced data: which rows an epoch visits, drawn in one vectorised call.

They are `torch.utils.data.Sampler`s (usable with a torch `DataLoader`) and also offer
`epoch_indices()`, the whole epoch as one NumPy array, which `ArrayLoader` uses directly.
"""

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from dlf.core.errors import DlfError


class WeightedSampler(Sampler[int]):
    """Draw `num_samples` rows per epoch with probability proportional to `weights`."""

    def __init__(
        self,
        weights: Sequence[float] | np.ndarray,
        num_samples: int | None = None,
        replacement: bool = True,
        seed: int | None = None,
    ) -> None:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or len(w) == 0 or (w < 0).any() or not np.isfinite(w).all() or w.sum() <= 0:
            raise DlfError(
                "sampler weights must be a non-empty 1-D list of finite values >= 0, not all 0"
            )
        self.p = w / w.sum()
        self.num_samples = len(w) if num_samples is None else int(num_samples)
        if not replacement and self.num_samples > int((w > 0).sum()):
            raise DlfError(
                f"cannot draw {self.num_samples} rows without replacement from {int((w > 0).sum())}"
            )
        self.replacement, self.seed, self.epoch = replacement, seed, 0

    def epoch_indices(self) -> np.ndarray:
        rng, self.epoch = epoch_rng(self.seed, self.epoch), self.epoch + 1
        return rng.choice(len(self.p), size=self.num_samples, replace=self.replacement, p=self.p)

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


def class_balanced_weights(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    """Per-row weight 1 / (rows of that class): every class is drawn equally often."""
    labels = np.asarray(labels)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return 1.0 / counts[inverse]


class ClassBalancedSampler(WeightedSampler):
    """Each class equally likely per draw, whatever its share of the rows."""

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        num_samples: int | None = None,
        seed: int | None = None,
    ):
        super().__init__(class_balanced_weights(labels), num_samples, replacement=True, seed=seed)


def epoch_rng(seed: int | None, epoch: int) -> np.random.Generator:
    """The generator for one epoch's draws.

    No seed: one draw from torch's global RNG when the epoch starts (as torch's own
    RandomSampler does), so `seed_everything` makes runs repeatable and restoring the RNG
    state of an epoch's start (a resumed checkpoint) restores that epoch's order exactly.
    """
    if seed is None:
        return np.random.default_rng(int(torch.randint(0, 2**31 - 1, (1,)).item()))
    return np.random.default_rng([seed, epoch])
