"""From the detector's outputs to the challenge's detections.

Per batch, as padded tensors (so TTA can merge passes): the decoded boxes of each pass,
mapped back onto the image, concatenated and suppressed again (`merge_passes`). Per image, as
numpy rows `x1 y1 x2 y2 score label` with coordinates normalised to [0, 1] (`to_rows`).

The hierarchy on the prediction side (`expand_to_ancestors`): the metric expands the ground
truth to every ancestor class (a Cat box is also an Animal box) but not the predictions, so
a detector that only says "Cat" scores zero on "Animal". Each detection is therefore copied to
its ancestors with the same confidence (the evidence for "Animal" is the evidence for "Cat"),
and the copies are suppressed per class like any detections: a Cat and a Dog on one object
must not become two Animals.
"""

import numpy as np
import torch

from dlf.models.detection import batched_nms

PAD = -1.0  # the score of a padding row


def pad_detections(dets: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """[(boxes K x 4, scores K, labels K)] per image -> N x Kmax x 6 (x1 y1 x2 y2 score label),
    padding rows scored PAD."""
    k = max(1, max(len(s) for _, s, _ in dets))
    out = torch.full((len(dets), k, 6), PAD)
    for i, (boxes, scores, labels) in enumerate(dets):
        n = len(scores)
        out[i, :n] = torch.cat([boxes.float(), scores.float()[:, None], labels.float()[:, None]], 1)
    return out


def suppress(rows: torch.Tensor, iou: float, top_k: int) -> torch.Tensor:
    """One image's rows (K x 6, padding included) -> the rows per-class NMS keeps, best first,
    at most top_k."""
    rows = rows[rows[:, 4] > PAD]
    keep = batched_nms(rows[:, :4], rows[:, 4], rows[:, 5].long(), iou)[:top_k]
    return rows[keep]


def merge_passes(outs: list[torch.Tensor], iou: float, top_k: int) -> torch.Tensor:
    """TTA passes (each N x K x 6, already mapped back) -> N x K' x 6: per image the passes'
    detections together, suppressed per class."""
    both = torch.cat(outs, 1)
    kept = [suppress(rows, iou, top_k) for rows in both]
    return pad_detections([(r[:, :4], r[:, 4], r[:, 5]) for r in kept])


def to_rows(padded: torch.Tensor, h: int, w: int) -> list[np.ndarray]:
    """N x K x 6 in pixels of the h x w input -> per image an array of rows
    x1 y1 x2 y2 score label, coordinates normalised to [0, 1] and clipped (the cache
    stretched each image to h x w, so normalised coordinates carry over unchanged)."""
    scale = torch.tensor([w, h, w, h], dtype=torch.float32)
    result = []
    for rows in padded.float().cpu():
        rows = rows[rows[:, 4] > PAD].clone()
        rows[:, :4] = (rows[:, :4] / scale).clamp(0, 1)
        result.append(rows.numpy().astype(np.float64))
    return result


def expand_to_ancestors(rows: np.ndarray, ancestors: list[list[int]], iou: float) -> np.ndarray:
    """One image's rows -> the rows plus a copy of each for every ancestor class of its label
    (same box, same score), suppressed per class; best first."""
    if not len(rows):
        return rows
    copies = [rows]
    for label in np.unique(rows[:, 5]).astype(int):
        for parent in ancestors[label]:
            c = rows[rows[:, 5] == label].copy()
            c[:, 5] = parent
            copies.append(c)
    out = torch.from_numpy(np.concatenate(copies))
    keep = batched_nms(out[:, :4], out[:, 4], out[:, 5].long(), iou)
    return out[keep].numpy()


__all__ = ["PAD", "expand_to_ancestors", "merge_passes", "pad_detections", "suppress", "to_rows"]
