"""The VRD model's triplet rows after the forward pass: TTA passes merged, padding
dropped, boxes normalised, and rows turned into the metric's `Triplets` table.

A row is 12 numbers: score, label1, label2, relationship, box1 (x1 y1 x2 y2), box2, with
labels indexing `labels` (the box classes, then the attributes); padding rows score -1.
"""

import numpy as np
import torch

from dlf.models.detection import batched_nms
from dlf.tasks.vrd.files import RELATIONSHIPS, Triplets
from dlf.tasks.vrd.model import PAD
from dlf.tasks.vrd.pairhead import union_boxes


def merge_triplet_passes(passes: list[torch.Tensor], iou: float, keep: int) -> torch.Tensor:
    """TTA passes (each N x T x 12, mapped back to the image) -> N x keep x 12: per image
    the passes' rows together, and NMS on the phrase box (the box enclosing both) among
    rows with the same labels and relationship, so a triplet found by two passes is
    written once, with its best score."""
    both = torch.cat(passes, 1)
    out = both.new_full((len(both), keep, 12), PAD)
    for k, rows in enumerate(both):
        rows = rows[rows[:, 0] > PAD]
        key = (rows[:, 1] * 10_000 + rows[:, 2]) * 100 + rows[
            :, 3
        ]  # labels < 10^4, relations < 100
        kept = rows[
            batched_nms(union_boxes(rows[:, 4:8], rows[:, 8:12]), rows[:, 0], key.long(), iou)[
                :keep
            ]
        ]
        out[k, : len(kept)] = kept
    return out


def to_rows(padded: torch.Tensor, size: int) -> list[np.ndarray]:
    """N x T x 12 rows in pixels of a size x size input -> per image its real rows, boxes
    normalised to [0, 1] (the cache stretched each image to size x size)."""
    result = []
    for rows in padded.float().cpu():
        rows = rows[rows[:, 0] > PAD].clone()
        rows[:, 4:12] = (rows[:, 4:12] / size).clamp(0, 1)
        result.append(rows.numpy().astype(np.float64))
    return result


def rows_to_triplets(rows: list[np.ndarray], ids: list[str], labels: list[str]) -> Triplets:
    """Per-image normalised rows -> the metric's table (every id listed, rows or not)."""
    image = [i for i, r in zip(ids, rows) for _ in range(len(r))]
    flat = np.concatenate([r.reshape(-1, 12) for r in rows]) if rows else np.zeros((0, 12))
    names = np.asarray(labels)
    return Triplets.build(
        image, names[flat[:, 1].astype(int)].tolist(), names[flat[:, 2].astype(int)].tolist(),
        [RELATIONSHIPS[int(r)] for r in flat[:, 3]], flat[:, 4:8], flat[:, 8:12],
        confidence=flat[:, 0], all_images=ids,
    )  # fmt: skip


__all__ = ["merge_triplet_passes", "rows_to_triplets", "to_rows"]
