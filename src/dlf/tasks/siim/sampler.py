"""A sampler for rare positives whose share of each epoch can be annealed over training.

Pneumothorax is in about a fifth of the images; oversampling them early gives the decoder
something to learn from, and returning to the true share late calibrates the empty-mask
decision. `AnnealPositiveShare` (a callback) sets the share at each epoch start from the
epoch number, so a resumed run draws exactly what the unbroken one did.
"""

import numpy as np

from dlf.data.samplers import epoch_rng
from dlf.train.callbacks.core import Phase


class PositiveShareSampler:
    """Draws `len(is_positive)` positions per epoch (with replacement), positives making up
    `share` of the draws on average; `share=None` keeps the natural order (a permutation)."""

    def __init__(self, is_positive: np.ndarray, share: float | None = None) -> None:
        self.is_positive = np.asarray(is_positive, bool)
        self.share = share

    def __len__(self) -> int:
        return len(self.is_positive)

    def epoch_indices(self) -> np.ndarray:
        rng = epoch_rng(None, 0)  # from torch's RNG at the epoch start: resumable
        n = len(self.is_positive)
        if self.share is None or not self.is_positive.any() or self.is_positive.all():
            return rng.permutation(n)
        pos = np.flatnonzero(self.is_positive)
        neg = np.flatnonzero(~self.is_positive)
        w = np.where(self.is_positive, self.share / len(pos), (1 - self.share) / len(neg))
        return rng.choice(n, size=n, replace=True, p=w / w.sum())


class AnnealPositiveShare:
    """Linearly move the sampler's positive share from `start` to `end` over the epochs."""

    order = Phase.DATA

    def __init__(self, sampler: PositiveShareSampler, start: float, end: float) -> None:
        self.sampler, self.start, self.end = sampler, start, end

    def before_epoch(self, learn) -> None:
        frac = learn.epoch / max(1, learn.n_epochs - 1)
        self.sampler.share = self.start + frac * (self.end - self.start)
