"""Non-maximum suppression and weighted box fusion, in plain PyTorch (no compiled ops).

Greedy NMS: visit boxes from the highest score down; keep a box unless a box already kept
overlaps it with IoU > `iou_threshold`. Written as a loop, that is one step per box. Here it is
a fixed point instead: with boxes sorted by score and `over[i, j]` = "j scores higher than i
and overlaps it too much", box i is kept exactly when no kept j has over[i, j]:

    keep = not any_j (over[i, j] and keep[j])

Box i's answer depends only on the boxes before it, so this equation has one solution (the
greedy one), and iterating `keep <- not (over @ keep)` from "keep all" fixes one more box per
step at least; we stop at the first step that changes nothing, which IS that solution. Real
detections settle in a handful of steps (a chain of boxes each suppressing the next, which
needs one step per link, is the worst case), each step one K x K matrix-vector product, so
NMS of a thousand boxes is a few tensor ops instead of a thousand small ones.

Per class (`batched_nms`): classes never suppress each other, so each class is its own
problem. The boxes are laid out as a grid, one row per class (padded with empty boxes, which
overlap nothing), and the fixed point runs on all rows at once (a batched matrix product):
the work is classes x (largest class)^2 instead of K^2, far less when the boxes spread over
many classes. The usual alternative, shifting each class's boxes by label x (max coordinate
+ 1) into disjoint regions and running one NMS, does the full K^2 work, and in float32 an
offset of 500 classes x 10^4 px leaves about 0.5 px of precision, enough to move an IoU
across the threshold.

Memory is K x K for K boxes of one class: cap K with a pre-NMS top-k (decode does).
"""

import torch

from dlf.models.detection.boxes import _pairwise_intersection, box_area, box_iou


def _greedy_keep(over: torch.Tensor) -> torch.Tensor:
    """The greedy-NMS keep mask for boxes in score order, given over[..., i, j] (only j < i
    counts); leading dimensions are independent problems (one per class)."""
    k = over.shape[-1]
    over = torch.tril(over, diagonal=-1).to(torch.float32)
    keep = torch.ones(over.shape[:-1], dtype=torch.bool, device=over.device)
    for _ in range(k):  # converges in far fewer steps; k is the proven bound
        new = (over @ keep.to(torch.float32)[..., None])[..., 0] == 0
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def _too_close(boxes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """IoU > threshold for every pair, (..., K, 4) -> (..., K, K), as inter > thr * union:
    no division, and a pair of empty boxes (union 0) is never too close."""
    inter = _pairwise_intersection(boxes, boxes)
    area = box_area(boxes)
    union = area[..., :, None] + area[..., None, :] - inter
    return inter > iou_threshold * union


def _by_class(labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int, int]:
    """For labels in score order: each box's (class row, rank within its class), the number
    of classes and the largest class, to lay the boxes out as a (classes x largest) grid."""
    _, row, counts = torch.unique(labels, return_inverse=True, return_counts=True)
    grouped = torch.sort(row, stable=True).indices  # by class, score order kept within
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.empty_like(row)
    rank[grouped] = torch.arange(len(row), device=row.device) - starts[row[grouped]]
    return row, rank, len(counts), int(counts.max())


def _nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor | None, iou_threshold: float
) -> torch.Tensor:
    if boxes.shape[0] == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices  # ties: lower index first
    b = boxes[order].float()
    if labels is None:
        return order[_greedy_keep(_too_close(b, iou_threshold))]
    # One problem per class, side by side: a (classes x largest class x 4) grid padded with
    # empty boxes, so the work is classes x largest^2, not K^2.
    row, rank, n_classes, largest = _by_class(labels[order])
    grid = b.new_zeros(n_classes, largest, 4)
    grid[row, rank] = b
    keep = _greedy_keep(_too_close(grid, iou_threshold))[row, rank]
    return order[keep]


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Indices of the boxes (K x 4) greedy NMS keeps, highest score first (torchvision's
    `nms` contract: a box is dropped when a kept higher-scoring one has IoU > iou_threshold;
    equal scores are visited in index order)."""
    return _nms(boxes, scores, None, iou_threshold)


def batched_nms(
    boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_threshold: float
) -> torch.Tensor:
    """NMS within each label: boxes of different labels never suppress each other. Indices of
    the kept boxes, highest score first (torchvision's `batched_nms` contract)."""
    return _nms(boxes, scores, labels, iou_threshold)


def weighted_box_fusion(
    boxes: list[torch.Tensor],
    scores: list[torch.Tensor],
    labels: list[torch.Tensor],
    iou_threshold: float = 0.55,
    skip_box_threshold: float = 0.0,
    weights: list[float] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Weighted box fusion (Solovyev, Wang & Gabruseva 2019, arXiv:1910.13302): merge the
    detections of several models or TTA views of ONE image into averaged boxes.

    Unlike NMS, which keeps one box of each overlapping group and discards the rest, WBF
    averages them, so agreeing views sharpen the box. Per label, every box (score times its
    view's weight, those under `skip_box_threshold` dropped) is visited from the highest score
    down and joins the cluster whose fused box it overlaps most with IoU > `iou_threshold`,
    else starts a new cluster. A cluster's fused box is the score-weighted mean of its boxes,
    its score the mean score, rescaled at the end by min(T, V) / W (T boxes in the cluster,
    V views, W the sum of their weights; the paper's min(T, V) / V for equal weights, the
    rule of its authors' `ensemble_boxes` otherwise) so that a box few views saw scores lower.
    Boxes of score 0 carry no weight and are dropped.

    boxes[v] (K_v x 4), scores[v] (K_v), labels[v] (K_v) for view v. Returns (boxes, scores,
    labels) of the fused detections, highest score first.
    """
    if not len(boxes) == len(scores) == len(labels):
        raise ValueError("weighted_box_fusion: boxes, scores and labels need one entry per view")
    weights = [1.0] * len(boxes) if weights is None else list(weights)
    if len(weights) != len(boxes):
        raise ValueError(f"weighted_box_fusion: {len(weights)} weights for {len(boxes)} views")
    device = boxes[0].device if boxes else torch.device("cpu")
    empty = (
        torch.zeros(0, 4, device=device),
        torch.zeros(0, device=device),
        torch.zeros(0, dtype=torch.long, device=device),
    )
    if not boxes:
        return empty
    all_boxes = torch.cat([b.float().reshape(-1, 4) for b in boxes])
    all_scores = torch.cat([s.float() * w for s, w in zip(scores, weights)])
    all_labels = torch.cat([lab.long() for lab in labels])
    keep = (all_scores >= skip_box_threshold) & (all_scores > 0)
    all_boxes, all_scores, all_labels = all_boxes[keep], all_scores[keep], all_labels[keep]
    if all_boxes.shape[0] == 0:
        return empty
    total_weight, n_views = sum(weights), len(boxes)

    out_boxes, out_scores, out_labels = [], [], []
    for label in all_labels.unique().tolist():
        mine = all_labels == label
        b, s = all_boxes[mine], all_scores[mine]
        order = torch.sort(s, descending=True, stable=True).indices
        b, s = b[order], s[order]
        # Clusters as running sums: sum of score * box, sum of scores, count.
        weighted_sum = torch.zeros(0, 4, device=device)
        score_sum = torch.zeros(0, device=device)
        count = torch.zeros(0, device=device)
        for box, score in zip(b, s):  # inherently sequential: each box sees the clusters so far
            ious = box_iou(box[None], weighted_sum / score_sum[:, None])[0]
            best = int(ious.argmax()) if len(count) else -1
            if best >= 0 and ious[best] > iou_threshold:
                weighted_sum[best] += score * box
                score_sum[best] += score
                count[best] += 1
            else:
                weighted_sum = torch.cat([weighted_sum, (score * box)[None]])
                score_sum = torch.cat([score_sum, score[None]])
                count = torch.cat([count, torch.ones(1, device=device)])
        out_boxes.append(weighted_sum / score_sum[:, None])
        out_scores.append(score_sum / count * count.clamp(max=n_views) / total_weight)
        out_labels.append(torch.full((len(count),), label, dtype=torch.long, device=device))
    fused_boxes, fused_scores = torch.cat(out_boxes), torch.cat(out_scores)
    fused_labels = torch.cat(out_labels)
    order = torch.sort(fused_scores, descending=True, stable=True).indices
    return fused_boxes[order], fused_scores[order], fused_labels[order]


__all__ = ["batched_nms", "nms", "weighted_box_fusion"]
