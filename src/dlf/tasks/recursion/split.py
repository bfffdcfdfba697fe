"""Validation split by experiment: a held-out experiment is what the test set is (new
experiments, a batch effect never seen in training), so validation must be one too.

Each cell type's experiments are shuffled (seeded) and dealt to the folds in turn, so every
fold holds experiments of every cell type when there are enough. A split by well instead puts
wells of the same experiments, plates and batch effect on both sides, and flatters the
model (docs/tasks/recursion.md measures by how much).
"""

from collections.abc import Sequence

import numpy as np

from dlf.core import DlfError


def experiment_folds(
    experiments: Sequence[str], k: int = 3, fold: int = 0, seed: int = 42
) -> tuple[np.ndarray, np.ndarray]:
    """(train rows, valid rows): the rows of fold `fold`'s experiments are the validation."""
    if k < 2 or not 0 <= fold < k:
        raise DlfError(f"folds={k}, fold={fold}: need folds >= 2 and 0 <= fold < folds")
    experiments = np.asarray(experiments)
    names = sorted(set(experiments.tolist()))
    if len(names) < k:
        raise DlfError(
            f"{len(names)} experiments for {k} folds; use --option folds={len(names)} or fewer"
        )
    rng = np.random.default_rng(seed)
    fold_of, turn = {}, 0
    for cell in sorted({n.split("-")[0] for n in names}):
        for name in rng.permutation([n for n in names if n.split("-")[0] == cell]).tolist():
            fold_of[name], turn = turn % k, turn + 1
    valid = np.array([fold_of[e] == fold for e in experiments.tolist()])
    return np.flatnonzero(~valid), np.flatnonzero(valid)


def well_split(
    well_of: np.ndarray, valid_share: float = 0.25, seed: int = 42, by_site: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """The leaky splits, for comparison only: random wells (both sites of a well together),
    or with `by_site` random sites (a well's other site may be in training)."""
    if by_site:
        well_of = np.arange(len(well_of))
    wells = np.unique(well_of)
    chosen = np.random.default_rng(seed).permutation(wells)[: round(valid_share * len(wells))]
    valid = np.isin(well_of, chosen)
    return np.flatnonzero(~valid), np.flatnonzero(valid)


__all__ = ["experiment_folds", "well_split"]
