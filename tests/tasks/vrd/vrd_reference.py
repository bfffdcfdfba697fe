"""A plain, loop-by-loop reference for the Open Images 2019 VRD score, written from the
official evaluator's structure (tensorflow/models object_detection: vrd_evaluation.py,
per_image_vrd_evaluation.py, metrics.py) without sharing any code with dlf's vectorised
version: per image, per label tuple, per detection, python floats for IoU, the VOC AP loop.

Rows are plain tuples: truth (image, label1, label2, relation, box1, box2), predictions
(confidence, image, label1, label2, relation, box1, box2), labels (image, label); boxes
are (xmin, ymin, xmax, ymax). Ties in confidence keep the given order, as dlf documents.
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


def reference_score(truth, preds, labels=None):
    """{'score', 'map_relationships', 'recall50', 'map_phrases', 'ap_relationships',
    'ap_phrases'} for plain rows."""
    gt = {}
    for image, l1, l2, rel, b1, b2 in truth:
        gt.setdefault(image, []).append((l1, l2, rel, _f32(b1), _f32(b2)))
    verified = {}
    for image, label in labels or []:
        verified.setdefault(image, set()).add(label)
        gt.setdefault(image, [])
    scored = {}  # image -> [(confidence, index, relation, rel_hit, phrase_hit)]
    for index, (conf, image, l1, l2, rel, b1, b2) in enumerate(preds):
        if image not in gt:
            continue
        positive = {t[0] for t in gt[image]} | {t[1] for t in gt[image]}
        ver = verified.get(image, set())
        evaluable, negative = positive | ver, ver - positive
        if (l1 in negative or l2 in negative) or (l1 in evaluable and l2 in evaluable):
            scored.setdefault(image, []).append([conf, index, (l1, l2, rel), _f32(b1), _f32(b2)])
    per_image = {}
    for image, dets in scored.items():
        results = []
        for key in sorted({d[2] for d in dets}):
            mine = sorted((d for d in dets if d[2] == key), key=lambda d: (-d[0], d[1]))
            gts = [(t[3], t[4]) for t in gt[image] if (t[0], t[1], t[2]) == key]
            rel_hits = _match([(d[1], d[3], d[4]) for d in mine], gts, phrase=False)
            phr_hits = _match([(d[1], d[3], d[4]) for d in mine], gts, phrase=True)
            for d, rh, ph in zip(mine, rel_hits, phr_hits):
                results.append((d[0], d[1], key[2], rh, ph))
        per_image[image] = sorted(results, key=lambda r: (-r[0], r[1]))
    n_truth = len(truth)
    recall50 = sum(sum(r[3] for r in res[:50]) for res in per_image.values()) / n_truth
    everything = sorted((r for res in per_image.values() for r in res), key=lambda r: (-r[0], r[1]))
    ap_rel, ap_phr = {}, {}
    for rel in sorted({t[3] for t in truth}):
        n = sum(t[3] == rel for t in truth)
        ap_rel[rel] = _voc_ap([r[3] for r in everything if r[2] == rel], n)
        ap_phr[rel] = _voc_ap([r[4] for r in everything if r[2] == rel], n)
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
