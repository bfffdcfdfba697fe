"""The frequency prior, counted by hand on small training sets, and its predictions ranked by
hand; then the prior alone on the real validation file (fit on half its images, scored on the
other half with the truth's boxes)."""

from pathlib import Path

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.vrd.files import RELATIONSHIPS, Triplets, read_allowed_triplets, read_vrd
from dlf.tasks.vrd.metric import vrd_score
from dlf.tasks.vrd.prior import (
    fit_frequency_prior,
    prior_predictions,
    read_frequency_prior,
    truth_boxes,
)

REAL = Path(__file__).resolve().parents[4] / "shared" / "real" / "oid-vrd-2019"

B1, B2 = (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9)
ALLOWED = {
    ("Man", "Table", "at"), ("Man", "Table", "on"), ("Man", "Table", "under"),
    ("Man", "Wooden", "is"), ("Man", "Plastic", "is"),
    ("Table", "Wooden", "is"), ("Table", "Plastic", "is"),
}  # fmt: skip


def train_of(rows) -> Triplets:
    l1, l2, rel = zip(*rows)
    n = len(rows)
    boxes2 = [B1 if r == "is" else B2 for r in rel]
    return Triplets.build(["img"] * n, l1, l2, rel, np.array([B1] * n), np.array(boxes2))


TRAIN = train_of(
    [("Man", "Table", "at")] * 3
    + [("Man", "Table", "on"), ("Man", "Wooden", "is")]
    + [("Table", "Wooden", "is")] * 2
    + [("Man", "Table", "hits")]  # not allowed: not counted
)


def test_counts_and_add_one_smoothing_by_hand():
    prior = fit_frequency_prior(TRAIN, ALLOWED, smoothing=1.0, background=False)
    p = prior.probability
    # (Man, Table): counts at 3, on 1, under 0 (hits not allowed) -> +1 each: 4, 2, 1 of 7.
    assert p("Man", "Table", "at") == pytest.approx(4 / 7)
    assert p("Man", "Table", "on") == pytest.approx(2 / 7)
    assert p("Man", "Table", "under") == pytest.approx(1 / 7)
    assert p("Man", "Table", "hits") == 0.0  # not allowed
    # Attributes of Man: Wooden 1, Plastic 0 -> 2/3, 1/3; of Table: 2, 0 -> 3/4, 1/4.
    assert p("Man", "Wooden", "is") == pytest.approx(2 / 3)
    assert p("Man", "Plastic", "is") == pytest.approx(1 / 3)
    assert p("Table", "Wooden", "is") == pytest.approx(3 / 4)
    # A pair with nothing allowed, an unknown class: no distribution.
    assert p("Table", "Man", "at") == 0.0
    assert p("Dog", "Table", "at") == 0.0
    assert prior.n_ignored == 1
    assert prior.counts[prior.index("Man"), prior.index("Table"), RELATIONSHIPS.index("at")] == 3


def test_without_smoothing_unseen_triplets_get_zero():
    prior = fit_frequency_prior(TRAIN, ALLOWED, smoothing=0.0, background=False)
    assert prior.probability("Man", "Table", "at") == pytest.approx(3 / 4)
    assert prior.probability("Man", "Table", "under") == 0.0
    assert prior.probability("Table", "Plastic", "is") == 0.0
    # Every distribution sums to 1 (or is empty).
    pair = np.delete(prior.probs, RELATIONSHIPS.index("is"), axis=2).sum(axis=2)
    assert set(np.round(pair[pair > 0], 12)) == {1.0}


def test_background_counts_unrelated_pairs_and_undescribed_boxes_by_hand():
    m1, t1, m2 = (0.0, 0.0, 0.2, 0.2), (0.5, 0.5, 0.9, 0.9), (0.3, 0.0, 0.4, 0.2)
    train = Triplets.build(
        ["a", "a", "a"], ["Man", "Man", "Man"], ["Table", "Table", "Wooden"], ["at", "on", "is"],
        np.array([m1, m1, m2]), np.array([t1, t1, m2]),
    )  # fmt: skip
    # Boxes of image a: M1, T1, M2 (two Man, one Table). Ordered pairs of distinct boxes:
    # (Man, Table) 2 = (M1, T1) linked + (M2, T1) unlinked -> 1 none. Boxes without an
    # attribute: Man 1 (M1), Table 1.
    prior = fit_frequency_prior(train, ALLOWED, smoothing=1.0)
    man, table = prior.index("Man"), prior.index("Table")
    assert prior.none_pairs[man, table] == 1 and prior.none_pairs[table, man] == 2
    assert prior.none_pairs[man, man] == 2  # (M1, M2), (M2, M1)
    assert (prior.none_boxes[man], prior.none_boxes[table]) == (1, 1)
    # (Man, Table): at 1+1, on 1+1, under 0+1, none 1+1 -> 2/7, 2/7, 1/7.
    p = prior.probability
    assert (p("Man", "Table", "at"), p("Man", "Table", "under")) == pytest.approx((2 / 7, 1 / 7))
    # Man's attributes: Wooden 1+1, Plastic 0+1, none 1+1 -> 2/5, 1/5; Table's 1/4 each.
    assert (p("Man", "Wooden", "is"), p("Man", "Plastic", "is")) == pytest.approx((0.4, 0.2))
    assert p("Table", "Wooden", "is") == pytest.approx(1 / 4)
    # Without background: 2/5, 1/5 and 2/3.
    plain = fit_frequency_prior(train, ALLOWED, smoothing=1.0, background=False)
    assert plain.probability("Man", "Table", "at") == pytest.approx(2 / 5)
    assert plain.probability("Man", "Wooden", "is") == pytest.approx(2 / 3)


def test_prior_predictions_ranked_by_hand():
    prior = fit_frequency_prior(TRAIN, ALLOWED, smoothing=1.0, background=False)
    man, table = (0.1, 0.1, 0.4, 0.9), (0.3, 0.5, 0.9, 0.9)
    boxes = {"img": (np.array([man, table]), ["Man", "Table"], np.array([0.9, 0.7]))}
    # Candidates: Man wooden .9 * 2/3 = .6; Table wooden .7 * 3/4 = .525; Man at Table
    # .9 * .7 * 4/7 = .36; Man plastic .3; Man on Table .18; Table plastic .175; Man under
    # Table .09. (Table, Man, *) has nothing allowed.
    got = prior_predictions(boxes, prior, top=4)
    names = got.label_names
    triplets = list(
        zip(names[got.label1].tolist(), names[got.label2].tolist(),
            [RELATIONSHIPS[r] for r in got.relation.tolist()])
    )  # fmt: skip
    assert triplets == [
        ("Man", "Wooden", "is"), ("Table", "Wooden", "is"), ("Man", "Table", "at"),
        ("Man", "Plastic", "is"),
    ]  # fmt: skip
    np.testing.assert_allclose(got.confidence, [0.6, 0.525, 0.36, 0.3])
    # Boxes: an attribute's two boxes are its one box; a pair's are subject's and object's.
    np.testing.assert_allclose(got.box1[0], man, rtol=1e-6)
    np.testing.assert_allclose(got.box2[0], man, rtol=1e-6)
    np.testing.assert_allclose(got.box1[2], man, rtol=1e-6)
    np.testing.assert_allclose(got.box2[2], table, rtol=1e-6)
    # All 7 without a cap; an image with no box is listed with no triplet.
    boxes["empty"] = (np.zeros((0, 4)), [], np.zeros(0))
    every = prior_predictions(boxes, prior, top=100)
    assert len(every) == 7 and every.image_ids.tolist() == ["img", "empty"]
    # max_boxes=1 keeps the Man box only: its two attributes.
    assert len(prior_predictions(boxes, prior, max_boxes=1)) == 2


def test_truth_boxes_lists_each_box_once():
    truth = Triplets.build(
        ["a", "a", "a"], ["Man", "Man", "Man"], ["Table", "Wooden", "Table"], ["at", "is", "on"],
        np.array([B1, B1, B1]), np.array([B2, B1, B2]),
    )  # fmt: skip
    boxes, names, scores = truth_boxes(truth)["a"]
    assert sorted(names) == ["Man", "Table"]  # the attribute is not a box
    assert len(boxes) == 2 and scores.tolist() == [1.0, 1.0]


def test_read_frequency_prior_refuses_or_skips_disallowed_rows(tmp_path):
    header = "ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,"
    rows = [
        "a,Man,Table,0.1,0.4,0.1,0.9,0.3,0.9,0.5,0.9,at",
        "a,Man,Table,0.1,0.4,0.1,0.9,0.3,0.9,0.5,0.9,hits",
    ]
    (tmp_path / "train.csv").write_text(header + "RelationshipLabel\n" + "\n".join(rows) + "\n")
    allowed = "\n".join(",".join(t) for t in sorted(ALLOWED))
    (tmp_path / "triplets.csv").write_text(
        "LabelName1,LabelName2,RelationshipLabel\n" + allowed + "\n"
    )
    with pytest.raises(DlfError, match=r"line 3.*not in the allowed triplets"):
        read_frequency_prior(tmp_path / "train.csv", tmp_path / "triplets.csv")
    prior = read_frequency_prior(
        tmp_path / "train.csv", tmp_path / "triplets.csv", skip_disallowed=True
    )
    assert prior.n_ignored == 1
    # at 1+1, on 0+1, under 0+1; the one pair of boxes is linked: none 0+1 -> 2/5.
    assert prior.probability("Man", "Table", "at") == pytest.approx(2 / 5)


def test_the_prior_alone_on_the_real_validation_file():
    """Fit on the images of one half of the real validation file (seed 0: 768 images),
    predict the other half's triplets (769 images, 1966 triplets) from its truth boxes
    (confidence 1) with the prior alone, top 100 per image. With background, k = 1: score
    0.7869 (relationships mAP 0.7479, Recall@50 0.9629, phrases mAP 0.7379); without
    background 0.7676. These are high because the boxes are the truth's and there is no
    labels file (the real one is absent), so no proposed label can be a false positive:
    the prior only has to rank the few relationships a pair of true boxes allows."""
    valid_csv = REAL / "challenge-2019-validation-vrd.csv"
    if not valid_csv.is_file():
        pytest.skip(f"{valid_csv} absent")
    allowed = read_allowed_triplets(REAL / "challenge-2019-relationship-triplets.csv")
    valid = read_vrd(valid_csv)
    rng = np.random.default_rng(0)
    fit_half = rng.permutation(len(valid.image_ids))[: len(valid.image_ids) // 2]
    in_fit = np.isin(valid.image, fit_half)
    held = valid.take(np.flatnonzero(~in_fit))
    boxes = {k: v for k, v in truth_boxes(held).items() if k in set(held.image_ids[held.image])}
    assert (len(boxes), len(held)) == (769, 1966)
    figures = []
    for background in (True, False):
        prior = fit_frequency_prior(valid.take(np.flatnonzero(in_fit)), allowed, 1.0, background)
        r = vrd_score(held, None, prior_predictions(boxes, prior, top=100))
        figures.append((r.score, r.map_relationships, r.recall50, r.map_phrases))
    assert figures[0] == pytest.approx((0.7869, 0.7479, 0.9629, 0.7379), abs=5e-5)
    assert figures[1][0] == pytest.approx(0.7676, abs=5e-5)
