"""A plain, loop-by-loop reference for the Open Images 2019 VRD score, written from the
official evaluator's structure (tensorflow/models object_detection: vrd_evaluation.py,
per_image_vrd_evaluation.py, metrics.py) without sharing any code with dlf's vectorised
version: per image, per label tuple, per detection, python floats for IoU, the VOC AP loop.

Rows are plain tuples: truth (image, label1, label2, relation, box1, box2), predictions
(confidence, image, label1, label2, relation, box1, box2), labels (image, label); boxes
are (xmin, ymin, xmax, ymax). Order, ties included, follows the official code's sorts: it
calls np.argsort(...)[::-1] on the same lists the official code sorts (per image and label
tuple; per image; per relationship over the images in sorted id order).
"""

import math

import numpy as np


def _f32(box):
    return [float(np.float32(v)) for v in box]


def _iou(a, b):
    w = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    h = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else math.nan


def _enclose(a, b):
    return [min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])]


def _voc_ap(hits, n_truth):
    if not hits:
        return 0.0
    precision, recall, tp = [], [], 0
    for i, h in enumerate(hits, start=1):
        tp += h
        precision.append(tp / i)
        recall.append(tp / n_truth)
    recall = [0.0, *recall, 1.0]
    precision = [0.0, *precision, 0.0]
    for i in range(len(precision) - 2, -1, -1):
        precision[i] = max(precision[i], precision[i + 1])
    return sum(
        (recall[i] - recall[i - 1]) * precision[i]
        for i in range(1, len(recall))
        if recall[i] != recall[i - 1]
    )


def _match(dets, gts, phrase):
    """Hit flags for one image's detections (index, box1, box2) of one label tuple,
    already in processing order, against that tuple's truth (box1, box2) in file order."""
    taken = [False] * len(gts)
    hits = []
    for _, d1, d2 in dets:
        best, best_iou = None, -math.inf
        for j, (g1, g2) in enumerate(gts):
            if phrase:
                iou = _iou(_enclose(d1, d2), _enclose(g1, g2))
            else:
                a, b = _iou(d1, g1), _iou(d2, g2)
                iou = math.nan if math.isnan(a) or math.isnan(b) else min(a, b)
            rank = math.inf if math.isnan(iou) else iou
            if best is None or rank > best_iou:
                best, best_iou = j, rank
        hit = False
        if best is not None:
            g1, g2 = gts[best]
            if phrase:
                iou = _iou(_enclose(d1, d2), _enclose(g1, g2))
            else:
                a, b = _iou(d1, g1), _iou(d2, g2)
                iou = math.nan if math.isnan(a) or math.isnan(b) else min(a, b)
            if iou >= 0.5 and not taken[best]:
                hit = taken[best] = True
        hits.append(hit)
    return hits


# The evaluator's relationship label map: ids 1..10 in this order.
RELATION_IDS = {
    name: i + 1
    for i, name in enumerate(
        [
            "at",
            "on",
            "holds",
            "plays",
            "interacts_with",
            "wears",
            "is",
            "inside_of",
            "under",
            "hits",
        ]
    )
}


def _desc(scores):
    """The evaluator's sort, verbatim in effect: np.argsort(...)[::-1] on a float array."""
    return np.argsort(np.array(scores, dtype=float))[::-1].tolist()


def reference_score(truth, preds, labels=None, label_ids=None):
    """{'score', 'map_relationships', 'recall50', 'map_phrases', 'ap_relationships',
    'ap_phrases'} for plain rows; `label_ids` the class label map ({} if None): names it
    lacks get ids after its largest, in sorted name order."""
    ids = dict(label_ids or {})
    names = {t[1] for t in truth} | {t[2] for t in truth} | {p[2] for p in preds}
    names |= {p[3] for p in preds} | {lab for _, lab in labels or []}
    for name in sorted(names - set(ids)):
        ids[name] = max(ids.values(), default=0) + 1
    gt = {}
    for image, l1, l2, rel, b1, b2 in truth:
        gt.setdefault(image, []).append((l1, l2, rel, _f32(b1), _f32(b2)))
    verified = {}
    for image, label in labels or []:
        verified.setdefault(image, set()).add(label)
        gt.setdefault(image, [])
    scored = {}  # image -> its scored detections in submission order
    for conf, image, l1, l2, rel, b1, b2 in preds:
        if image not in gt:
            continue
        positive = {t[0] for t in gt[image]} | {t[1] for t in gt[image]}
        ver = verified.get(image, set())
        evaluable, negative = positive | ver, ver - positive
        if (l1 in negative or l2 in negative) or (l1 in evaluable and l2 in evaluable):
            scored.setdefault(image, []).append((conf, (l1, l2, rel), _f32(b1), _f32(b2)))
    per_image = {}  # image -> [(confidence, relation, rel_hit, phrase_hit)] in its order
    for image in sorted(scored):  # the evaluator's groupby('ImageID')
        dets = scored[image]
        tuples = sorted(
            {d[1] for d in dets}, key=lambda k: (ids[k[0]], ids[k[1]], RELATION_IDS[k[2]])
        )
        results = []
        for key in tuples:
            mine = [d for d in dets if d[1] == key]
            mine = [mine[i] for i in _desc([d[0] for d in mine])]
            gts = [(t[3], t[4]) for t in gt[image] if (t[0], t[1], t[2]) == key]
            boxes = [(None, d[2], d[3]) for d in mine]
            rel_hits = _match(boxes, gts, phrase=False)
            phr_hits = _match(boxes, gts, phrase=True)
            results += [(d[0], key[2], rh, ph) for d, rh, ph in zip(mine, rel_hits, phr_hits)]
        per_image[image] = [results[i] for i in _desc([r[0] for r in results])]
    n_truth = len(truth)
    recall50 = sum(sum(r[2] for r in res[:50]) for res in per_image.values()) / n_truth
    everything = [r for image in sorted(per_image) for r in per_image[image]]
    ap_rel, ap_phr = {}, {}
    for rel in sorted({t[3] for t in truth}):
        n = sum(t[3] == rel for t in truth)
        mine = [r for r in everything if r[1] == rel]
        mine = [mine[i] for i in _desc([r[0] for r in mine])]
        ap_rel[rel] = _voc_ap([r[2] for r in mine], n)
        ap_phr[rel] = _voc_ap([r[3] for r in mine], n)
    map_rel = sum(ap_rel.values()) / len(ap_rel)
    map_phr = sum(ap_phr.values()) / len(ap_phr)
    return {
        "score": 0.4 * map_rel + 0.2 * recall50 + 0.4 * map_phr,
        "map_relationships": map_rel,
        "recall50": recall50,
        "map_phrases": map_phr,
        "ap_relationships": ap_rel,
        "ap_phrases": ap_phr,
    }
