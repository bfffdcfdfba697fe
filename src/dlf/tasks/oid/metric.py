"""The Open Images Challenge 2019 detection metric, as the official evaluator computes it.

The official code is tensorflow/models, `object_detection/metrics/oid_challenge_evaluation.py`
with `OpenImagesDetectionChallengeEvaluator` and `per_image_evaluation.py`; this is a
vectorised rewrite of the same rules (all of them checked by hand-worked tests, and the
whole against a loop-per-image-and-class reference in tests/tasks/oid/reference.py):

1. Ground truth is expanded up the hierarchy (`Hierarchy`): boxes and positive image
   labels to every ancestor, negative labels to every descendant. Predictions are not.
2. A class is evaluated on an image only if it is verified there: an image-level label
   (either confidence) or a box. Detections of other classes, and on images absent from
   the truth, are dropped. So are boxes with xmin >= xmax or ymin >= ymax, and scores
   <= -10 (the evaluator's NMS score floor).
3. Per image and class the detections are ordered like the official `sort_by_field`
   (`np.argsort(scores)[::-1]`: among tied scores the later one first, and numpy's own
   order where the sort is not stable) and capped at 10,000 (NMS with IoU 1.0 suppresses
   nothing).
4. In that order each detection takes the non-group-of box of highest IoU (the first such
   box on a tie) if IoU >= 0.5 and that box is still free: a true positive; if the box is
   taken, it is a false positive and tries no other box.
5. A detection that is not a true positive and whose best group-of box covers at least
   half of the *detection's* area (IoA = intersection / detection area) >= 0.5 is
   absorbed: dropped from the list. Each group-of box then adds one true positive scored
   with the highest score among its detections, if that score is > 0; a group-of box
   counts 1 in the class's ground-truth total either way (group_of_weight 1).
6. Per class, all entries (images in ImageId order; within an image the kept detections,
   then the group-of entries) are ranked by `np.argsort(scores)[::-1]`; precision and
   recall; VOC-2010 AP (precision made monotone, summed where recall changes). Areas have
   no +1: coordinates are fractions.
7. mAP is the mean over classes with at least one ground-truth box (np.nanmean).
"""

import os
from dataclasses import dataclass

import numpy as np

from dlf.core.errors import DlfError
from dlf.tasks.oid.files import (
    Boxes,
    Detections,
    ImageLabels,
    read_boxes,
    read_classes,
    read_hierarchy,
    read_image_labels,
    read_submission,
)
from dlf.tasks.oid.hierarchy import Hierarchy

__all__ = [
    "IOU_THRESHOLD",
    "MAX_PER_CLASS",
    "SCORE_FLOOR",
    "OidResult",
    "evaluate_oid",
    "oid_map",
    "voc_ap",
]

IOU_THRESHOLD = 0.5  # both for IoU to ordinary boxes and IoA to group-of boxes
MAX_PER_CLASS = 10_000  # the evaluator's NMS keeps at most this many per image and class
SCORE_FLOOR = -10.0  # ... and only scores strictly above this


@dataclass(frozen=True)
class OidResult:
    """`map`: the metric; `ap`: AP per class (NaN where the class has no ground truth);
    `n_gt`: ground-truth boxes per class after expansion (a group-of box counts 1)."""

    map: float
    ap: np.ndarray
    n_gt: np.ndarray


def evaluate_oid(
    pred: str | os.PathLike,
    truth_boxes: str | os.PathLike,
    truth_labels: str | os.PathLike,
    hierarchy: str | os.PathLike | None,
    classes: str | os.PathLike,
) -> OidResult:
    """Score a submission file against the challenge's files (hierarchy None: no expansion,
    e.g. for truth files that were expanded already)."""
    names = list(read_classes(classes))
    tree = read_hierarchy(hierarchy, names) if hierarchy is not None else None
    boxes = read_boxes(truth_boxes, names)
    labels = read_image_labels(truth_labels, names)
    dets = read_submission(pred, names)
    truth_ids = set(boxes.image_ids.tolist()) | set(labels.image_ids.tolist())
    if len(dets.image_ids) and truth_ids.isdisjoint(dets.image_ids.tolist()):
        raise DlfError(
            f"{pred}: none of the {len(dets.image_ids)} images is in {truth_boxes} or "
            f"{truth_labels}; score a submission against the truth of the same images"
        )
    return oid_map(boxes, labels, dets, tree, len(names))


def oid_map(
    truth_boxes: Boxes,
    truth_labels: ImageLabels,
    detections: Detections,
    hierarchy: Hierarchy | None,
    n_classes: int,
) -> OidResult:
    """The challenge mAP of `detections` (see the module docstring for the rules)."""
    tree = hierarchy if hierarchy is not None else Hierarchy.flat(n_classes)
    C = n_classes

    # 1. expand the truth; number every image by its place in sorted ImageId order
    box_rows, box_cls = tree.expand_boxes(truth_boxes.labels)
    lab_rows, lab_cls = tree.expand_labels(truth_labels.labels, truth_labels.confidence)
    box_ids, lab_ids = truth_boxes.image_ids.tolist(), truth_labels.image_ids.tolist()
    truth_ids = set(box_ids) | set(lab_ids)
    rank = {name: i for i, name in enumerate(sorted(truth_ids))}
    box_img = np.array([rank[x] for x in box_ids], dtype=np.int64)[box_rows]
    lab_img = np.array([rank[x] for x in lab_ids], dtype=np.int64)[lab_rows]
    gt_key = box_img * C + box_cls
    gt_box = truth_boxes.boxes[box_rows]
    gt_group = truth_boxes.group_of[box_rows] != 0  # -1 reads as group-of, as officially
    n_gt = np.bincount(box_cls, minlength=C).astype(float)
    evaluatable = np.sort(np.concatenate([gt_key, lab_img * C + lab_cls]))

    # 2. keep the detections that count. Images absent from the truth get rank -1 and
    # no evaluatable class; predicted images are visited in sorted ImageId order, which
    # is the sorted order of the ranks of the images that are kept.
    det_rank = np.array([rank.get(x, -1) for x in detections.image_ids.tolist()], dtype=np.int64)
    img = det_rank[detections.image]
    key = img * C + detections.labels
    box, score = detections.boxes, detections.scores
    keep = (
        (img >= 0)
        & _contains(evaluatable, key)
        & (box[:, 0] < box[:, 2])
        & (box[:, 1] < box[:, 3])
        & (score > SCORE_FLOOR)
    )
    key, box, score = key[keep], box[keep], score[keep]

    # 3. per (image, class) in the official order, capped
    order = _official_order(key, score)
    key, box, score = key[order], box[order], score[order]
    first = np.searchsorted(key, key, side="left")
    capped = np.arange(len(key)) - first < MAX_PER_CLASS
    key, box, score = key[capped], box[capped], score[capped]

    # 4. + 5. matching; the truth sorted by (image, class), file order within
    gt_order = np.argsort(gt_key, kind="stable")
    gt_key, gt_box, gt_group = gt_key[gt_order], gt_box[gt_order], gt_group[gt_order]
    ordinary, grouped = np.flatnonzero(~gt_group), np.flatnonzero(gt_group)
    tp = _match_iou(key, box, gt_key[ordinary], gt_box[ordinary])
    absorbed, group_score = _match_ioa(key, box, score, ~tp, gt_key[grouped], gt_box[grouped])

    # 6. entries per class: kept detections, then group-of true positives, image by image
    kept = ~absorbed
    hit = group_score > 0
    e_key = np.concatenate([key[kept], gt_key[grouped][hit]])
    e_part = np.concatenate([np.zeros(kept.sum(), np.int8), np.ones(hit.sum(), np.int8)])
    e_pos = np.concatenate([np.flatnonzero(kept), np.flatnonzero(hit)])
    e_score = np.concatenate([score[kept], group_score[hit]])
    e_tp = np.concatenate([tp[kept].astype(float), np.ones(hit.sum())])
    e_class, e_img = e_key % C, e_key // C
    entry_order = np.lexsort((e_pos, e_part, e_img, e_class))
    e_class, e_score, e_tp = e_class[entry_order], e_score[entry_order], e_tp[entry_order]
    bounds = np.searchsorted(e_class, np.arange(C + 1))

    ap = np.full(C, np.nan)
    for c in np.flatnonzero(n_gt > 0):
        lo, hi = bounds[c], bounds[c + 1]
        ap[c] = _class_ap(e_score[lo:hi], e_tp[lo:hi], n_gt[c])
    mean = float(np.nanmean(ap)) if np.isfinite(ap).any() else float("nan")
    return OidResult(map=mean, ap=ap, n_gt=n_gt)


def voc_ap(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC-2010 average precision: precision made non-increasing from the right, summed
    over the points where recall changes (the official `compute_average_precision`)."""
    if not precision.size:
        return 0.0
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.concatenate([[0.0], precision, [0.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _class_ap(scores: np.ndarray, tp: np.ndarray, n_gt: float) -> float:
    """The official `compute_precision_recall` + `compute_average_precision`."""
    ranked = tp[np.argsort(scores)[::-1]]
    cum_tp = np.cumsum(ranked)
    cum_fp = np.cumsum((ranked <= 0).astype(float))
    precision = cum_tp / (cum_tp + cum_fp)
    recall = cum_tp / n_gt
    return voc_ap(precision, recall)


def _official_order(key: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Indices sorted by key, and within a key as `np.argsort(score_of_key)[::-1]` orders
    that key's detections (taken in their submission order). Without ties that is simply
    descending score; numpy's argsort need not be stable, so every key with tied scores is
    redone with np.argsort itself (rare with real scores, cheap either way)."""
    order = np.lexsort((-score, key))
    k, s = key[order], score[order]
    tied = np.flatnonzero((k[1:] == k[:-1]) & (s[1:] == s[:-1]))
    if len(tied):
        starts = np.searchsorted(k, np.unique(k[tied]), side="left")
        ends = np.searchsorted(k, k[starts], side="right")
        for lo, hi in zip(starts.tolist(), ends.tolist()):
            members = np.sort(order[lo:hi])  # the key's detections in submission order
            order[lo:hi] = members[np.argsort(score[members])[::-1]]
    return order


def _contains(sorted_values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """x in sorted_values, elementwise (a binary search: cheaper than np.isin here)."""
    at = np.searchsorted(sorted_values, x)
    found = np.zeros(len(x), dtype=bool)
    inside = at < len(sorted_values)
    found[inside] = sorted_values[at[inside]] == x[inside]
    return found


def _first_of_each(values: np.ndarray) -> np.ndarray:
    """Index of the first occurrence of each distinct value."""
    order = np.argsort(values, kind="stable")
    v = values[order]
    return order[np.concatenate([[True], v[1:] != v[:-1]])] if len(v) else order


def _pairs(key: np.ndarray, gt_key: np.ndarray, rows: np.ndarray) -> tuple:
    """All (detection, box) pairs with the same key, detection by detection, boxes in order.
    Returns (det of pair, box of pair, rows that have any pair, first pair of each)."""
    lo = np.searchsorted(gt_key, key[rows], side="left")
    n = np.searchsorted(gt_key, key[rows], side="right") - lo
    has = n > 0
    rows, lo, n = rows[has], lo[has], n[has]
    starts = np.concatenate([[0], np.cumsum(n)[:-1]]).astype(np.int64)
    det = np.repeat(rows, n)
    gt = np.repeat(lo - starts, n) + np.arange(int(n.sum()))
    return det, gt, rows, starts


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise intersection area of xmin,ymin,xmax,ymax boxes (height * width, as the
    official np_box_ops computes it)."""
    h = np.maximum(0.0, np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]))
    w = np.maximum(0.0, np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]))
    return h * w


def _area(b: np.ndarray) -> np.ndarray:
    return (b[:, 3] - b[:, 1]) * (b[:, 2] - b[:, 0])


def _best(values: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per segment (pairs of one detection): the maximum and the first pair reaching it."""
    best = np.maximum.reduceat(values, starts)
    n = np.diff(np.append(starts, len(values)))
    at = np.where(values == np.repeat(best, n), np.arange(len(values)), len(values))
    return best, np.minimum.reduceat(at, starts)


def _match_iou(key, box, gt_key, gt_box) -> np.ndarray:
    """True positives: each detection takes its best ordinary box if free and IoU >= 0.5.
    The taker of a box is the first detection (in the official order) that wants it."""
    tp = np.zeros(len(key), dtype=bool)
    det, gt, rows, starts = _pairs(key, gt_key, np.arange(len(key)))
    if not len(det):
        return tp
    inter = _intersection(box[det], gt_box[gt])
    iou = inter / (_area(box[det]) + _area(gt_box[gt]) - inter)
    best, at = _best(iou, starts)
    wants = best >= IOU_THRESHOLD
    rows, box_wanted = rows[wants], gt[at[wants]]
    tp[rows[_first_of_each(box_wanted)]] = True  # rows are in official order
    return tp


def _match_ioa(key, box, score, candidates, gt_key, gt_box) -> tuple[np.ndarray, np.ndarray]:
    """Detections absorbed by a group-of box (best IoA >= 0.5), and each group-of box's
    score: the maximum of 0 and its detections' scores (0: no true positive)."""
    absorbed = np.zeros(len(key), dtype=bool)
    group_score = np.zeros(len(gt_key))
    det, gt, rows, starts = _pairs(key, gt_key, np.flatnonzero(candidates))
    if not len(det):
        return absorbed, group_score
    ioa = _intersection(gt_box[gt], box[det]) / _area(box[det])
    best, at = _best(ioa, starts)
    inside = best >= IOU_THRESHOLD
    absorbed[rows[inside]] = True
    np.maximum.at(group_score, gt[at[inside]], score[rows[inside]])
    return absorbed, group_score
