"""The VRD pair and attribute heads, fast: shapes, targets, gradients and ranking, each
against a plain loop or an independent definition."""

import itertools

import numpy as np
import pytest
import torch

from dlf.models import create_model
from dlf.models.detection import box_iou, roi_align, roi_align_padded
from dlf.tasks.vrd.model import PAD, VrdLoss, VrdModel
from dlf.tasks.vrd.pairhead import pair_geometry, union_boxes
from dlf.tasks.vrd.predict import merge_triplet_passes

N_CLASSES, IS = 4, 6  # 4 box classes, then 2 attributes; relationship 6 is `is` as in files.py


def _prior() -> torch.Tensor:
    p = torch.zeros(N_CLASSES + 2, N_CLASSES + 2, 10)
    p[0, 1, 1], p[0, 1, 8], p[1, 0, 0], p[2, 1, 2], p[3, 0, 5] = 0.5, 0.2, 0.3, 0.6, 0.4
    p[1, N_CLASSES, IS], p[1, N_CLASSES + 1, IS], p[2, N_CLASSES, IS] = 0.3, 0.1, 0.7
    return p


def _model(**kw) -> VrdModel:
    torch.manual_seed(0)
    det = create_model("fcos_resnet18", num_classes=N_CLASSES, fpn_channels=32, head_depth=1)
    return VrdModel(det, _prior(), N_CLASSES, IS, size=64, **kw)


def _random_boxes(g: torch.Generator, n: int, m: int, size: float) -> torch.Tensor:
    xy = torch.rand(n, m, 2, generator=g) * size * 0.8
    wh = torch.rand(n, m, 2, generator=g) * size * 0.5 + 2
    return torch.cat([xy, xy + wh], -1)


def test_roi_align_padded_equals_roi_align():
    # reference: roi_align (checked against crop-and-resize in test_roi), box by box
    g = torch.Generator().manual_seed(0)
    features = torch.randn(2, 5, 9, 11, generator=g)
    boxes = _random_boxes(g, 2, 6, 80.0)
    boxes[0, 0] = torch.tensor([-20.0, -15.0, 30.0, 90.0])  # partly outside the map
    got = roi_align_padded(features, boxes, 3, spatial_scale=1 / 8, sampling_ratio=2)
    flat = torch.cat(
        [torch.arange(2).repeat_interleave(6)[:, None].float(), boxes.reshape(-1, 4)], 1
    )
    want = roi_align(features, flat, 3, spatial_scale=1 / 8, sampling_ratio=2, aligned=True)
    assert got.shape == (2, 6, 5, 3, 3)
    assert roi_align_padded(features, boxes[:, :0], 3, 1 / 8).shape == (2, 0, 5, 3, 3)
    torch.testing.assert_close(got.reshape(12, 5, 3, 3), want, atol=1e-5, rtol=1e-5)


def test_pair_geometry_against_box_iou_and_hand_worked_gaps():
    # reference: box_iou for the IoU column; a cat resting on a table worked by hand
    g = torch.Generator().manual_seed(1)
    a, b = _random_boxes(g, 1, 20, 50.0)[0], _random_boxes(g, 1, 20, 50.0)[0]
    f = pair_geometry(a, b, 64.0)
    torch.testing.assert_close(f[:, 10], box_iou(a, b).diagonal(), atol=1e-5, rtol=1e-4)
    cat, table = torch.tensor([10.0, 0.0, 20.0, 10.0]), torch.tensor([0.0, 10.0, 40.0, 30.0])
    f = pair_geometry(cat, table, 64.0)
    assert f[8] == 0  # the table's top is the cat's bottom
    assert f[9] == pytest.approx(-3.0)  # the cat's top is 3 cat-heights above the table's bottom
    assert f[0] == pytest.approx(0.5) and f[1] == pytest.approx(1.5)  # centre offsets in cat units
    torch.testing.assert_close(union_boxes(cat, table), torch.tensor([0.0, 0.0, 40.0, 30.0]))


def _batch():
    boxes = torch.tensor([[[2, 2, 20, 20], [10, 10, 40, 50], [5, 30, 60, 60], [0, 0, 0, 0]],
                          [[1, 1, 30, 30], [30, 5, 50, 25], [0, 0, 0, 0], [0, 0, 0, 0]]]).float()  # fmt: skip
    labels = torch.tensor([[0, 1, 2, -1], [1, 0, -1, -1]])
    links = torch.tensor([[[0, 1, 1, -1], [0, 1, 8, -1], [2, 1, 2, -1], [1, 1, IS, 0]],
                          [[0, 1, 0, -1], [0, 0, IS, 1], [-1, -1, -1, -1], [-1, -1, -1, -1]]]).float()  # fmt: skip
    return (
        torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2)),
        boxes,
        labels,
        links,
    )


def test_training_targets_and_pair_sampling_match_a_loop():
    # reference: a loop over the links: which (image, subject, object, relationship) is true
    image, boxes, labels, links = _batch()
    model = _model(pairs_per_image=5)
    out = model(image, boxes, labels, links)
    assert out.pair_logits.shape == (2, 5, 10) and out.attr_logits.shape == (2, 4, 2)
    true = {(n, int(i), int(j), int(r)) for n in range(2) for i, j, r, _ in links[n].tolist()
            if i >= 0 and r != IS}  # fmt: skip
    assert out.pair_targets.sum() == len(true)  # every linked pair is among the chosen
    attrs = {(n, int(i), int(a)) for n in range(2) for i, _, r, a in links[n].tolist() if r == IS}
    got = {(n, i, a) for n, i, a in torch.nonzero(out.attr_targets).tolist()}
    assert got == attrs
    # the weights count allowed relationships only (never `is`, the attribute head's), and
    # every true link is allowed, so every target is weighted
    assert out.pair_weight[..., IS].sum() == 0
    assert (out.pair_targets <= out.pair_weight).all()
    assert (out.attr_targets <= out.attr_weight).all()
    # padding boxes (image 0 box 3, image 1 boxes 2-3) are in no weighted pair
    assert out.attr_weight[0, 3].sum() == 0 and out.attr_weight[1, 2:].sum() == 0


def test_heads_start_as_the_prior_and_gradients_reach_the_backbone():
    # reference: the prior table itself (the heads' last layers start at zero)
    image, boxes, labels, links = _batch()
    model = _model(pairs_per_image=6)
    out = model(image, boxes, labels, links)
    p = torch.sigmoid(out.pair_logits)
    allowed = out.pair_weight > 0
    assert allowed.any()
    cls = labels.clamp(min=0)
    prior_values = {round(v, 4) for v in _prior()[_prior() > 0].tolist()}
    assert {round(v, 4) for v in p[allowed].tolist()} <= prior_values
    attr_p = torch.sigmoid(out.attr_logits)
    want = _prior()[cls][:, :, N_CLASSES:, IS].clamp(1e-4, 1 - 1e-4)
    torch.testing.assert_close(attr_p, want, atol=1e-5, rtol=1e-4)
    loss = VrdLoss()(out, boxes, labels)
    loss.backward()
    assert model.relation.score[-1].weight.grad.abs().sum() > 0
    assert model.attribute.score[-1].weight.grad.abs().sum() > 0
    conv = next(p for p in model.detector.backbone.parameters() if p.dim() == 4)
    assert conv.grad is not None and conv.grad.abs().sum() > 0


def test_inference_ranks_as_a_plain_loop_over_pairs():
    # reference: every (subject, object, relationship) and (box, attribute) scored one by
    # one with the heads, det_s * det_o * P(r), allowed triplets only, sorted
    torch.manual_seed(3)
    model = _model(max_boxes=3, triplets=7).eval()
    for p in model.parameters():  # heads away from the prior, so ranking is the heads'
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.05)
    level = torch.randn(1, 32, 8, 8)
    boxes = torch.tensor([[[2.0, 2, 20, 20], [10, 10, 40, 50], [5, 30, 60, 60]]])
    scores, labels = torch.tensor([[0.9, 0.6, 0.4]]), torch.tensor([[0, 1, 2]])
    rows = model._image_triplets(level, boxes, scores, labels)[0]
    prior, feats = _prior(), model.box_features(level, boxes)
    want = []
    with torch.no_grad():
        for s, o in itertools.permutations(range(3), 2):
            si, oi = torch.tensor([[s]]), torch.tensor([[o]])
            pr = prior[labels[0, s], labels[0, o]][None, None]
            prob = torch.sigmoid(model.relation(level, boxes, feats, labels, si, oi, pr))[0, 0]
            for r in range(10):
                if pr[0, 0, r] > 0 and r != IS:
                    want.append((float(scores[0, s] * scores[0, o] * prob[r]), s, o, r))
        for i in range(3):
            pr = prior[labels[0, i], N_CLASSES:, IS]
            prob = torch.sigmoid(
                model.attribute(feats[:, i : i + 1], labels[:, i : i + 1], pr[None, None])
            )[0, 0]
            for a in range(2):
                if pr[a] > 0:
                    want.append((float(scores[0, i] * prob[a]), i, i, IS, a))
    want.sort(key=lambda t: -t[0])
    real = rows[rows[:, 0] > PAD]
    assert len(real) == min(7, len(want))
    for row, w in zip(real, want):
        assert float(row[0]) == pytest.approx(w[0], rel=1e-4)
        s, o = w[1], w[2]
        assert int(row[3]) == w[3] and int(row[1]) == labels[0, s]
        assert torch.equal(row[4:8], boxes[0, s]) and torch.equal(row[8:12], boxes[0, o])
        assert int(row[2]) == (N_CLASSES + w[4] if w[3] == IS else labels[0, o])


def test_forward_in_eval_mode_gives_padded_triplets_and_detections():
    model = _model(max_boxes=5, triplets=9).eval()
    out = model(torch.randn(2, 3, 64, 64))
    assert out.triplets.shape == (2, 9, 12) and out.detections.shape == (2, 5, 6)
    assert out.pair_logits is None
    # an image whose boxes allow no relationship at all (class 3 with class 3): attributes only
    level = torch.randn(1, 32, 8, 8)
    boxes = torch.tensor([[[2.0, 2, 20, 20], [10, 10, 40, 50]]])
    rows = model._image_triplets(level, boxes, torch.tensor([[0.9, 0.8]]), torch.tensor([[3, 3]]))
    assert rows.shape == (1, 9, 12) and (rows[..., 0] == PAD).all()  # class 3 has no attribute


def test_merge_triplet_passes_keeps_one_of_a_repeated_triplet():
    # reference: worked by hand: pass 2 finds the same triplet shifted by a pixel (merged,
    # best score kept), the same boxes with another relationship (kept), padding (dropped)
    row = [0.8, 0, 1, 1, 0, 0, 10, 10, 5, 5, 20, 20]
    moved = [0.9, 0, 1, 1, 1, 0, 11, 10, 5, 5, 20, 20]
    other = [0.5, 0, 1, 8, 0, 0, 10, 10, 5, 5, 20, 20]
    pad = [PAD] * 12
    out = merge_triplet_passes([torch.tensor([[row, pad]]), torch.tensor([[moved, other]])], 0.5, 3)
    real = out[0][out[0][:, 0] > PAD]
    assert real[:, 0].tolist() == pytest.approx([0.9, 0.5])
    assert np.allclose(real[0].numpy(), moved)
