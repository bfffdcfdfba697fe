"""Property-based tests (hypothesis): CSV readers round-trip what the writers write, box
operations keep boxes inside the image and agree with the same operation on a mask, and every
metric stays in its bounds, ignores row order, is symmetric where it should be, and equals
sklearn (the reference). The RLE codec's properties live in tests/tasks/siim/test_siim_rle.py.
"""

import string

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from dlf.data.augment import Flip, transform_boxes
from dlf.tasks.aptos.files import read_labels
from dlf.tasks.aptos.files import write_submission as write_aptos
from dlf.tasks.siim.files import read_submission
from dlf.tasks.siim.files import write_submission as write_siim
from dlf.tasks.siim.rle import rle_decode, rle_encode
from dlf.train.metrics import (
    QWK,
    Dice,
    F1Score,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    dice_per_image,
    error_rate,
    quadratic_weighted_kappa,
    top_k_accuracy,
)

FEW = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# ---- CSV readers --------------------------------------------------------------------------

plain_id = st.text(string.ascii_letters + string.digits, min_size=1, max_size=4).flatmap(
    lambda head: st.text(string.ascii_letters + string.digits + "_-", max_size=12).map(
        lambda t: head + t
    )
)


@FEW
@given(rows=st.dictionaries(plain_id, st.integers(0, 4), min_size=1, max_size=30))
def test_aptos_submission_round_trips_in_order(tmp_path, rows):
    path = tmp_path / "submission.csv"
    write_aptos(path, list(rows), list(rows.values()))
    assert list(read_labels(path).items()) == list(rows.items())


@FEW
@given(
    ids=st.lists(plain_id, min_size=1, max_size=8, unique=True),
    seed=st.integers(0, 2**31),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
)
def test_siim_submission_round_trips_masks(tmp_path, ids, seed, h, w):
    rng = np.random.default_rng(seed)
    masks = {i: rng.random((h, w)) < rng.random() for i in ids}
    path = tmp_path / "submission.csv"
    write_siim(path, [(i, rle_encode(m)) for i, m in masks.items()])
    back = read_submission(path, h, w)
    assert list(back) == ids
    for i in ids:
        assert np.array_equal(rle_decode(back[i], h, w), masks[i])


# ---- boxes ----------------------------------------------------------------------------------


@st.composite
def boxes_in(draw, h: int, w: int, m: int):
    out = []
    for _ in range(m):
        x1, x2 = sorted(draw(st.integers(0, w)) for _ in range(2))
        y1, y2 = sorted(draw(st.integers(0, h)) for _ in range(2))
        out.append([x1, y1, x2, y2])
    return torch.tensor(out, dtype=torch.float32)


@st.composite
def image_and_boxes(draw):
    h, w, m = draw(st.integers(4, 24)), draw(st.integers(4, 24)), draw(st.integers(1, 5))
    return h, w, draw(boxes_in(h, w, m))


def raster(boxes: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Pixels whose centre lies in any box: the independent picture of a set of boxes."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    out = torch.zeros(h, w, dtype=torch.bool)
    for x1, y1, x2, y2 in boxes.tolist():
        out |= (xs > x1) & (xs < x2) & (ys > y1) & (ys < y2)
    return out


@FEW
@given(case=image_and_boxes(), vertical=st.booleans())
def test_flip_moves_boxes_with_the_mask_stays_inside_and_twice_is_identity(case, vertical):
    h, w, boxes = case
    mask = raster(boxes, h, w)
    flip = Flip(p=1.0, vertical=vertical, kinds=("image", "mask", "boxes"))
    batch = (torch.zeros(1, 1, h, w), mask[None].to(torch.uint8), boxes[None])
    once = flip(batch)
    b = once[2][0]
    assert (b[:, [0, 2]] >= 0).all() and (b[:, [0, 2]] <= w).all()
    assert (b[:, [1, 3]] >= 0).all() and (b[:, [1, 3]] <= h).all()
    assert (b[:, 2] >= b[:, 0]).all() and (b[:, 3] >= b[:, 1]).all()
    assert torch.equal(raster(b, h, w), once[1][0].bool())  # boxes follow the mask
    twice = flip(once)
    assert torch.equal(twice[2], batch[2]) and torch.equal(twice[1], batch[1])


@FEW
@given(
    case=image_and_boxes(),
    angle=st.floats(-180, 180),
    scale=st.floats(0.5, 2.0),
    tx=st.floats(-10, 10),
    ty=st.floats(-10, 10),
)
def test_transform_boxes_keeps_boxes_inside_and_identity_changes_nothing(
    case, angle, scale, tx, ty
):
    h, w, boxes = case
    labels = torch.arange(len(boxes))[None]
    c, s = np.cos(np.radians(angle)) * scale, np.sin(np.radians(angle)) * scale
    A = torch.tensor([[[c, -s], [s, c]]], dtype=torch.float32)
    out, kept = transform_boxes(boxes[None], labels, A, torch.tensor([[tx, ty]]), h, w)
    live = out[0][kept[0] >= 0]
    assert (live[:, [0, 2]] >= 0).all() and (live[:, [0, 2]] <= w).all()
    assert (live[:, [1, 3]] >= 0).all() and (live[:, [1, 3]] <= h).all()
    assert ((live[:, 2:] - live[:, :2]) >= 1.0).all()  # degenerate boxes are dropped, not kept
    same, _ = transform_boxes(boxes[None], None, torch.eye(2)[None], torch.zeros(1, 2), h, w)
    assert torch.allclose(same[0], boxes, atol=1e-5)


# ---- metrics --------------------------------------------------------------------------------


@st.composite
def labelled(draw, min_classes: int = 2):
    n, k = draw(st.integers(1, 40)), draw(st.integers(min_classes, 6))
    seed = draw(st.integers(0, 2**31))
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, k, generator=g), torch.randint(0, k, (n,), generator=g), k


def perm(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


@FEW
@given(case=labelled(), seed=st.integers(0, 1000))
def test_accuracy_error_rate_top_k(case, seed):
    scores, y, k = case
    acc = float(accuracy(scores, y))
    assert acc == pytest.approx(skm.accuracy_score(y, scores.argmax(-1)))
    assert 0 <= acc <= 1 and float(error_rate(scores, y)) == pytest.approx(1 - acc)
    p = perm(len(y), seed)
    assert float(accuracy(scores[p], y[p])) == pytest.approx(acc)
    top = min(2, k)
    ref = skm.top_k_accuracy_score(y, scores.numpy(), k=top, labels=range(k)) if k > 2 else acc
    if k > 2:
        assert float(top_k_accuracy(scores, y, top)) == pytest.approx(ref)
    metric = TopKAccuracy(top)
    for chunk in torch.split(p, 7):  # any batching, any order
        metric.update(scores[chunk], y[chunk])
    assert float(metric.compute()) == pytest.approx(float(top_k_accuracy(scores, y, top)))


@FEW
@given(case=labelled(), seed=st.integers(0, 1000))
def test_confusion_matrix_equals_sklearn_and_ignores_order(case, seed):
    scores, y, k = case
    pred = scores.argmax(-1)
    cm = confusion_matrix(y, pred, k)
    assert np.array_equal(cm.numpy(), skm.confusion_matrix(y, pred, labels=range(k)))
    p = perm(len(y), seed)
    assert torch.equal(confusion_matrix(y[p], pred[p], k), cm)
    assert torch.equal(confusion_matrix(pred, y, k), cm.T)  # swapping sides transposes


@FEW
@given(case=labelled(), seed=st.integers(0, 1000))
def test_f1_equals_sklearn_in_batches_any_order(case, seed):
    scores, y, k = case
    pred = scores.argmax(-1)
    p = perm(len(y), seed)
    macro = F1Score("macro", n_classes=k)
    for chunk in torch.split(p, 5):
        macro.update(scores[chunk], y[chunk])
    assert float(macro.compute()) == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert 0 <= float(macro.compute()) <= 1
    yb, logit = (y % 2), scores[:, 0]
    binary = F1Score("binary")
    binary.update(logit, yb)
    ref = skm.f1_score(yb, (logit > 0).long(), zero_division=0)
    assert float(binary.compute()) == pytest.approx(ref)


@FEW
@given(
    t=st.lists(st.integers(0, 4), min_size=2, max_size=40),
    seed=st.integers(0, 2**31),
)
def test_qwk_equals_sklearn_is_symmetric_bounded_and_order_free(t, seed):
    rng = np.random.default_rng(seed)
    p = np.clip(np.array(t) + rng.integers(-2, 3, len(t)), 0, 4).tolist()
    ref = skm.cohen_kappa_score(t, p, weights="quadratic", labels=list(range(5)))
    got = quadratic_weighted_kappa(t, p, n_classes=5)
    if np.isnan(ref):
        assert np.isnan(got)
        return
    assert got == pytest.approx(ref, abs=1e-12)
    assert quadratic_weighted_kappa(p, t, n_classes=5) == pytest.approx(got, abs=1e-12)
    assert -1 - 1e-12 <= got <= 1 + 1e-12
    order = rng.permutation(len(t))
    metric = QWK(5)
    for chunk in np.array_split(order, 3):
        if len(chunk):
            metric.update(torch.tensor(p)[chunk], torch.tensor(t)[chunk])
    assert float(metric.compute()) == pytest.approx(got, abs=1e-12)


@FEW
@given(seed=st.integers(0, 2**31), n=st.integers(1, 6), h=st.integers(1, 8), w=st.integers(1, 8))
def test_dice_bounds_symmetry_identity_and_order(seed, n, h, w):
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(n, 1, h, w, generator=g) < torch.rand(n, 1, 1, 1, generator=g)
    b = torch.rand(n, 1, h, w, generator=g) < torch.rand(n, 1, 1, 1, generator=g)
    d = dice_per_image(a, b)
    assert ((d >= 0) & (d <= 1)).all()
    assert torch.equal(d, dice_per_image(b, a))
    assert (dice_per_image(a, a) == 1).all()
    ref = [  # the definition, image by image, with sklearn's F1 (= Dice) as the reference
        1.0 if not (a[i].any() or b[i].any()) else skm.f1_score(b[i].flatten(), a[i].flatten())
        for i in range(n)
    ]
    assert d.flatten().tolist() == pytest.approx(ref)
    metric = Dice()
    for i in perm(n, seed).tolist():
        metric.update(a[i : i + 1].long(), b[i : i + 1])
    assert float(metric.compute()) == pytest.approx(float(np.mean(ref)))
