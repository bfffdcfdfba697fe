"""Splitters: which rows train and which validate. All seeded; all return index arrays.

A splitter is a callable `items -> (train_idx, valid_idx)`. The K-fold helpers return the
`fold`-th of `k` splits, so a cross-validation loop is `for f in range(k): splitter(f)`.
"""

import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from dlf.core.errors import DlfError

Split = tuple[np.ndarray, np.ndarray]
Splitter = Callable[[Sequence], Split]


def _pair(valid: np.ndarray, n: int) -> Split:
    is_valid = np.zeros(n, dtype=bool)
    is_valid[valid] = True
    return np.flatnonzero(~is_valid), np.flatnonzero(is_valid)


def random_splitter(valid_pct: float = 0.2, seed: int = 42) -> Splitter:
    """A random `valid_pct` of the rows validate."""
    if not 0 <= valid_pct < 1:
        raise DlfError(f"valid_pct must be in [0, 1), got {valid_pct}")

    def split(items: Sequence) -> Split:
        n = len(items)
        perm = np.random.default_rng(seed).permutation(n)
        return _pair(perm[: round(valid_pct * n)], n)

    return split


def column_splitter(values: Sequence | Callable[[object], object], valid_value=True) -> Splitter:
    """Rows whose column value (a sequence, or a function of the item) equals `valid_value`."""

    def split(items: Sequence) -> Split:
        vals = [values(o) for o in items] if callable(values) else list(values)
        if len(vals) != len(items):
            raise DlfError(f"split column has {len(vals)} values for {len(items)} items")
        return _pair(np.flatnonzero([v == valid_value for v in vals]), len(items))

    return split


def folder_splitter(train_name: str = "train", valid_name: str = "valid") -> Splitter:
    """By the name of a parent folder: .../train/... trains, .../valid/... validates."""

    def split(items: Sequence) -> Split:
        parts = [Path(_first_path(o)).parts for o in items]
        train = np.flatnonzero([train_name in p for p in parts])
        valid = np.flatnonzero([valid_name in p for p in parts])
        if len(valid) == 0:
            raise DlfError(
                f"no item lies under a '{valid_name}' folder; use valid_pct or another splitter"
            )
        return train, valid

    return split


def _first_path(item) -> str:
    return str(item) if isinstance(item, str | os.PathLike) else str(item[0])


def kfold_splitter(k: int = 5, fold: int = 0, seed: int = 42) -> Splitter:
    """Plain shuffled K-fold: fold `fold` of `k` validates."""
    _check_fold(k, fold)

    def split(items: Sequence) -> Split:
        n = len(items)
        perm = np.random.default_rng(seed).permutation(n)
        return _pair(np.array_split(perm, k)[fold], n)

    return split


def stratified_kfold_splitter(
    labels: Sequence, k: int = 5, fold: int = 0, seed: int = 42
) -> Splitter:
    """K folds with each class spread evenly: shuffle each class, deal its rows round-robin.

    Continuing the deal from class to class (not restarting at fold 0) keeps fold sizes
    within one row of each other, as sklearn's StratifiedKFold does.
    """
    _check_fold(k, fold)
    labels = np.asarray(labels)

    def split(items: Sequence) -> Split:
        if len(labels) != len(items):
            raise DlfError(f"{len(labels)} labels for {len(items)} items")
        rng = np.random.default_rng(seed)
        fold_of = np.empty(len(labels), dtype=np.int64)
        start = 0
        for cls in np.unique(labels):
            rows = rng.permutation(np.flatnonzero(labels == cls))
            fold_of[rows] = (start + np.arange(len(rows))) % k
            start = (start + len(rows)) % k
        return _pair(np.flatnonzero(fold_of == fold), len(labels))

    return split


def group_kfold_splitter(groups: Sequence, k: int = 5, fold: int = 0, seed: int = 42) -> Splitter:
    """K folds where all rows of a group (a patient, a video) share one fold.

    Groups are shuffled (seeded) and then placed largest first into the currently smallest
    fold, sklearn GroupKFold's greedy balancing with a seeded tie order.
    """
    _check_fold(k, fold)
    groups = np.asarray(groups)

    def split(items: Sequence) -> Split:
        if len(groups) != len(items):
            raise DlfError(f"{len(groups)} group ids for {len(items)} items")
        uniq, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
        if len(uniq) < k:
            raise DlfError(f"group K-fold needs at least k={k} groups, found {len(uniq)}")
        order = np.random.default_rng(seed).permutation(len(uniq))
        order = order[np.argsort(-counts[order], kind="stable")]
        sizes, fold_of_group = np.zeros(k, dtype=np.int64), np.empty(len(uniq), dtype=np.int64)
        for g in order:
            f = int(np.argmin(sizes))
            fold_of_group[g], sizes[f] = f, sizes[f] + counts[g]
        return _pair(np.flatnonzero(fold_of_group[inverse] == fold), len(groups))

    return split


def _check_fold(k: int, fold: int) -> None:
    if k < 2 or not 0 <= fold < k:
        raise DlfError(f"need k >= 2 and 0 <= fold < k, got k={k}, fold={fold}")
