"""The Open Images 2019 VRD score: 0.4 mAP(relationships) + 0.2 Recall@50 + 0.4 mAP(phrases).

References: the official evaluator's rules (tensorflow/models object_detection:
utils/vrd_evaluation.py, utils/per_image_vrd_evaluation.py, utils/metrics.py), each worked
by hand below with its reasoning, and a plain loop-by-loop reimplementation kept in
tests/tasks/vrd/vrd_reference.py, compared with dlf's vectorised one on random cases and
on the real validation file. Boxes are written (xmin, ymin, xmax, ymax).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.vrd.files import (
    RELATIONSHIPS,
    ImageLabels,
    Triplets,
    read_vrd,
    write_submission,
)
from dlf.tasks.vrd.labelmap import OFFICIAL_LABEL_IDS
from dlf.tasks.vrd.metric import evaluate_vrd, vrd_score
from tasks.vrd.vrd_reference import reference_score

# The real files sit beside the repository: ../shared/real/oid-vrd-2019 (read-only, not copied).
REAL = Path(__file__).resolve().parents[4] / "shared" / "real" / "oid-vrd-2019"
VALID = REAL / "challenge-2019-validation-vrd.csv"

FULL = (0.0, 0.0, 1.0, 1.0)


def truth_of(rows, all_images=()) -> Triplets:
    image, l1, l2, rel, b1, b2 = zip(*rows)
    return Triplets.build(image, l1, l2, rel, np.array(b1), np.array(b2), all_images=all_images)


def preds_of(rows, all_images=()) -> Triplets:
    if not rows:
        return Triplets.build(
            [], [], [], [], np.zeros((0, 4)), np.zeros((0, 4)), np.zeros(0), all_images
        )
    conf, image, l1, l2, rel, b1, b2 = zip(*rows)
    return Triplets.build(
        image, l1, l2, rel, np.array(b1), np.array(b2), np.array(conf), all_images=all_images
    )


def labels_of(rows) -> ImageLabels:
    image, label = zip(*rows)
    return ImageLabels(np.array(image), np.array(label), np.ones(len(image)))


def score(truth_rows, pred_rows, label_rows=None, label_ids=None):
    labels = None if label_rows is None else labels_of(label_rows)
    return vrd_score(truth_of(truth_rows), labels, preds_of(pred_rows), label_ids=label_ids)


def parts(r):
    return (r.map_relationships, r.recall50, r.map_phrases, r.score)


def test_one_perfect_triplet_scores_one():
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    r = score([gt], [(0.3, *gt)])
    assert parts(r) == (1.0, 1.0, 1.0, 1.0)
    assert r.ap_relationships == {"at": 1.0} and r.n_scored == 1


def test_iou_threshold_is_inclusive_and_a_relationship_takes_the_worse_box():
    gt = ("A", "Man", "Table", "at", (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0))
    # subject (0,0,.5,.25): intersection .125, union .25 -> IoU exactly .5, a hit (>=)
    at_threshold = (0.9, "A", "Man", "Table", "at", (0.0, 0.0, 0.5, 0.25), gt[5])
    assert parts(score([gt], [at_threshold])) == (1.0, 1.0, 1.0, 1.0)
    # object (.5,.5,1,.74): IoU .12/.25 = .48 < .5 -> a relationship miss even though the
    # subject is exact; the phrase box (0,0,1,.74) has IoU .74 with (0,0,1,1) -> a phrase hit.
    # score = .4*0 + .2*0 + .4*1 = .4
    short = (0.9, "A", "Man", "Table", "at", gt[4], (0.5, 0.5, 1.0, 0.74))
    r = score([gt], [short])
    assert (r.map_relationships, r.recall50, r.map_phrases) == (0.0, 0.0, 1.0)
    assert r.score == pytest.approx(0.4)


def test_average_precision_worked_by_hand():
    g1 = ("A", "Man", "Table", "at", (0.0, 0.0, 0.2, 0.2), (0.2, 0.2, 0.4, 0.4))
    g2 = ("A", "Man", "Chair", "at", (0.5, 0.5, 0.7, 0.7), (0.7, 0.7, 0.9, 0.9))
    miss = (0.9, "A", "Man", "Table", "at", (0.6, 0.0, 0.8, 0.2), (0.8, 0.0, 1.0, 0.2))
    # order: miss, hit g1, hit g2 -> precision 0, 1/2, 2/3 at recall 0, 1/2, 1; made
    # non-increasing from the right: 2/3 everywhere -> AP = 1/2 * 2/3 + 1/2 * 2/3 = 2/3.
    # The miss's phrase box is far from both, so phrases score the same.
    r = score([g1, g2], [miss, (0.8, *g1), (0.7, *g2)])
    assert r.map_relationships == pytest.approx(2 / 3)
    assert r.map_phrases == pytest.approx(2 / 3)
    assert r.recall50 == 1.0
    assert r.score == pytest.approx(0.4 * 2 / 3 + 0.2 + 0.4 * 2 / 3)


def test_a_detection_only_tries_its_best_truth_triplet():
    obj = (0.6, 0.6, 1.0, 1.0)
    g1 = ("A", "Man", "Table", "at", (0.0, 0.0, 0.4, 0.4), obj)
    g2 = ("A", "Man", "Table", "at", (0.1, 0.0, 0.5, 0.4), obj)
    # d2's subject (.02,0,.42,.4): IoU with g1's .152/.168 = .905, with g2's .128/.192 = .667.
    # Its best is g1, already taken by d1, so it is a miss although g2 (IoU .667) is free:
    # hits [1, 0] with 2 truths -> AP = 1/2 * 1 = .5, Recall@50 = 1/2. Phrases: g1's box
    # (0,0,1,1), g2's (.1,0,1,1); d2's (.02,0,1,1) is again closest to g1 -> AP .5.
    d1 = (0.9, *g1)
    d2 = (0.8, "A", "Man", "Table", "at", (0.02, 0.0, 0.42, 0.4), obj)
    r = score([g1, g2], [d1, d2])
    assert parts(r) == pytest.approx((0.5, 0.5, 0.5, 0.5))


def test_two_truth_triplets_with_one_phrase_box_are_found_once_as_phrases():
    obj = (0.0, 0.5, 1.0, 1.0)
    g1 = ("A", "Man", "Table", "at", (0.0, 0.0, 0.3, 1.0), obj)
    g2 = ("A", "Man", "Table", "at", (0.7, 0.0, 1.0, 1.0), obj)
    # Both phrase boxes are (0,0,1,1). Relationships: each exact detection finds its own
    # truth -> AP 1, Recall@50 1. Phrases: both detections' best is g1 (the first of equal
    # IoUs), so the second is a miss -> hits [1, 0] of 2 -> AP .5.
    # score = .4 * 1 + .2 * 1 + .4 * .5 = .8
    r = score([g1, g2], [(0.9, *g1), (0.8, *g2)])
    assert parts(r) == pytest.approx((1.0, 1.0, 0.5, 0.8))


def test_recall_counts_each_images_50_most_confident():
    # Image A has 60 disjoint truth triplets, all detected exactly; image B has one.
    # Recall@50 counts A's 50 best and B's one: 51 / 61. APs are 1 (every detection a hit).
    truth = [
        (
            "A",
            "Man",
            "Table",
            "at",
            (i / 60, 0.0, (i + 1) / 60, 0.5),
            (i / 60, 0.5, (i + 1) / 60, 1.0),
        )
        for i in range(60)
    ]
    truth.append(("B", "Man", "Table", "at", (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0)))
    preds = [(1.0 - i / 100, *t) for i, t in enumerate(truth)]
    r = score(truth, preds)
    assert r.recall50 == pytest.approx(51 / 61)
    assert (r.map_relationships, r.map_phrases) == (1.0, 1.0)


def test_verified_labels_decide_what_is_scored():
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    far = ((0.0, 0.0, 0.05, 0.05), (0.95, 0.95, 1.0, 1.0))
    d_negative = (0.9, "A", "Man", "Chair", "at", *far)  # Chair verified, not in A's truth
    d_unverified = (0.8, "A", "Man", "Dog", "at", *far)  # Dog: neither -> ignored
    d_hit = (0.7, *gt)
    d_no_truth_image = (0.99, "Z", "Man", "Table", "at", *gt[4:])  # unknown image: ignored
    preds = [d_no_truth_image, d_negative, d_unverified, d_hit]
    labels = [("A", "Man"), ("A", "Table"), ("A", "Chair")]
    # Scored: the negative (a miss), then the hit: precision 0, 1/2 -> AP 1/2 (both
    # relationships and phrases); Recall@50 1.
    r = score([gt], preds, labels)
    assert (r.map_relationships, r.recall50, r.map_phrases) == (0.5, 1.0, 0.5)
    assert r.n_scored == 2
    # Without a labels file only the truth's own labels are evaluable: the Chair detection
    # is ignored too and the hit stands alone -> everything 1.
    assert parts(score([gt], preds)) == (1.0, 1.0, 1.0, 1.0)
    # An image in the labels file only (no truth triplet) is a truth image with no
    # triplets: a detection with its verified label is a sure miss there. It ranks first
    # (.95): misses, miss, hit -> AP 1/3.
    labels_c = [*labels, ("C", "Man")]
    d_c = (0.95, "C", "Man", "Table", "at", *gt[4:])
    r = score([gt], [*preds, d_c], labels_c)
    assert r.map_relationships == pytest.approx(1 / 3)


def test_the_confidence_column_of_the_labels_file_is_not_read():
    # The official evaluator takes every listed label as verified, Confidence 0 or 1.
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    d_negative = (0.9, "A", "Man", "Chair", "at", gt[4], gt[5])
    labels = ImageLabels(np.array(["A"]), np.array(["Chair"]), np.array([0.0]))
    r = vrd_score(truth_of([gt]), labels, preds_of([d_negative, (0.8, *gt)]))
    assert r.map_relationships == 0.5


def test_images_without_predictions_count_in_recall_and_ap():
    ga = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    gb = ("B", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    # One of two truths found with precision 1: AP = 1/2, Recall@50 = 1/2, score = 1/2.
    assert parts(score([ga, gb], [(0.5, *ga)], None)) == (0.5, 0.5, 0.5, 0.5)
    # No prediction at all: 0 everywhere.
    assert parts(score([ga, gb], [])) == (0.0, 0.0, 0.0, 0.0)


def test_relationships_only_predicted_are_not_averaged_but_take_recall_places():
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    # 50 confident 'on' detections (not in the truth) fill A's 50 places: the exact 'at'
    # detection is 51st -> Recall@50 0. mAP is over 'at' alone -> 1 for both kinds.
    # score = .4 + 0 + .4 = .8
    wrong = [(0.9, "A", "Man", "Table", "on", gt[4], gt[5])] * 50
    r = score([gt], [*wrong, (0.5, *gt)])
    assert parts(r) == pytest.approx((1.0, 0.0, 1.0, 0.8))
    assert list(r.ap_relationships) == ["at"]


def test_ignored_predictions_take_no_recall_places():
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    unverified = [(0.9, "A", "Man", "Dog", "at", gt[4], gt[5])] * 60
    assert score([gt], [*unverified, (0.5, *gt)]).recall50 == 1.0


# --- ties: the official code sorts three times with np.argsort(scores)[::-1]; numpy sorts
# <= 16 values by insertion (stable), so each sort puts equal scores in REVERSE of their
# order in the array it sorts. Expected values below follow the arrays by hand.


def test_tied_detections_of_one_tuple():
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    miss = (0.5, "A", "Man", "Table", "at", (0.6, 0.0, 0.7, 0.1), (0.8, 0.0, 0.9, 0.1))
    hit = (0.5, *gt)
    # Submission [miss, hit]. Sort 1 (the tuple, [.5 .5]): [hit, miss]; the hit matches.
    # Sort 2 (the image, [hit .5, miss .5]): [miss, hit]. Sort 3 ('at' over images,
    # [miss .5, hit .5]): [hit, miss] -> precision 1 at recall 1 -> AP 1.
    assert parts(score([gt], [miss, hit])) == (1.0, 1.0, 1.0, 1.0)
    # Submission [hit, miss]: sort 1 [miss, hit], sort 2 [hit, miss], sort 3 [miss, hit]
    # -> precision 0 then 1/2 at recall 1 -> AP 1/2; Recall@50 1. score .4*.5+.2+.4*.5 = .6
    assert parts(score([gt], [hit, miss])) == pytest.approx((0.5, 1.0, 0.5, 0.6))


def test_tied_detections_of_one_tuple_are_matched_in_reverse_order():
    gt = ("A", "Man", "Table", "at", (0.0, 0.0, 0.5, 0.5), (0.5, 0.5, 1.0, 1.0))
    exact = (0.5, *gt)
    # short: object IoU .48 -> a relationship miss; phrase box (0,0,1,.74), IoU .74 -> it
    # takes gt as a phrase if it comes first.
    short = (0.5, "A", "Man", "Table", "at", gt[4], (0.5, 0.5, 1.0, 0.74))
    # Submission [exact, short] -> sort 1: matching order [short, exact]: relationships
    # [miss, hit], phrases [hit, miss]. Sort 2 reverses, sort 3 reverses back: AP sees
    # [short, exact]: relationships AP 1/2, phrases AP 1; Recall@50 1 -> score .8.
    assert parts(score([gt], [exact, short])) == pytest.approx((0.5, 1.0, 1.0, 0.8))
    # Submission [short, exact] -> matching [exact, short]: exact takes gt in both -> 1.
    assert parts(score([gt], [short, exact])) == (1.0, 1.0, 1.0, 1.0)


def test_tied_detections_in_different_images_rank_by_image_id():
    ga = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    gb = ("B", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    miss_a = (0.5, "A", "Man", "Table", "at", (0.6, 0.0, 0.7, 0.1), (0.8, 0.0, 0.9, 0.1))
    hit_b = (0.5, *gb)
    # Sort 3 sees the images in sorted id order, [A: miss .5, B: hit .5], whatever the
    # submission's row order, and reverses the tie: [hit, miss] -> 2 truths: precision 1
    # at recall 1/2 -> AP 1/2; Recall@50 1/2. score = .4*.5 + .2*.5 + .4*.5 = .5
    want = pytest.approx((0.5, 0.5, 0.5, 0.5))
    assert parts(score([ga, gb], [miss_a, hit_b])) == want
    assert parts(score([ga, gb], [hit_b, miss_a])) == want
    # Renamed so that the miss's image sorts last ("C" > "B"): [hit .5, miss .5] reversed
    # -> [miss, hit] -> precision 1/2 at recall 1/2 -> AP 1/4; score .4*.25+.1+.4*.25 = .3
    gc = ("C", *ga[1:])
    miss_c = (0.5, "C", *miss_a[2:])
    assert parts(score([gc, gb], [miss_c, hit_b])) == pytest.approx((0.25, 0.5, 0.25, 0.3))


def test_tied_detections_of_two_tuples_in_one_image_follow_the_label_ids():
    man, table, chair = "/m/04yx4", "/m/04bcr3", "/m/01mzpv"  # official ids 114, 135, 100
    gt = ("A", man, table, "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    far = ((0.0, 0.0, 0.05, 0.05), (0.95, 0.95, 1.0, 1.0))
    negative = (0.5, "A", man, chair, "at", *far)  # chair verified absent: a sure miss
    hit = (0.5, *gt)
    labels = [("A", man), ("A", table), ("A", chair)]
    # Tuples visited in (subject id, object id) order: (114, 100) = the negative, then
    # (114, 135) = the hit. Sort 2 on [neg .5, hit .5] -> [hit, neg]; sort 3 on 'at'
    # [hit .5, neg .5] -> [neg, hit] -> precision 1/2 at recall 1 -> AP 1/2, whatever the
    # submission order.
    for preds in ([negative, hit], [hit, negative]):
        assert score([gt], preds, labels).map_relationships == 0.5
    # With a label map that puts Chair after Table: [hit, neg] -> [neg, hit] -> [hit, neg]
    # -> AP 1.
    ids = {man: 1, table: 2, chair: 3}
    assert score([gt], [negative, hit], labels, label_ids=ids).map_relationships == 1.0
    # Names without an id come after all named ones, by name: here with no map entry for
    # any of them the order is by name: /m/01mzpv (chair) < /m/04bcr3 (table) -> AP 1/2.
    assert score([gt], [negative, hit], labels, label_ids={}).map_relationships == 0.5


def test_ties_over_16_values_follow_numpys_own_sort():
    # A hit among 19 tied misses of one tuple: over 16 values numpy's argsort is an
    # introsort whose order of equal values is not worked by hand; dlf must agree with the
    # plain reference (which calls np.argsort on the official arrays) for every position.
    gt = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    miss = (0.5, "A", "Man", "Table", "at", (0.6, 0.0, 0.7, 0.1), (0.8, 0.0, 0.9, 0.1))
    seen = set()
    for k in range(20):
        preds = [miss] * k + [(0.5, *gt)] + [miss] * (19 - k)
        want = reference_score([gt], preds)
        got = score([gt], preds)
        assert parts(got) == pytest.approx(
            (want["map_relationships"], want["recall50"], want["map_phrases"], want["score"]),
            abs=1e-12,
        )
        seen.add(round(got.map_relationships, 12))
    assert len(seen) > 1  # the position of the hit does matter


def test_map_is_the_plain_mean_over_truth_relationships():
    g_at = ("A", "Man", "Table", "at", (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9))
    g_on = ("A", "Cup", "Table", "on", (0.4, 0.4, 0.5, 0.5), (0.3, 0.5, 0.9, 0.9))
    g_on2 = ("B", "Cup", "Table", "on", (0.4, 0.4, 0.5, 0.5), (0.3, 0.5, 0.9, 0.9))
    # 'at': AP 1 (1 truth, found); 'on': AP 0 (2 truths, none predicted) -> mAP 1/2, not the
    # triplet-weighted 1/3. Recall@50 = 1/3.
    r = score([g_at, g_on, g_on2], [(0.9, *g_at)])
    assert r.ap_relationships == {"at": 1.0, "on": 0.0}
    assert (r.map_relationships, r.recall50) == pytest.approx((0.5, 1 / 3))


def test_an_empty_truth_box_can_never_be_hit():
    # IoU of two zero-area boxes is 0/0 = NaN in the evaluator, never >= .5: the exact
    # detection of a zero-width subject is a relationship miss; its phrase box is not empty.
    gt = ("A", "Man", "Table", "at", (0.2, 0.1, 0.2, 0.9), (0.3, 0.5, 0.9, 0.9))
    r = score([gt], [(0.5, *gt)])
    assert (r.map_relationships, r.recall50, r.map_phrases) == (0.0, 0.0, 1.0)


def test_empty_truth_is_refused():
    empty = preds_of([])
    with pytest.raises(DlfError, match="no triplets"):
        vrd_score(replace(empty, confidence=None), None, empty)


def _random_case(rng):
    """A few images with clustered boxes (so IoUs straddle .5), repeated label tuples,
    confidences from a small set (ties), unverified and negative labels, an unknown image
    and a labels-only image: every rule gets exercised."""
    classes, attrs = ["Man", "Table", "Chair", "Dog"], ["Wooden"]
    rels = ["at", "on", "holds", "is"]
    truth, labels, preds = [], [], []

    def box(center, spread):
        c = np.clip(center + rng.normal(0, spread, 2), 0.05, 0.95)
        w = np.clip(rng.uniform(0.05, 0.3, 2), 0.01, None)
        return tuple(np.clip([c[0] - w[0], c[1] - w[1], c[0] + w[0], c[1] + w[1]], 0, 1).tolist())

    for image in [f"img{k}" for k in range(int(rng.integers(2, 6)))]:
        centers = rng.uniform(0.2, 0.8, (3, 2))
        for _ in range(int(rng.integers(0, 7))):
            rel = str(rng.choice(rels))
            l1 = str(rng.choice(classes[:2]))
            b1 = box(centers[rng.integers(3)], 0.03)
            if rel == "is":
                l2, b2 = attrs[0], b1
            else:
                l2, b2 = str(rng.choice(classes[:3])), box(centers[rng.integers(3)], 0.03)
            truth.append((image, l1, l2, rel, b1, b2))
        for label in rng.choice(classes + attrs, int(rng.integers(0, 4)), replace=False):
            labels.append((image, str(label)))
    labels.append(("labels_only", "Man"))
    gts = list(truth)
    for _ in range(int(rng.integers(0, 40))):
        conf = (
            float(rng.choice([0.9, 0.7, 0.5, 0.3])) if rng.random() < 0.5 else float(rng.random())
        )
        if gts and rng.random() < 0.7:
            image, l1, l2, rel, b1, b2 = gts[rng.integers(len(gts))]
            jitter = lambda b: tuple(np.clip(np.array(b) + rng.normal(0, 0.04, 4), 0, 1).tolist())  # noqa: E731
            b1, b2 = jitter(b1), jitter(b2)
            b1 = (min(b1[0], b1[2]), min(b1[1], b1[3]), max(b1[0], b1[2]), max(b1[1], b1[3]))
            b2 = (min(b2[0], b2[2]), min(b2[1], b2[3]), max(b2[0], b2[2]), max(b2[1], b2[3]))
            if rng.random() < 0.2:
                l2 = str(rng.choice(classes))
            if rng.random() < 0.1:
                rel = str(rng.choice(rels))
        else:
            image = str(rng.choice([*{t[0] for t in gts}, "unknown", "labels_only"]))
            l1, l2, rel = str(rng.choice(classes)), str(rng.choice(classes)), str(rng.choice(rels))
            b1, b2 = box(rng.uniform(0.2, 0.8, 2), 0.1), box(rng.uniform(0.2, 0.8, 2), 0.1)
        preds.append((conf, image, l1, l2, rel, b1, b2))
    return truth, labels, preds


@pytest.mark.parametrize("seed", range(150))
def test_matches_the_plain_reference_on_random_cases(seed):
    rng = np.random.default_rng(seed)
    truth, labels, preds = _random_case(rng)
    if not truth:
        pytest.skip("no truth triplet drawn")
    use_labels = seed % 3 != 0
    # Half the cases with a shuffled label map (ties across tuples follow its ids).
    names = sorted({t[1] for t in truth} | {t[2] for t in truth} | {p[2] for p in preds})
    ids = None
    if seed % 2:
        ids = {n: int(i) for n, i in zip(names, rng.permutation(len(names)) + 1)}
    got = score(truth, preds, labels if use_labels else None, label_ids=ids)
    want = reference_score(truth, preds, labels if use_labels else None, label_ids=ids)
    assert parts(got) == pytest.approx(
        (want["map_relationships"], want["recall50"], want["map_phrases"], want["score"]),
        abs=1e-12,
    )
    assert got.ap_relationships == pytest.approx(want["ap_relationships"], abs=1e-12)
    assert got.ap_phrases == pytest.approx(want["ap_phrases"], abs=1e-12)


# --- the real validation file ---------------------------------------------------------


def _rows(t: Triplets, conf=None):
    names, rel = t.label_names, np.array(RELATIONSHIPS)
    rows = list(
        zip(
            t.image_ids[t.image].tolist(), names[t.label1].tolist(), names[t.label2].tolist(),
            rel[t.relation].tolist(), t.box1.tolist(), t.box2.tolist(),
        )
    )  # fmt: skip
    return rows if conf is None else [(c, *r) for c, r in zip(conf.tolist(), rows)]


@pytest.fixture(scope="module")
def valid():
    if not VALID.is_file():
        pytest.skip(f"{VALID} absent")
    return read_vrd(VALID)


def test_real_validation_against_itself(valid, tmp_path):
    """Truth scored against itself (confidence 1 for all, file order): relationships mAP 1;
    Recall@50 3972/3991 = 0.99524 (image 56e803d5e8c580e0 has 69 triplets, 19 beyond 50);
    phrases mAP 0.97453 (truth triplets sharing labels and a phrase box are found once;
    which of the tied copies takes which truth is numpy's order); score 0.98886. The real labels file is absent: verified labels derived from the
    triplets' own classes give the same figures as no labels file, as they must."""
    preds = replace(valid, confidence=np.ones(len(valid)))
    r = vrd_score(valid, None, preds)
    assert r.map_relationships == 1.0
    per_image = np.bincount(valid.image)
    assert r.recall50 == (len(valid) - np.maximum(per_image - 50, 0).sum()) / len(valid)
    assert r.map_phrases < 1.0
    want = reference_score(
        _rows(valid), _rows(valid, preds.confidence), label_ids=OFFICIAL_LABEL_IDS
    )
    assert parts(r) == pytest.approx(
        (want["map_relationships"], want["recall50"], want["map_phrases"], want["score"]), abs=1e-12
    )
    derived = ImageLabels(
        np.concatenate([valid.image_ids[valid.image]] * 2),
        np.concatenate([valid.label_names[valid.label1], valid.label_names[valid.label2]]),
        np.ones(2 * len(valid)),
    )
    assert parts(vrd_score(valid, derived, preds)) == parts(r)
    # Through the files: the truth written as a submission and scored by evaluate_vrd.
    write_submission(tmp_path / "sub.csv", preds)
    assert parts(evaluate_vrd(tmp_path / "sub.csv", VALID)) == parts(r)


def test_real_validation_against_a_random_half(valid):
    """A random half of the rows (seed 0) with random confidences: 0.5432 (relationships
    mAP 0.5574, Recall@50 0.4999, phrases mAP 0.5507), as the reference computes it."""
    rng = np.random.default_rng(0)
    half = np.sort(rng.permutation(len(valid))[: len(valid) // 2])
    preds = replace(valid.take(half), confidence=rng.random(len(half)))
    r = vrd_score(valid, None, preds)
    want = reference_score(
        _rows(valid), _rows(preds, preds.confidence), label_ids=OFFICIAL_LABEL_IDS
    )
    assert parts(r) == pytest.approx(
        (want["map_relationships"], want["recall50"], want["map_phrases"], want["score"]), abs=1e-12
    )
    assert 0.4 < r.score < 0.7


def test_real_validation_against_a_shuffled_copy(valid):
    """Labels and relationships shuffled between rows (seed 0), boxes kept, random
    confidences: 0.0181 (relationships mAP 0.0074, Recall@50 0.0551, phrases mAP 0.0104),
    as the reference computes it: wrong labels score next to nothing, and only 528 of the
    3991 triplets are scored at all (the others name a label their image does not have)."""
    rng = np.random.default_rng(0)
    perm = rng.permutation(len(valid))
    preds = replace(
        valid, label1=valid.label1[perm], label2=valid.label2[perm],
        relation=valid.relation[perm], confidence=rng.random(len(valid)),
    )  # fmt: skip
    r = vrd_score(valid, None, preds)
    want = reference_score(
        _rows(valid), _rows(preds, preds.confidence), label_ids=OFFICIAL_LABEL_IDS
    )
    assert parts(r) == pytest.approx(
        (want["map_relationships"], want["recall50"], want["map_phrases"], want["score"]), abs=1e-12
    )
    assert r.score < 0.1


def test_evaluate_vrd_reads_the_three_files(tmp_path):
    # The verified-labels case above, through files: truth CSV, labels CSV, submission.
    (tmp_path / "truth.csv").write_text(
        "ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,"
        "RelationshipLabel\nA,/m/man,/m/table,0.1,0.4,0.1,0.9,0.3,0.9,0.5,0.9,at\n"
    )
    (tmp_path / "labels.csv").write_text(
        "ImageID,LabelName,Confidence\nA,/m/man,1\nA,/m/table,1\nA,/m/chair,0\n"
    )
    hit = "0.7 /m/man 0.1 0.1 0.4 0.9 /m/table 0.3 0.5 0.9 0.9 at"
    negative = "0.9 /m/man 0 0 0.05 0.05 /m/chair 0.95 0.95 1 1 at"
    (tmp_path / "sub.csv").write_text(f"ImageId,PredictionString\nA,{negative} {hit}\nB,\n")
    r = evaluate_vrd(tmp_path / "sub.csv", tmp_path / "truth.csv", tmp_path / "labels.csv")
    assert (r.map_relationships, r.recall50, r.map_phrases) == (0.5, 1.0, 0.5)
    assert parts(evaluate_vrd(tmp_path / "sub.csv", tmp_path / "truth.csv")) == (1, 1, 1, 1)
    (tmp_path / "other.csv").write_text(f"ImageId,PredictionString\nC,{hit}\n")
    with pytest.raises(DlfError, match="none of its 1 images"):
        evaluate_vrd(tmp_path / "other.csv", tmp_path / "truth.csv")
