"""NMS and weighted box fusion against brute-force references written from the definitions
(pure Python loops over lists), plus hypothesis properties of what greedy NMS keeps."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlf.models.detection import batched_nms, box_iou, nms, weighted_box_fusion


def ref_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ref_nms(boxes, scores, labels, thr):
    """Greedy NMS as usually written: visit by score (ties by index), keep a box unless a kept
    box of its label overlaps it with IoU > thr."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    kept = []
    for i in order:
        if all(labels[i] != labels[k] or ref_iou(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return kept


def clustered_boxes(n, seed, classes=1):
    """Boxes jittered around a few centres, so that many overlap (NMS has work to do)."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(max(1, n // 8), 2, generator=g) * 100
    c = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * 4
    wh = 10 + torch.rand(n, 2, generator=g) * 20
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1)
    return boxes, torch.rand(n, generator=g), torch.randint(classes, (n,), generator=g)


def test_nms_matches_brute_force():
    for seed in range(5):
        for thr in (0.3, 0.5, 0.7):
            boxes, scores, _ = clustered_boxes(120, seed)
            expected = ref_nms(boxes.tolist(), scores.tolist(), [0] * 120, thr)
            got = nms(boxes, scores, thr).tolist()
            assert got == expected
            assert 1 < len(got) < 120  # the case is not trivial


def test_batched_nms_matches_brute_force_per_class():
    for seed in range(5):
        boxes, scores, labels = clustered_boxes(150, seed, classes=4)
        expected = ref_nms(boxes.tolist(), scores.tolist(), labels.tolist(), 0.5)
        assert batched_nms(boxes, scores, labels, 0.5).tolist() == expected
        # classes are independent: class-blind NMS would keep fewer
        assert len(expected) > len(nms(boxes, scores, 0.5))


def test_chain_worst_case():
    # Box i overlaps only i+1 (IoU 0.6): greedy keeps 0, 2, 4, ... and the fixed point needs
    # one step per link of the chain to get there.
    boxes = torch.tensor([[i * 2.5, 0.0, i * 2.5 + 10, 10] for i in range(9)])
    scores = torch.linspace(1, 0.1, 9)
    assert nms(boxes, scores, 0.5).tolist() == [0, 2, 4, 6, 8]


def test_ties_and_empty():
    boxes = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10]])
    assert nms(boxes, torch.tensor([0.5, 0.5]), 0.5).tolist() == [0]  # index order on ties
    assert nms(torch.zeros(0, 4), torch.zeros(0), 0.5).tolist() == []
    # IoU exactly at the threshold (50 / 100) is not "too much": both stay, as in torchvision
    half = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 5]])
    assert nms(half, torch.tensor([0.9, 0.8]), 0.5).tolist() == [0, 1]
    assert nms(half, torch.tensor([0.9, 0.8]), 0.49).tolist() == [0]


box = st.tuples(
    st.floats(0, 50), st.floats(0, 50), st.floats(1, 30), st.floats(1, 30), st.integers(0, 2)
)


@settings(max_examples=60, deadline=None)
@given(st.lists(box, min_size=1, max_size=40, unique_by=lambda b: b[:2]), st.floats(0.1, 0.9))
def test_nms_properties(items, thr):
    boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h, _ in items], dtype=torch.float64)
    labels = torch.tensor([c for *_, c in items])
    n = len(items)
    scores = torch.randperm(n, generator=torch.Generator().manual_seed(n)).double() / n
    keep = batched_nms(boxes, scores, labels, thr)
    iou = box_iou(boxes, boxes)
    same = labels[:, None] == labels[None, :]
    kept = torch.zeros(n, dtype=torch.bool)
    kept[keep] = True
    # 1. kept boxes of one class never overlap above the threshold
    k = keep
    assert not ((iou[k][:, k] > thr) & same[k][:, k] & ~torch.eye(len(k), dtype=torch.bool)).any()
    # 2. every removed box is overlapped by a kept, higher-scoring box of its class
    for i in torch.nonzero(~kept).flatten().tolist():
        by = kept & same[i] & (iou[i] > thr) & (scores > scores[i])
        assert by.any()
    # 3. highest score first
    assert (scores[keep].diff() <= 0).all()
    # 4. order invariance: a permutation of the input keeps the same boxes
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(1))
    keep_perm = batched_nms(boxes[perm], scores[perm], labels[perm], thr)
    assert sorted(perm[keep_perm].tolist()) == sorted(keep.tolist())
    # 5. it is the brute-force answer
    assert keep.tolist() == ref_nms(boxes.tolist(), scores.tolist(), labels.tolist(), thr)


# ---- weighted box fusion -------------------------------------------------------------------


def ref_wbf(views, thr, weights):
    """Weighted box fusion as Solovyev et al. 2019 describe it (section 3), in plain Python:
    per label, boxes by decreasing (weighted) score; each joins the fused box it overlaps most
    with IoU > thr, else starts a cluster; fused box = score-weighted mean, score = mean score
    x min(T, views) / sum of weights."""
    items = [
        (s * w, list(b), lab)
        for (bs, ss, ls), w in zip(views, weights)
        for b, s, lab in zip(bs, ss, ls)
        if s * w > 0
    ]
    out = []
    for label in sorted({lab for *_, lab in items}):
        mine = sorted([it for it in items if it[2] == label], key=lambda it: -it[0])
        clusters = []  # lists of (score, box)
        for s, b, _ in mine:
            fused = [fuse(c)[1] for c in clusters]
            ious = [ref_iou(b, f) for f in fused]
            best = max(range(len(ious)), key=lambda i: ious[i], default=None)
            if best is not None and ious[best] > thr:
                clusters[best].append((s, b))
            else:
                clusters.append([(s, b)])
        for c in clusters:
            score, box = fuse(c)
            out.append((score * min(len(c), len(views)) / sum(weights), box, label))
    return sorted(out, key=lambda o: -o[0])


def fuse(cluster):
    total = sum(s for s, _ in cluster)
    box = [sum(s * b[k] for s, b in cluster) / total for k in range(4)]
    return total / len(cluster), box


def test_wbf_hand_cases():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[2.0, 0, 12, 10]])  # IoU with a: 80 / 120 = 0.67
    one = torch.tensor([0])
    # two views agree: one box, the score-weighted mean (0.8 * 0 + 0.2 * 2) / 1 = 0.4 on x
    boxes, scores, labels = weighted_box_fusion(
        [a, b], [torch.tensor([0.8]), torch.tensor([0.2])], [one, one]
    )
    torch.testing.assert_close(boxes, torch.tensor([[0.4, 0, 10.4, 10]]))
    torch.testing.assert_close(scores, torch.tensor([0.5]))  # mean score, both views saw it
    assert labels.tolist() == [0]
    # a box only one of two views saw keeps its coordinates, at half its score
    far = torch.tensor([[50.0, 50, 60, 60]])
    boxes, scores, _ = weighted_box_fusion(
        [a, far], [torch.tensor([0.8]), torch.tensor([0.6])], [one, one]
    )
    torch.testing.assert_close(boxes, torch.cat([a, far]))
    torch.testing.assert_close(scores, torch.tensor([0.4, 0.3]))
    # different labels never fuse
    _, _, labels = weighted_box_fusion(
        [a, b], [torch.tensor([0.8]), torch.tensor([0.2])], [one, torch.tensor([1])]
    )
    assert sorted(labels.tolist()) == [0, 1]


def test_wbf_matches_reference_on_random_views():
    for seed in range(4):
        views = []
        for v in range(3):
            boxes, scores, labels = clustered_boxes(30, seed * 10 + v, classes=3)
            views.append((boxes, scores, labels))
        weights = [1.0, 2.0, 1.0]
        boxes, scores, labels = weighted_box_fusion(
            [v[0] for v in views], [v[1] for v in views], [v[2] for v in views], 0.55,
            weights=weights,
        )  # fmt: skip
        ref = ref_wbf([tuple(t.tolist() for t in v) for v in views], 0.55, weights)
        assert len(ref) < 90  # something was fused
        torch.testing.assert_close(scores, torch.tensor([r[0] for r in ref]))
        torch.testing.assert_close(boxes, torch.tensor([r[1] for r in ref]))
        assert labels.tolist() == [r[2] for r in ref]


def test_wbf_skip_threshold_and_empty():
    a = torch.tensor([[0.0, 0, 10, 10]])
    boxes, scores, _ = weighted_box_fusion(
        [a], [torch.tensor([0.1])], [torch.tensor([0])], skip_box_threshold=0.2
    )
    assert boxes.shape == (0, 4) and scores.shape == (0,)
    boxes, _, _ = weighted_box_fusion([torch.zeros(0, 4)], [torch.zeros(0)], [torch.zeros(0)])
    assert boxes.shape == (0, 4)
