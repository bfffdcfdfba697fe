"""Box arithmetic for detection. Boxes are x1 y1 x2 y2 in pixels, x1 <= x2 and y1 <= y2.

Pairwise functions take a (M x 4) and b (N x 4) and return M x N; the `*_loss` helper and
the encodings work elementwise on matching leading shapes (..., 4). A box of zero area has
IoU 0 with everything (never 0/0 = NaN), so padded or degenerate boxes are harmless.
"""

import torch


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Area of each box (..., 4) -> (...); inverted boxes count as 0."""
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(
        min=0
    )


def _pairwise_intersection(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(..., M, 4) and (..., N, 4) -> (..., M, N): leading dims batch (NMS uses one per class)."""
    # One coordinate at a time (M x 1 against 1 x N): measured about 1.5x faster on the CPU
    # than broadcasting the (M, 1, 2) and (1, N, 2) corner pairs.
    ax1, ay1, ax2, ay2 = a[..., :, None, :].unbind(-1)
    bx1, by1, bx2, by2 = b[..., None, :, :].unbind(-1)
    w = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
    h = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
    return w * h


def _safe_div(num: torch.Tensor, den: torch.Tensor) -> torch.Tensor:
    """num / den, and 0 where den is 0 (an empty box overlaps nothing)."""
    return torch.where(den > 0, num / den.clamp(min=torch.finfo(den.dtype).tiny), 0.0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box in a (M x 4) with every box in b (N x 4): M x N."""
    inter = _pairwise_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return _safe_div(inter, union)


def box_ioa(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over the area of the FIRST box, M x N: how much of each a lies inside each b
    (Open Images: a detection a absorbed by a group-of box b when IoA >= 0.5)."""
    return _safe_div(_pairwise_intersection(a, b), box_area(a)[:, None])


def _enclosing_area(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Area of the smallest box enclosing a and b (shapes broadcast)."""
    top_left = torch.minimum(a[..., :2], b[..., :2])
    bottom_right = torch.maximum(a[..., 2:], b[..., 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    return wh[..., 0] * wh[..., 1]


def generalized_box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """GIoU (Rezatofighi et al. 2019), M x N: IoU - (C - union) / C with C the enclosing box's
    area. In [-1, 1]; unlike IoU it still says how far apart two disjoint boxes are."""
    inter = _pairwise_intersection(a, b)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    enclosing = _enclosing_area(a[:, None], b[None, :])
    return _safe_div(inter, union) - _safe_div(enclosing - union, enclosing)


def giou_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """1 - GIoU of matching boxes (..., 4) -> (...), no reduction: the box-regression loss.

    Elementwise (box i of pred with box i of target), in float32 whatever the input dtype;
    `eps` keeps the gradient finite for zero-area boxes."""
    pred, target = pred.float(), target.float()
    top_left = torch.maximum(pred[..., :2], target[..., :2])
    bottom_right = torch.minimum(pred[..., 2:], target[..., 2:])
    wh = (bottom_right - top_left).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(pred) + box_area(target) - inter + eps
    enclosing = _enclosing_area(pred, target) + eps
    return 1 - (inter / union - (enclosing - union) / enclosing)


def ltrb_encode(points: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """FCOS's box encoding: distances (left, top, right, bottom) from each point (..., 2: x y)
    to the sides of its box (..., 4). All four are > 0 exactly when the point is inside."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack(
        [x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y], -1
    )


def ltrb_decode(points: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """The inverse of `ltrb_encode`: a box x1 y1 x2 y2 from a point and its four distances."""
    x, y = points[..., 0], points[..., 1]
    return torch.stack([x - ltrb[..., 0], y - ltrb[..., 1], x + ltrb[..., 2], y + ltrb[..., 3]], -1)


def clip_boxes(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Boxes clipped to an image of `size` = (height, width)."""
    h, w = size
    x = boxes[..., 0::2].clamp(0, w)
    y = boxes[..., 1::2].clamp(0, h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1)


__all__ = [
    "box_area",
    "box_ioa",
    "box_iou",
    "clip_boxes",
    "generalized_box_iou",
    "giou_loss",
    "ltrb_decode",
    "ltrb_encode",
]
