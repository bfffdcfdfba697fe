"""From site predictions to one siRNA per well: average the two sites, then use the plate
layout.

The plate layout (what the 2019 winners exploited): within one experiment and plate each
siRNA appears once, so the wells of a plate are a matching between wells and siRNAs. The
best matching (the largest sum of log-probabilities) is a linear assignment problem, solved
exactly by scipy's `linear_sum_assignment`. Further, the siRNAs of a plate are always one of
a few groups (the same four sets on every experiment's plates, rotated between plates); a
plate's group is the one whose best matching scores highest, and the assignment is then
restricted to it. Both rely on the competition's design, not on anything in the images.
"""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


def well_mean(probs: torch.Tensor, well_of: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
    """The wells (sorted) and the mean of their sites' probabilities, wells x classes."""
    wells, inverse = np.unique(np.asarray(well_of), return_inverse=True)
    index = torch.as_tensor(inverse, device=probs.device)
    total = torch.zeros(len(wells), probs.shape[1], dtype=probs.dtype, device=probs.device)
    total.index_add_(0, index, probs)
    counts = torch.bincount(index, minlength=len(wells)).to(probs.dtype)
    return wells, total / counts[:, None]


def assign_plate(log_probs: np.ndarray, columns: np.ndarray) -> tuple[np.ndarray, float]:
    """The siRNA of each well (rows) when every siRNA in `columns` is used at most once, and
    the matching's total log-probability. Wells left over (more wells than siRNAs) keep their
    best siRNA."""
    sub = log_probs[:, columns]
    rows, cols = linear_sum_assignment(-sub)
    pred = columns[sub.argmax(1)]
    pred[rows] = columns[cols]
    return pred, float(sub[rows, cols].sum())


def plate_assignment(
    probs: np.ndarray, plate_of: np.ndarray, groups: list[list[int]] | None = None
) -> np.ndarray:
    """One siRNA per well (wells x siRNAs probabilities), each siRNA at most once per plate;
    with `groups`, a plate's siRNAs are restricted to the group that fits it best."""
    log_probs = np.log(np.clip(probs, 1e-12, None))
    pred = np.empty(len(probs), dtype=np.int64)
    everything = [np.arange(probs.shape[1])]
    candidates = [np.asarray(g) for g in groups] if groups else everything
    for plate in np.unique(plate_of):
        rows = np.flatnonzero(plate_of == plate)
        best = max((assign_plate(log_probs[rows], c) for c in candidates), key=lambda r: r[1])
        pred[rows] = best[0]
    return pred


def plate_groups(sirnas: np.ndarray, plate_of: np.ndarray) -> list[list[int]]:
    """The distinct sets of siRNAs found on the plates (treatment wells only), sorted."""
    sets = {tuple(sorted(set(sirnas[plate_of == p].tolist()))) for p in np.unique(plate_of)}
    return [list(s) for s in sorted(sets)]


__all__ = ["assign_plate", "plate_assignment", "plate_groups", "well_mean"]
