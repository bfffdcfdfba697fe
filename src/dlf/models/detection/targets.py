"""FCOS target assignment: which box (if any) each location must predict.

A location (point) is positive for a box when
  1. it lies inside the box (all four ltrb distances > 0), and, with centre sampling, within
     `center_radius` strides of the box's centre (FCOS's later versions: the border of a box
     is often background, so only its middle is asked to fire);
  2. the box's largest distance from it falls in its level's size range, so each level
     predicts objects of its own scale: a level of stride s takes (4s, 8s] (64..128 px for
     stride 16, as in the paper); the finest level also takes everything smaller and the
     coarsest everything larger.
When several boxes qualify, the smallest (by area) wins: the large one has other points.
"""

import torch

from dlf.models.detection.boxes import box_area, ltrb_encode


def centerness_target(ltrb: torch.Tensor) -> torch.Tensor:
    """sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b)): 1 at a box's centre, 0 at its edge."""
    lr, tb = ltrb[..., 0::2], ltrb[..., 1::2]
    ratio = (lr.amin(-1) / lr.amax(-1).clamp(min=1e-6)) * (
        tb.amin(-1) / tb.amax(-1).clamp(min=1e-6)
    )
    return ratio.clamp(min=0).sqrt()


def size_ranges(strides: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(lo, hi) per point: (4s, 8s], opened to 0 on the finest level and to inf on the coarsest."""
    lo = torch.where(strides == strides.min(), 0.0, 4 * strides)
    hi = torch.where(strides == strides.max(), float("inf"), 8 * strides)
    return lo, hi


@torch.no_grad()
def fcos_targets(
    points: torch.Tensor,
    strides: torch.Tensor,
    boxes: torch.Tensor,
    labels: torch.Tensor,
    center_radius: float | None = 1.5,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Targets of each image's points: (cls N x P long, -1 for background; ltrb N x P x 4,
    pixels, 0 for background; centerness N x P, 0 for background).

    points P x 2 (x y) and strides P as the detector gives them; boxes N x M x 4 (x1 y1 x2 y2
    pixels) and labels N x M, where label -1 marks padding or a box dropped by augmentation.
    """
    n, p = boxes.shape[0], points.shape[0]
    if boxes.shape[1] == 0:  # no box in the whole batch: everything is background
        return (
            torch.full((n, p), -1, dtype=torch.long, device=points.device),
            torch.zeros(n, p, 4, device=points.device),
            torch.zeros(n, p, device=points.device),
        )
    boxes = boxes.float()
    ltrb = ltrb_encode(points[None, :, None, :], boxes[:, None, :, :])  # N x P x M x 4
    inside = ltrb.amin(-1) > 0
    if center_radius:
        centre = (boxes[..., :2] + boxes[..., 2:]) / 2  # N x M x 2
        radius = (center_radius * strides)[None, :, None, None]  # per point, both axes
        inner = torch.cat(
            [
                torch.maximum(boxes[:, None, :, :2], centre[:, None] - radius),
                torch.minimum(boxes[:, None, :, 2:], centre[:, None] + radius),
            ],
            -1,
        )
        inside &= ltrb_encode(points[None, :, None, :], inner).amin(-1) > 0
    lo, hi = size_ranges(strides)
    reach = ltrb.amax(-1)
    fits_level = (reach > lo[None, :, None]) & (reach <= hi[None, :, None])
    candidate = inside & fits_level & (labels >= 0)[:, None, :]

    area = box_area(boxes)[:, None, :].expand(n, p, -1)
    cost = torch.where(candidate, area, float("inf"))
    best_cost, best = cost.min(-1)  # N x P: the smallest qualifying box
    positive = best_cost.isfinite()

    cls = torch.where(positive, labels.long().gather(1, best), -1)
    ltrb = ltrb.gather(2, best[..., None, None].expand(n, p, 1, 4)).squeeze(2)
    ltrb = ltrb * positive[..., None]
    centerness = torch.where(positive, centerness_target(ltrb), 0.0)
    return cls, ltrb, centerness


__all__ = ["centerness_target", "fcos_targets", "size_ranges"]
