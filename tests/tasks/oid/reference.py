"""A slow, plain reference for the Open Images Challenge 2019 detection metric.

Written directly from the structure of the official evaluator (tensorflow/models,
object_detection: oid_hierarchical_labels_expansion.py, oid_challenge_evaluation.py,
OpenImagesChallengeEvaluator, ObjectDetectionEvaluation, PerImageEvaluation,
np_box_list_ops.non_max_suppression, metrics.py), one image and one class at a time with
Python loops, boxes in the official [ymin, xmin, ymax, xmax] order. It shares no code with
dlf.tasks.oid.metric; tests compare the two on many random cases, and bench/oid_eval.py
uses it as the baseline.
"""

import numpy as np


def expand_truth(boxes, labels, ancestors, descendants):
    """The official expansion tool, row by row: each box row then a copy per ancestor;
    a positive label row then a copy per ancestor, a negative one per descendant.
    Returns lists of dict rows."""
    box_rows = []
    for i in range(len(boxes.labels)):
        c = int(boxes.labels[i])
        for label in [c, *sorted(ancestors[c])]:
            box_rows.append(
                dict(image=str(boxes.image_ids[i]), label=label, box=boxes.boxes[i],
                     group_of=int(boxes.group_of[i]))
            )  # fmt: skip
    label_rows = []
    for i in range(len(labels.labels)):
        c, conf = int(labels.labels[i]), int(labels.confidence[i])
        relatives = ancestors[c] if conf == 1 else descendants[c]
        for label in [c, *sorted(relatives)]:
            label_rows.append(dict(image=str(labels.image_ids[i]), label=label))
    return box_rows, label_rows


def _yxyx(b):
    b = np.asarray(b, dtype=float).reshape(-1, 4)
    return b[:, [1, 0, 3, 2]]


def _area(b):
    return (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])


def _intersection(b1, b2):
    y_min1, x_min1, y_max1, x_max1 = np.split(b1, 4, axis=1)
    y_min2, x_min2, y_max2, x_max2 = np.split(b2, 4, axis=1)
    h = np.maximum(0.0, np.minimum(y_max1, y_max2.T) - np.maximum(y_min1, y_min2.T))
    w = np.maximum(0.0, np.minimum(x_max1, x_max2.T) - np.maximum(x_min1, x_min2.T))
    return h * w


def _iou(b1, b2):
    inter = _intersection(b1, b2)
    return inter / (_area(b1)[:, None] + _area(b2)[None, :] - inter)


def _ioa(b1, b2):
    """Intersection over the area of b2."""
    return _intersection(b1, b2) / _area(b2)[None, :]


def _nms_no_suppression(boxes, scores, max_out=10000, floor=-10.0):
    keep = np.where(scores > floor)[0]
    boxes, scores = boxes[keep], scores[keep]
    if len(scores) == 0:
        return boxes, scores
    order = np.argsort(scores)[::-1]
    boxes, scores = boxes[order], scores[order]
    return boxes[:max_out], scores[:max_out]


def _tp_fp_single_class(det_boxes, det_scores, gt_boxes, gt_group_of, thr=0.5):
    if det_boxes.size == 0:
        return np.array([], dtype=float), np.array([], dtype=bool)
    det_boxes, scores = _nms_no_suppression(det_boxes, det_scores)
    n = det_boxes.shape[0]
    if gt_boxes.size == 0:
        return scores, np.zeros(n, dtype=bool)
    tp = np.zeros(n, dtype=bool)
    matched_group = np.zeros(n, dtype=bool)
    ordinary, groups = gt_boxes[~gt_group_of], gt_boxes[gt_group_of]
    if len(ordinary):
        iou = _iou(det_boxes, ordinary)
        best = np.argmax(iou, axis=1)
        taken = np.zeros(len(ordinary), dtype=bool)
        for i in range(n):
            g = best[i]
            # official structure: evaluatable, then "is the box still free?"
            evaluatable = not tp[i] and iou[i, g] >= thr and not matched_group[i]
            if evaluatable and not taken[g]:
                tp[i] = True
                taken[g] = True
    group_scores = np.zeros(0)
    group_tp = np.zeros(0)
    if len(groups):
        ioa = _ioa(groups, det_boxes).T
        best = np.argmax(ioa, axis=1)
        group_scores = np.zeros(len(groups))
        group_tp = np.ones(len(groups))
        for i in range(n):
            g = best[i]
            if not tp[i] and ioa[i, g] >= thr and not matched_group[i]:
                matched_group[i] = True
                group_scores[g] = max(group_scores[g], scores[i])
        sel = np.where((group_scores > 0) & (group_tp > 0))
        group_scores, group_tp = group_scores[sel], group_tp[sel]
    valid = ~matched_group
    return (
        np.concatenate((scores[valid], group_scores)),
        np.concatenate((tp[valid].astype(float), group_tp)),
    )


def _voc_ap(precision, recall):
    if precision.size == 0:
        return 0.0
    recall = np.concatenate([[0], recall, [1]])
    precision = np.concatenate([[0], precision, [0]])
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = np.maximum(precision[i], precision[i + 1])
    idx = np.where(recall[1:] != recall[:-1])[0] + 1
    return np.sum((recall[idx] - recall[idx - 1]) * precision[idx])


def reference_map(truth_boxes, truth_labels, detections, ancestors, descendants, n_classes):
    """(mAP, AP per class, n_gt per class), the official way. `ancestors[c]` and
    `descendants[c]` are sets of class indices (empty for no hierarchy)."""
    box_rows, label_rows = expand_truth(truth_boxes, truth_labels, ancestors, descendants)

    # groundtruth per image (pandas groupby keeps file order within an image)
    gt = {}
    for r in box_rows:
        g = gt.setdefault(r["image"], dict(boxes=[], classes=[], group_of=[], verified=set()))
        g["boxes"].append(r["box"])
        g["classes"].append(r["label"])
        g["group_of"].append(r["group_of"])
        g["verified"].add(r["label"])
    for r in label_rows:
        g = gt.setdefault(r["image"], dict(boxes=[], classes=[], group_of=[], verified=set()))
        g["verified"].add(r["label"])

    n_gt = np.zeros(n_classes)
    for g in gt.values():
        for c in g["classes"]:
            n_gt[c] += 1.0  # ordinary boxes count 1, group-of boxes group_of_weight = 1

    scores_per_class = [[] for _ in range(n_classes)]
    tp_per_class = [[] for _ in range(n_classes)]
    for image_index in np.argsort(detections.image_ids, kind="stable"):
        image_id = str(detections.image_ids[image_index])
        mine = np.where(detections.image == image_index)[0]
        d_labels = detections.labels[mine]
        d_scores = detections.scores[mine]
        d_boxes = _yxyx(detections.boxes[mine])
        if image_id not in gt:
            continue  # evaluatable labels are empty: every detection is dropped
        g = gt[image_id]
        allowed = np.isin(d_labels, sorted(g["verified"]))
        d_labels, d_scores, d_boxes = d_labels[allowed], d_scores[allowed], d_boxes[allowed]
        valid = (d_boxes[:, 0] < d_boxes[:, 2]) & (d_boxes[:, 1] < d_boxes[:, 3])
        d_labels, d_scores, d_boxes = d_labels[valid], d_scores[valid], d_boxes[valid]
        g_boxes = _yxyx(g["boxes"]) if g["boxes"] else np.zeros((0, 4))
        g_classes = np.array(g["classes"], dtype=int)
        g_group = np.array(g["group_of"], dtype=int).astype(bool)
        for c in range(n_classes):
            s, t = _tp_fp_single_class(
                d_boxes[d_labels == c], d_scores[d_labels == c],
                g_boxes[g_classes == c], g_group[g_classes == c],
            )  # fmt: skip
            if s.shape[0] > 0:
                scores_per_class[c].append(s)
                tp_per_class[c].append(t)

    ap = np.full(n_classes, np.nan)
    for c in range(n_classes):
        if n_gt[c] == 0:
            continue
        if scores_per_class[c]:
            scores = np.concatenate(scores_per_class[c])
            labels = np.concatenate(tp_per_class[c])
        else:
            scores, labels = np.array([], dtype=float), np.array([], dtype=float)
        order = np.argsort(scores)[::-1]
        tp = labels[order]
        fp = (tp <= 0).astype(float)
        cum_tp, cum_fp = np.cumsum(tp), np.cumsum(fp)
        precision = cum_tp.astype(float) / (cum_tp + cum_fp)
        recall = cum_tp.astype(float) / n_gt[c]
        ap[c] = _voc_ap(precision, recall)
    return np.nanmean(ap), ap, n_gt
