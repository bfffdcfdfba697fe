"""The Open Images Challenge 2019 detection metric, rule by rule.

Reference: the official evaluator in tensorflow/models (object_detection:
oid_challenge_evaluation.py, OpenImagesChallengeEvaluator, ObjectDetectionEvaluation,
per_image_evaluation.py, metrics.py, oid_hierarchical_labels_expansion.py). Every
expected value below is worked by hand in the comment beside it; the last tests compare
dlf with a loop-per-image-and-class reference written from the official structure
(tests/tasks/oid/reference.py) on many random cases, exactly (bit for bit).

Boxes are (xmin, ymin, xmax, ymax) fractions. Classes in the hand cases:
0 Animal (parent of 1), 1 Cat, 2 Car (no relatives).
"""

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.oid.files import Boxes, Detections, ImageLabels
from dlf.tasks.oid.hierarchy import Hierarchy
from dlf.tasks.oid.metric import evaluate_oid, oid_map, voc_ap
from tasks.oid.reference import reference_map

ANIMAL, CAT, CAR = 0, 1, 2
TREE = Hierarchy.from_ancestors([set(), {ANIMAL}, set()])
A = (0.1, 0.1, 0.3, 0.3)
B = (0.6, 0.6, 0.9, 0.9)
FAR = (0.4, 0.0, 0.5, 0.05)  # overlaps neither A nor B


def truth_boxes(*rows) -> Boxes:
    """rows: (image, class, box) or (image, class, box, group_of)."""
    rows = [(*r, 0) if len(r) == 3 else r for r in rows]
    n = len(rows)
    return Boxes(
        image_ids=np.array([r[0] for r in rows], dtype=str),
        labels=np.array([r[1] for r in rows], dtype=np.int64),
        boxes=np.array([r[2] for r in rows], dtype=float).reshape(-1, 4),
        group_of=np.array([r[3] for r in rows], dtype=np.int8),
        occluded=np.full(n, -1, np.int8),
        truncated=np.full(n, -1, np.int8),
        lines=np.arange(n) + 2,
    )


def image_labels(*rows) -> ImageLabels:
    """rows: (image, class, confidence)."""
    return ImageLabels(
        image_ids=np.array([r[0] for r in rows], dtype=str),
        labels=np.array([r[1] for r in rows], dtype=np.int64),
        confidence=np.array([r[2] for r in rows], dtype=np.int8),
        lines=np.arange(len(rows)) + 2,
    )


def detections(**images) -> Detections:
    """images: image_id=[(class, score, box), ...] in submission order."""
    dets = []
    for rows in images.values():
        dets.append(
            (
                [r[0] for r in rows],
                [r[1] for r in rows],
                np.array([r[2] for r in rows], dtype=float).reshape(-1, 4),
            )
        )
    return Detections.from_lists(list(images), dets)


def score(boxes, labels, dets, tree=TREE, n_classes=3):
    """dlf's result, after checking that the reference agrees with it exactly."""
    result = oid_map(boxes, labels, dets, tree, n_classes)
    _, ref_ap, ref_n_gt = reference_map(
        boxes, labels, dets, tree.ancestors, tree.descendants, n_classes
    )
    np.testing.assert_array_equal(result.ap, ref_ap)
    np.testing.assert_array_equal(result.n_gt, ref_n_gt)
    return result


NO_LABELS = image_labels()


def test_voc_ap_by_hand():
    # precision [1, 1/2, 2/3] at recall [1/3, 1/3, 2/3]: the envelope is 1 up to recall 1/3,
    # then 2/3 up to 2/3, then nothing: AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    assert voc_ap(np.array([1, 0.5, 2 / 3]), np.array([1 / 3, 1 / 3, 2 / 3])) == pytest.approx(
        5 / 9
    )
    assert voc_ap(np.array([]), np.array([])) == 0.0  # no detection at all: AP 0


def test_one_perfect_detection():
    r = score(truth_boxes(("i1", CAR, A)), NO_LABELS, detections(i1=[(CAR, 0.9, A)]))
    # Car: one TP of one box -> AP 1; Animal and Cat have no box -> NaN, left out of the mean
    assert r.ap[CAR] == 1.0 and np.isnan(r.ap[[ANIMAL, CAT]]).all()
    assert r.map == 1.0


def test_false_positive_ranked_first_halves_precision():
    # two Car boxes; ranking: FP (0.9), TP (0.8). precision [0, 1/2], recall [0, 1/2];
    # envelope 1/2 up to recall 1/2, 0 after: AP = 1/2 * 1/2 = 0.25
    r = score(
        truth_boxes(("i1", CAR, A), ("i1", CAR, B)),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, FAR), (CAR, 0.8, A)]),
    )
    assert r.ap[CAR] == pytest.approx(0.25)


def test_duplicate_detection_is_a_false_positive():
    # boxes A, B; ranking TP (A, 0.9), FP (A again, 0.8), TP (B, 0.7):
    # precision [1, 1/2, 2/3], recall [1/2, 1/2, 1] -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    r = score(
        truth_boxes(("i1", CAR, A), ("i1", CAR, B)),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, A), (CAR, 0.8, A), (CAR, 0.7, B)]),
    )
    assert r.ap[CAR] == pytest.approx(5 / 6)


def test_detection_whose_best_box_is_taken_tries_no_other():
    # two overlapping boxes P and Q (Q is P shifted right by 0.04). Each detection D has
    # IoU 0.951 with P and 0.860 with Q: both >= 0.5 but P is the best. The first D takes P,
    # the second finds P taken and is a false positive (it does not fall back to Q).
    # ranking TP, FP with 2 boxes: precision [1, 1/2], recall [1/2, 1/2] -> AP 1/2
    P, Q, D = (0.0, 0.0, 0.4, 0.4), (0.04, 0.0, 0.44, 0.4), (0.01, 0.0, 0.41, 0.4)
    r = score(
        truth_boxes(("i1", CAR, P), ("i1", CAR, Q)),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, D), (CAR, 0.8, D)]),
    )
    assert r.ap[CAR] == pytest.approx(0.5)


def test_iou_threshold_is_inclusive_at_one_half():
    # box (0, 0, 0.5, 0.5) (area 1/4), detection (0, 0, 0.5, 0.25) (area 1/8, inside it):
    # IoU = (1/8) / (1/4) = 0.5 exactly (all values exact in binary) -> a TP: AP 1
    r = score(
        truth_boxes(("i1", CAR, (0, 0, 0.5, 0.5))),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, (0, 0, 0.5, 0.25))]),
    )
    assert r.ap[CAR] == 1.0


def test_ground_truth_expanded_up_predictions_not():
    # a Cat box counts for Animal too (n_gt 1 each). A detection labelled Animal is a TP for
    # Animal (AP 1); nobody predicted Cat (AP 0). Mean over the two classes with boxes: 1/2.
    r = score(truth_boxes(("i1", CAT, A)), NO_LABELS, detections(i1=[(ANIMAL, 0.9, A)]))
    assert list(r.n_gt) == [1, 1, 0]
    assert r.ap[ANIMAL] == 1.0 and r.ap[CAT] == 0.0 and r.map == 0.5
    # predictions are not expanded: a Cat detection is no Animal detection (AP 0 for Animal)
    r = score(truth_boxes(("i1", CAT, A)), NO_LABELS, detections(i1=[(CAT, 0.9, A)]))
    assert r.ap[CAT] == 1.0 and r.ap[ANIMAL] == 0.0 and r.map == 0.5


def test_negative_label_expands_down_to_descendants():
    # Cat box on i2 found at score 0.5. On i1 the only truth is "no Animal" (confidence 0),
    # which the expansion sends down to Cat: Cat is verified on i1, so the Cat detection
    # there (0.9) is a false positive ranked first: precision [0, 1/2], recall [0, 1] -> 1/2
    boxes, dets = (
        truth_boxes(("i2", CAT, B)),
        detections(i1=[(CAT, 0.9, A)], i2=[(CAT, 0.5, B)]),
    )
    r = score(boxes, image_labels(("i1", ANIMAL, 0)), dets)
    assert r.ap[CAT] == pytest.approx(0.5)
    # without the hierarchy Cat is not verified on i1: that detection is dropped, AP 1
    flat = Hierarchy.flat(3)
    assert score(boxes, image_labels(("i1", ANIMAL, 0)), dets, tree=flat).ap[CAT] == 1.0


def test_positive_label_expands_up_to_ancestors():
    # "Cat present" on i1 (no box) verifies Animal there too: an Animal detection on i1 (0.9)
    # is a FP ranked before the Animal TP on i2 (0.5): AP 1/2. A *negative* Cat label would
    # not go up (only down), so the detection would be dropped: AP 1.
    boxes = truth_boxes(("i2", ANIMAL, B))
    dets = detections(i1=[(ANIMAL, 0.9, A)], i2=[(ANIMAL, 0.5, B)])
    assert score(boxes, image_labels(("i1", CAT, 1)), dets).ap[ANIMAL] == pytest.approx(0.5)
    assert score(boxes, image_labels(("i1", CAT, 0)), dets).ap[ANIMAL] == 1.0


def test_unverified_classes_are_dropped_and_a_label_of_either_confidence_verifies():
    # Car box on i2 found at 0.5; a Car detection at 0.9 on i1, where only an Animal box is.
    # Car is not verified on i1: the detection is dropped -> AP 1.
    boxes = truth_boxes(("i1", ANIMAL, A), ("i2", CAR, B))
    dets = detections(i1=[(CAR, 0.9, B)], i2=[(CAR, 0.5, B)])
    assert score(boxes, NO_LABELS, dets).ap[CAR] == 1.0
    # a Car image label on i1, present or absent, makes it count: FP first -> AP 1/2
    for confidence in (0, 1):
        r = score(boxes, image_labels(("i1", CAR, confidence)), dets)
        assert r.ap[CAR] == pytest.approx(0.5)


def test_images_absent_from_the_truth_are_dropped():
    # i9 has no truth at all: its FP at 0.9 is ignored -> AP 1
    r = score(
        truth_boxes(("i1", CAR, A)),
        NO_LABELS,
        detections(i9=[(CAR, 0.9, A)], i1=[(CAR, 0.5, A)]),
    )
    assert r.ap[CAR] == 1.0


def test_invalid_boxes_are_removed_before_matching():
    # zero-width (xmin == xmax) and inverted (ymin > ymax) detections at 0.9 and 0.8 would be
    # FPs ranked first (AP 1/3); they are removed, leaving the TP at 0.5 -> AP 1
    r = score(
        truth_boxes(("i1", CAR, A)),
        NO_LABELS,
        detections(
            i1=[(CAR, 0.9, (0.2, 0.1, 0.2, 0.3)), (CAR, 0.8, (0.1, 0.3, 0.3, 0.1)), (CAR, 0.5, A)]
        ),
    )
    assert r.ap[CAR] == 1.0


def test_score_floor_of_the_official_nms():
    # FP at -9.5 ranked before the TP at -9.8: AP 1/2. A FP at exactly -10 is not kept
    # (scores must be > -10): AP 1.
    boxes = truth_boxes(("i1", CAR, A))
    r = score(boxes, NO_LABELS, detections(i1=[(CAR, -9.5, B), (CAR, -9.8, A)]))
    assert r.ap[CAR] == pytest.approx(0.5)
    r = score(boxes, NO_LABELS, detections(i1=[(CAR, -10.0, B), (CAR, -9.8, A)]))
    assert r.ap[CAR] == 1.0


def test_at_most_ten_thousand_detections_per_image_and_class():
    # 10,000 FPs at score 1 and the TP at 0.5: the TP is the 10,001st and is cut -> AP 0
    # (kept, it would give recall 1 at precision 1/10001: AP 1e-4)
    fps = [(CAR, 1.0, B)] * 10_000
    r = oid_map(
        truth_boxes(("i1", CAR, A)), NO_LABELS, detections(i1=[*fps, (CAR, 0.5, A)]), TREE, 3
    )
    assert r.ap[CAR] == 0.0
    # one FP fewer and the TP is kept: precision 1/10000 at recall 1
    r = oid_map(
        truth_boxes(("i1", CAR, A)), NO_LABELS, detections(i1=[*fps[1:], (CAR, 0.5, A)]), TREE, 3
    )
    assert r.ap[CAR] == pytest.approx(1e-4)


def test_ties_follow_numpys_reversed_argsort():
    # Two detections tied at 0.8 on one image: first listed a FP, then a TP. The official
    # code orders them by np.argsort(scores)[::-1], within the image and again over the
    # class. For two equal values numpy's argsort is stable (index order), so reversed the
    # later one comes first: within the image [TP, FP]; reversed again over the class:
    # [FP, TP] -> precision [0, 1/2] at recall [0, 1] -> AP 1/2. (Had ties kept the listed
    # order both times, the ranking would be [FP, TP] too; had either sort kept it once,
    # [TP, FP] -> AP 1.)
    stable = list(np.argsort(np.array([0.8, 0.8]))[::-1]) == [1, 0]
    r = score(truth_boxes(("i1", CAR, A)), NO_LABELS, detections(i1=[(CAR, 0.8, B), (CAR, 0.8, A)]))
    assert r.ap[CAR] == pytest.approx(0.5 if stable else r.ap[CAR])
    # the same pair on two images (FP on i1, TP on i2, ImageId order): the class list is
    # [FP, TP], reversed-stable ranking [TP, FP] -> AP 1
    r = score(
        truth_boxes(("i2", CAR, A)),
        image_labels(("i1", CAR, 0)),
        detections(i2=[(CAR, 0.8, A)], i1=[(CAR, 0.8, B)]),
    )
    assert r.ap[CAR] == (1.0 if stable else r.ap[CAR])


G = (0.0, 0.0, 0.5, 0.5)  # a group-of box


def test_group_of_box_absorbs_its_detections_and_scores_once():
    # three small detections inside group-of box G (IoU with G is small, IoA = 1): all
    # absorbed; G is one TP with their highest score 0.9. A FP elsewhere at 0.95 ranks first:
    # precision [0, 1/2], recall [0, 1] -> AP 1/2 (without the FP: AP 1)
    inside = [
        (CAR, s, (0.1 * k, 0.1, 0.1 * k + 0.1, 0.2)) for k, s in [(0, 0.9), (1, 0.6), (2, 0.3)]
    ]
    r = score(truth_boxes(("i1", CAR, G, 1)), NO_LABELS, detections(i1=inside))
    assert r.ap[CAR] == 1.0 and r.n_gt[CAR] == 1
    r = score(truth_boxes(("i1", CAR, G, 1)), NO_LABELS, detections(i1=[(CAR, 0.95, B), *inside]))
    assert r.ap[CAR] == pytest.approx(0.5)


def test_ioa_is_over_the_detection_area():
    # a detection (0, 0, 1, 1) that contains G: intersection 1/4 = all of G, but only 1/4 of
    # the detection -> IoA 0.25 < 0.5: not absorbed, a FP. IoU with G is 1/4 too.
    # Ranking: FP (0.9); G has no detection -> n_gt 1, no TP -> AP 0
    r = score(truth_boxes(("i1", CAR, G, 1)), NO_LABELS, detections(i1=[(CAR, 0.9, (0, 0, 1, 1))]))
    assert r.ap[CAR] == 0.0


def test_group_of_box_without_detection_is_a_false_negative():
    # ordinary box A found (TP 0.9), group-of box far away not found: n_gt 2 -> recall 1/2 at
    # precision 1 -> AP 1/2
    r = score(
        truth_boxes(("i1", CAR, A), ("i1", CAR, (0.6, 0.6, 1.0, 1.0), 1)),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, A)]),
    )
    assert r.n_gt[CAR] == 2 and r.ap[CAR] == pytest.approx(0.5)


def test_group_of_box_needs_a_positive_score():
    # G's only detection scores -1: absorbed (ignored), and G's score max(0, -1) = 0 is not
    # > 0, so G adds no TP. Ordinary box B found at 0.8: recall 1/2 at precision 1 -> AP 1/2
    r = score(
        truth_boxes(("i1", CAR, G, 1), ("i1", CAR, B)),
        NO_LABELS,
        detections(i1=[(CAR, 0.8, B), (CAR, -1.0, (0.1, 0.1, 0.2, 0.2))]),
    )
    assert r.ap[CAR] == pytest.approx(0.5)


def test_duplicate_of_an_ordinary_box_inside_a_group_is_absorbed():
    # A lies inside group-of box G; B is outside it. Detections: A at 0.9 takes A (TP); B at
    # 0.85 is a FP; A again at 0.8 finds A taken (a FP after the IoU stage), but it lies
    # inside G (IoA 1) -> absorbed, and G becomes a TP at 0.8.
    # Ranking [TP .9, FP .85, TP .8], n_gt 2: precision [1, 1/2, 2/3], recall [1/2, 1/2, 1]
    # -> AP = 1/2 * 1 + 1/2 * 2/3 = 5/6
    dets = detections(i1=[(CAR, 0.9, A), (CAR, 0.8, A), (CAR, 0.85, B)])
    r = score(truth_boxes(("i1", CAR, A), ("i1", CAR, G, 1)), NO_LABELS, dets)
    assert r.ap[CAR] == pytest.approx(5 / 6)
    # without G: [TP, FP, FP] with n_gt 1 -> full recall at precision 1 first: AP 1
    assert score(truth_boxes(("i1", CAR, A)), NO_LABELS, dets).ap[CAR] == 1.0


def test_group_of_flag_minus_one_reads_as_group_of():
    # the official code casts IsGroupOf to bool: -1 is a group-of box. A small detection
    # inside it is absorbed and makes it a TP (AP 1); as an ordinary box it would be a FP.
    r = score(
        truth_boxes(("i1", CAR, G, -1)),
        NO_LABELS,
        detections(i1=[(CAR, 0.9, (0.1, 0.1, 0.2, 0.2))]),
    )
    assert r.ap[CAR] == 1.0


def test_classes_without_ground_truth_are_left_out_of_the_mean():
    # Car: TP -> AP 1. Animal: verified by a label, a FP detection, but no box -> AP NaN,
    # left out of the mean; Cat: nothing -> NaN. Mean = 1.
    r = score(
        truth_boxes(("i1", CAR, A)),
        image_labels(("i1", ANIMAL, 1)),
        detections(i1=[(CAR, 0.9, A), (ANIMAL, 0.8, B)]),
    )
    assert np.isnan(r.ap[ANIMAL]) and r.map == 1.0
    # a class with a box but no detection counts with AP 0: Car 1, Cat 0 (Animal 0 via the
    # expanded Cat box): mean (1 + 0 + 0) / 3
    r = score(
        truth_boxes(("i1", CAR, A), ("i1", CAT, B)), NO_LABELS, detections(i1=[(CAR, 0.9, A)])
    )
    assert r.map == pytest.approx(1 / 3)


def test_evaluate_oid_reads_the_files(tmp_path):
    (tmp_path / "classes.csv").write_text("/m/a,Animal\n/m/c,Cat\n/m/car,Car\n")
    (tmp_path / "h.json").write_text(
        '{"LabelName": "/m/root", "Subcategory": [{"LabelName": "/m/a", "Subcategory":'
        ' [{"LabelName": "/m/c"}]}, {"LabelName": "/m/car"}]}'
    )
    (tmp_path / "boxes.csv").write_text(
        "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf\nim1,/m/c,0.1,0.3,0.1,0.3,0\n"
    )
    (tmp_path / "labels.csv").write_text("ImageID,Source,LabelName,Confidence\nim1,h,/m/car,0\n")
    # Animal TP (the Cat box expanded); Car FP (verified absent); Cat not predicted: AP 0
    (tmp_path / "sub.csv").write_text(
        "ImageId,PredictionString\nim1,/m/a 0.9 0.1 0.1 0.3 0.3 /m/car 0.5 0.1 0.1 0.3 0.3\n"
    )
    r = evaluate_oid(
        tmp_path / "sub.csv",
        tmp_path / "boxes.csv",
        tmp_path / "labels.csv",
        tmp_path / "h.json",
        tmp_path / "classes.csv",
    )
    assert list(r.n_gt) == [1, 1, 0] and r.map == 0.5


# --- the whole against the plain reference, on random cases ---


def _random_boxes(rng, n, coarse):
    a = rng.integers(0, 9, size=(n, 4)) / 8 if coarse else rng.random((n, 4))
    return np.stack(
        [np.minimum(a[:, 0], a[:, 2]), np.minimum(a[:, 1], a[:, 3]),
         np.maximum(a[:, 0], a[:, 2]), np.maximum(a[:, 1], a[:, 3])], axis=1
    )  # fmt: skip


def random_case(seed):
    """A few classes with a random hierarchy, a few images, boxes (some group-of, -1 flags),
    labels of both confidences, detections near the truth and elsewhere, with tied scores,
    negative and floor scores, invalid boxes, images without truth."""
    rng = np.random.default_rng(seed)
    C = int(rng.integers(1, 7))
    ancestors = [set() for _ in range(C)]
    for c in range(1, C):
        if rng.random() < 0.6:
            p = int(rng.integers(0, c))
            ancestors[c] = {p} | ancestors[p]
    tree = Hierarchy.from_ancestors(ancestors)
    ids = [f"img{i:02d}" for i in rng.permutation(20)[: int(rng.integers(2, 9))]]
    n_truth = max(1, len(ids) - 2)
    truth_ids = ids[:n_truth]
    coarse = bool(rng.random() < 0.5)  # coarse grids make exact ties and IoU == 0.5 common
    nb = int(rng.integers(0, 25))
    box_img = rng.choice(truth_ids, nb)
    boxes = Boxes(
        image_ids=np.array(box_img, dtype=str).reshape(-1),
        labels=rng.integers(0, C, nb),
        boxes=_random_boxes(rng, nb, coarse),
        group_of=rng.choice([0, 0, 0, 1, -1], nb).astype(np.int8),
        occluded=np.full(nb, -1, np.int8),
        truncated=np.full(nb, -1, np.int8),
        lines=np.arange(nb) + 2,
    )
    nl = int(rng.integers(0, 15))
    labels = ImageLabels(
        image_ids=np.array(rng.choice(truth_ids, nl), dtype=str).reshape(-1),
        labels=rng.integers(0, C, nl),
        confidence=rng.integers(0, 2, nl).astype(np.int8),
        lines=np.arange(nl) + 2,
    )
    pred_ids = list(rng.permutation(ids)[: int(rng.integers(1, len(ids) + 1))])
    dets = []
    for image_id in pred_ids:
        k = int(rng.integers(0, 30))
        kind = int(rng.integers(0, 3))
        scores = [rng.random(k), rng.integers(0, 4, k) / 4, rng.integers(-12, 3, k) * 1.0][kind]
        b = _random_boxes(rng, k, coarse)
        labels_k = rng.integers(0, C, k)
        mine = np.flatnonzero(box_img == image_id)
        if len(mine) and k:  # half of them near a truth box, its class or a relative
            near = rng.random(k) < 0.5
            src = rng.choice(mine, k)
            jitter = rng.normal(0, 0.02, (k, 4)) * (rng.random() < 0.5)
            b[near] = np.clip(boxes.boxes[src][near] + jitter[near], 0, 1)
            labels_k[near] = boxes.labels[src][near]
        if k and rng.random() < 0.3:
            b[0] = b[0][[2, 1, 0, 3]]  # xmin >= xmax: invalid
        dets.append((labels_k, scores, b))
    return boxes, labels, Detections.from_lists(pred_ids, dets), tree, C


def test_random_cases_equal_the_reference_exactly():
    nontrivial = 0
    for seed in range(400):
        boxes, labels, dets, tree, C = random_case(seed)
        result = oid_map(boxes, labels, dets, tree, C)
        ref_map, ref_ap, ref_n_gt = reference_map(
            boxes, labels, dets, tree.ancestors, tree.descendants, C
        )
        np.testing.assert_array_equal(result.ap, ref_ap, err_msg=f"seed {seed}")
        np.testing.assert_array_equal(result.n_gt, ref_n_gt, err_msg=f"seed {seed}")
        assert result.map == ref_map or (np.isnan(result.map) and np.isnan(ref_map))
        nontrivial += bool(0 < result.map < 1)
    assert nontrivial > 150  # the cases exercise partial scores, not only 0, 1 and NaN


@pytest.mark.slow
def test_many_more_random_cases_equal_the_reference_exactly():
    for seed in range(400, 10_400):
        boxes, labels, dets, tree, C = random_case(seed)
        result = oid_map(boxes, labels, dets, tree, C)
        _, ref_ap, _ = reference_map(boxes, labels, dets, tree.ancestors, tree.descendants, C)
        np.testing.assert_array_equal(result.ap, ref_ap, err_msg=f"seed {seed}")


def test_empty_inputs():
    # no detections: every class with a box has AP 0; no truth at all: nothing to average
    r = score(truth_boxes(("i1", CAR, A)), NO_LABELS, detections())
    assert r.ap[CAR] == 0.0 and r.map == 0.0
    r = score(truth_boxes(), image_labels(("i1", CAR, 1)), detections(i1=[(CAR, 0.9, A)]))
    assert np.isnan(r.map) and (r.n_gt == 0).all()


def test_evaluate_oid_refuses_a_submission_for_other_images(tmp_path):
    (tmp_path / "classes.csv").write_text("/m/car,Car\n")
    (tmp_path / "boxes.csv").write_text(
        "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf\nim1,/m/car,0.1,0.3,0.1,0.3,0\n"
    )
    (tmp_path / "labels.csv").write_text("ImageID,Source,LabelName,Confidence\n")
    (tmp_path / "sub.csv").write_text("ImageId,PredictionString\nim7,/m/car 0.9 0 0 1 1\n")
    with pytest.raises(DlfError, match="none of the 1 images"):
        evaluate_oid(
            tmp_path / "sub.csv",
            tmp_path / "boxes.csv",
            tmp_path / "labels.csv",
            None,
            tmp_path / "classes.csv",
        )
