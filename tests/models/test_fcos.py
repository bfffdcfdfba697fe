"""FCOS: points, target assignment (hand cases and a brute-force per-point reference), the
model's output, decoding, `dlf summary`, backbone weights, and that it learns at all."""

import math

import pytest
import torch

from dlf.models import create_model, list_models, summary_main
from dlf.models.detection import (
    FCOSOutput,
    box_iou,
    decode_detections,
    fcos_points,
    fcos_targets,
    level_sizes,
)
from dlf.train.detection import FCOSLoss

# ---- points ---------------------------------------------------------------------------------


def test_points_are_cell_centres():
    points, strides = fcos_points((16, 24), strides=(8, 16))
    # level 8: 2 rows x 3 cols, row-major; level 16: 1 x 2
    assert points.tolist() == [
        [4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12], [8, 8], [24, 8],
    ]  # fmt: skip
    assert strides.tolist() == [8] * 6 + [16] * 2


@pytest.mark.parametrize("size", [(64, 64), (97, 130), (33, 65)])
def test_level_sizes_match_the_model(size):
    model = create_model("fcos_resnet18", num_classes=2, fpn_channels=32, head_depth=1)
    model.eval()
    with torch.no_grad():
        out = model(torch.zeros(1, 3, *size))
    expected = sum(h * w for h, w in level_sizes(size, (8, 16, 32)))
    assert out.points.shape == (expected, 2)
    points, strides = fcos_points(size)
    assert torch.equal(out.points, points) and torch.equal(out.strides, strides)


# ---- targets --------------------------------------------------------------------------------


def test_targets_hand_case_small_box():
    # 64 x 64 input; box 0..16 square. Stride-8 centres inside it: (4,4) (12,4) (4,12) (12,12);
    # centre sampling (1.5 x 8 = 12 px around (8, 8)) covers the whole box; the largest
    # distance is 12 <= 64, so stride 8 takes it. The stride-16 point (8, 8) is inside too but
    # its largest distance (8) is below stride 16's range (64, 128]; (16, 16) on the edge is not
    # inside. So exactly 4 positives.
    points, strides = fcos_points((64, 64))
    boxes = torch.tensor([[[0.0, 0, 16, 16], [0, 0, 0, 0]]])
    labels = torch.tensor([[3, -1]])
    cls, ltrb, ctr = fcos_targets(points, strides, boxes, labels)
    pos = torch.nonzero(cls[0] >= 0).flatten()
    assert points[pos].tolist() == [[4, 4], [12, 4], [4, 12], [12, 12]]
    assert cls[0, pos].tolist() == [3, 3, 3, 3]
    assert ltrb[0, pos[0]].tolist() == [4, 4, 12, 12]
    assert ltrb[0, pos[3]].tolist() == [12, 12, 4, 4]
    # centerness sqrt(min(l,r)/max(l,r) * min(t,b)/max(t,b)) = sqrt(4/12 * 4/12) = 1/3
    torch.testing.assert_close(ctr[0, pos], torch.full((4,), 1 / 3))
    assert (ltrb[0, cls[0] < 0] == 0).all() and (ctr[0, cls[0] < 0] == 0).all()


@pytest.mark.parametrize("order", [(0, 1), (1, 0)])
def test_targets_tie_goes_to_the_smaller_box(order):
    # Point (12, 12) lies inside both boxes' centre regions (small: whole box; big: 4..28)
    # and both fit stride 8: the smaller box wins, whatever the boxes' order.
    both = [([0.0, 0, 32, 32], 1), ([0.0, 0, 16, 16], 2)]
    both = [both[i] for i in order]
    boxes = torch.tensor([[b for b, _ in both]])
    labels = torch.tensor([[lab for _, lab in both]])
    points, strides = fcos_points((64, 64))
    cls, ltrb, _ = fcos_targets(points, strides, boxes, labels)
    at = lambda x, y: int(((points[:, 0] == x) & (points[:, 1] == y)).nonzero())  # noqa: E731
    assert cls[0, at(12, 12)] == 2 and ltrb[0, at(12, 12)].tolist() == [12, 12, 4, 4]
    assert cls[0, at(20, 20)] == 1  # outside the small box: the big one's


def ref_targets(points, strides, boxes, labels, radius):
    """FCOS assignment point by point and box by box, in plain Python."""
    lo_s, hi_s = min(strides), max(strides)
    out = []
    for (x, y), s in zip(points, strides):
        best = None
        for (x1, y1, x2, y2), lab in zip(boxes, labels):
            if lab < 0:
                continue
            ltrb = [x - x1, y - y1, x2 - x, y2 - y]
            if min(ltrb) <= 0:
                continue
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            r = radius * s
            inner = [max(x1, cx - r), max(y1, cy - r), min(x2, cx + r), min(y2, cy + r)]
            if min(x - inner[0], y - inner[1], inner[2] - x, inner[3] - y) <= 0:
                continue
            lo = 0 if s == lo_s else 4 * s
            hi = math.inf if s == hi_s else 8 * s
            if not lo < max(ltrb) <= hi:
                continue
            area = (x2 - x1) * (y2 - y1)
            if best is None or area < best[0]:
                best = (area, lab, ltrb)
        out.append(best)
    return out


def test_targets_match_brute_force_on_random_boxes():
    g = torch.Generator().manual_seed(0)
    size = 256
    points, strides = fcos_points((size, size), strides=(8, 16, 32))
    xy = torch.rand(2, 8, 2, generator=g) * size * 0.5
    wh = 8 + torch.rand(2, 8, 2, generator=g) * size * 0.8
    boxes = torch.cat([xy, (xy + wh).clamp(max=size)], -1).round()
    labels = torch.randint(0, 5, (2, 8), generator=g)
    labels[1, 5:] = -1  # padding
    cls, ltrb, _ = fcos_targets(points, strides, boxes, labels)
    levels_used = set()
    for n in range(2):
        ref = ref_targets(
            points.tolist(), strides.tolist(), boxes[n].tolist(), labels[n].tolist(), 1.5
        )
        for p, r in enumerate(ref):
            if r is None:
                assert cls[n, p] == -1
            else:
                assert cls[n, p] == r[1] and ltrb[n, p].tolist() == r[2]
                levels_used.add(strides[p].item())
    assert levels_used == {8, 16, 32}  # the random boxes exercise every level


def test_targets_without_any_box():
    points, strides = fcos_points((32, 32))
    cls, ltrb, ctr = fcos_targets(points, strides, torch.zeros(2, 0, 4), torch.zeros(2, 0))
    assert (cls == -1).all() and cls.shape == (2, len(points))
    assert ltrb.shape == (2, len(points), 4) and (ctr == 0).all()


# ---- the model ------------------------------------------------------------------------------


def test_registered_and_output_contract():
    assert {"fcos_resnet18", "fcos_resnet34", "fcos_resnet50"} <= set(list_models("fcos_*"))
    torch.manual_seed(0)
    model = create_model("fcos_resnet18", num_classes=7, in_chans=1, extra_levels=2)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 128, 96))
    assert isinstance(out, FCOSOutput)
    p = out.points.shape[0]
    assert out.logits.shape == (2, p, 7) and out.ltrb.shape == (2, p, 4)
    assert out.centerness.shape == (2, p) and out.strides.shape == (p,)
    assert sorted(set(out.strides.tolist())) == [8, 16, 32, 64, 128]
    assert (out.ltrb >= 0).all() and out.ltrb.dtype == torch.float32
    # prior-probability init: every location starts near "object" probability 0.01
    torch.testing.assert_close(
        torch.sigmoid(out.logits).mean(), torch.tensor(0.01), atol=2e-3, rtol=0
    )


def test_backbone_weights_file_is_loaded(tmp_path):
    torch.manual_seed(1)
    classifier = create_model("resnet18", num_classes=10)
    torch.save(classifier.state_dict(), tmp_path / "r18.pth")
    model = create_model("fcos_resnet18", num_classes=3, pretrained=tmp_path / "r18.pth")
    assert torch.equal(model.backbone.layer3[0].conv1.weight, classifier.layer3[0].conv1.weight)


def test_summary_runs_on_fcos():
    text = summary_main("fcos_resnet18", 64)
    assert "Output shape:" in text and "fpn" in text and "head" in text


def test_decode_hand_made_output():
    # Two points at stride 8; point 0 says class 1 with probability ~1 and centerness ~1,
    # box ltrb (4, 4, 12, 12) around (4, 4) -> (0, 0, 16, 16); point 1 is background.
    big = 20.0
    logits = torch.tensor([[[-big, big], [-big, -big]]])
    out = FCOSOutput(
        logits=logits,
        ltrb=torch.tensor([[[4.0, 4, 12, 12], [1, 1, 1, 1]]]),
        centerness=torch.tensor([[big, big]]),
        points=torch.tensor([[4.0, 4], [12, 4]]),
        strides=torch.tensor([8.0, 8]),
    )
    [(boxes, scores, labels)] = decode_detections(out, score_thr=0.05)
    assert boxes.tolist() == [[0, 0, 16, 16]] and labels.tolist() == [1]
    torch.testing.assert_close(scores, torch.ones(1))
    # the score is sqrt(sigmoid(cls) * sigmoid(centerness)): with centerness logit 0, sqrt(0.5)
    out = out._replace(centerness=torch.zeros(1, 2))
    [(_, scores, _)] = decode_detections(out, score_thr=0.05)
    torch.testing.assert_close(scores, torch.tensor([math.sqrt(0.5)]))
    # clipping to the image
    out = out._replace(ltrb=torch.tensor([[[10.0, 4, 12, 12], [1, 1, 1, 1]]]))
    [(boxes, _, _)] = decode_detections(out, image_size=(8, 8))
    assert boxes.tolist() == [[0, 0, 8, 8]]


def test_decode_limits_and_nms():
    torch.manual_seed(0)
    n, p, c = 3, 200, 4
    points = torch.rand(p, 2) * 100
    out = FCOSOutput(
        torch.randn(n, p, c), torch.rand(n, p, 4) * 20, torch.randn(n, p), points, torch.ones(p)
    )
    results = decode_detections(out, score_thr=0.3, nms_iou=0.5, max_per_image=25)
    assert len(results) == n
    for boxes, scores, labels in results:
        assert len(boxes) <= 25 and (scores > 0.3).all() and (scores.diff() <= 0).all()
        iou = box_iou(boxes, boxes)
        same = labels[:, None] == labels[None, :]
        assert not ((iou > 0.5) & same & ~torch.eye(len(boxes), dtype=torch.bool)).any()


# ---- it learns ------------------------------------------------------------------------------

COLOURS = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9]])


def rectangles_on_noise(n: int, size: int, seed: int):
    """1-3 solid rectangles per image that do not touch (none hides another), class = colour,
    on uniform noise; boxes in pixels."""
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, size, size, generator=g) * 0.6
    boxes, labels = torch.zeros(n, 3, 4), torch.full((n, 3), -1)
    for i in range(n):
        wanted, placed = int(torch.randint(1, 4, (1,), generator=g)), 0
        while placed < wanted:
            w, h = torch.randint(12, size // 2, (2,), generator=g).tolist()
            x = int(torch.randint(0, size - w, (1,), generator=g))
            y = int(torch.randint(0, size - h, (1,), generator=g))
            box = torch.tensor([x, y, x + w, y + h]).float()
            grown = box + torch.tensor([-2.0, -2, 2, 2])
            if placed and (box_iou(grown[None], boxes[i, :placed]) > 0).any():
                continue
            c = int(torch.randint(0, 3, (1,), generator=g))
            images[i, :, y : y + h, x : x + w] = COLOURS[c][:, None, None]
            boxes[i, placed], labels[i, placed] = box, c
            placed += 1
    return images, boxes, labels


STEPS, LR = 60, 3e-3  # checked on data seeds 0-3: all pass, true boxes score >= 0.6


def test_overfits_a_handful_of_images():
    images, boxes, labels = rectangles_on_noise(4, 64, seed=0)
    torch.manual_seed(0)
    model = create_model("fcos_resnet18", num_classes=3, fpn_channels=32, head_depth=1)
    loss_func = FCOSLoss()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    model.train()
    for _ in range(STEPS):
        loss = loss_func(model(images), boxes, labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        detections = decode_detections(model(images), score_thr=0.5, image_size=(64, 64))
    for (pred_boxes, _, pred_labels), true_boxes, true_labels in zip(detections, boxes, labels):
        real = true_labels >= 0
        true_boxes, true_labels = true_boxes[real], true_labels[real]
        assert len(pred_boxes) == len(true_boxes)  # nothing missed, nothing extra
        iou = box_iou(true_boxes, pred_boxes) * (true_labels[:, None] == pred_labels[None, :])
        assert (iou.max(1).values > 0.5).all()
