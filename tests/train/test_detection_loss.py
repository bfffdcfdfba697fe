"""FCOSLoss against a reference written the obvious way (boolean indexing of the positive
locations, torch.nn.functional's BCE, GIoU from its definition), plus hand cases, bf16
autocast, a batch without boxes, and one epoch through the Learner on named batches."""

import pytest
import torch
import torch.nn.functional as F

from dlf.data.loaders import DataLoaders
from dlf.models import create_model
from dlf.models.detection import FCOSOutput, decode_detections, fcos_points, fcos_targets
from dlf.train.detection import FCOSLoss
from dlf.train.learner import Learner


@pytest.fixture(autouse=True)
def one_torch_thread():
    # tiny convolutions: a second thread only waits for a busy core (see tests/models/conftest)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_output(n=2, size=64, classes=3, seed=0) -> FCOSOutput:
    g = torch.Generator().manual_seed(seed)
    points, strides = fcos_points((size, size))
    p = len(points)
    return FCOSOutput(
        logits=torch.randn(n, p, classes, generator=g),
        ltrb=torch.rand(n, p, 4, generator=g) * 30 + 1,
        centerness=torch.randn(n, p, generator=g),
        points=points,
        strides=strides,
    )


def make_boxes():
    boxes = torch.tensor(
        [
            [[4.0, 6, 30, 40], [20, 10, 60, 60], [0, 0, 0, 0]],
            [[10.0, 10, 20, 22], [0, 0, 0, 0], [0, 0, 0, 0]],
        ]
    )
    labels = torch.tensor([[0, 2, -1], [1, -1, -1]])
    return boxes, labels


def reference(out: FCOSOutput, boxes, labels, alpha=0.25, gamma=2.0):
    cls_t, ltrb_t, ctr_t = fcos_targets(out.points, out.strides, boxes, labels)
    pos = cls_t >= 0
    num_pos = max(int(pos.sum()), 1)
    # focal loss from F.binary_cross_entropy_with_logits and its formula (Lin et al. 2017)
    onehot = F.one_hot(cls_t.clamp(min=0), out.logits.shape[-1]).float() * pos[..., None]
    ce = F.binary_cross_entropy_with_logits(out.logits, onehot, reduction="none")
    p = out.logits.sigmoid()
    p_t = p * onehot + (1 - p) * (1 - onehot)
    a_t = alpha * onehot + (1 - alpha) * (1 - onehot)
    cls = (a_t * (1 - p_t) ** gamma * ce).sum() / num_pos
    # GIoU on the positive locations only, from its definition, weighted by centerness
    pts = out.points[None].expand(len(boxes), -1, -1)[pos]
    pl, tl = out.ltrb[pos], ltrb_t[pos]

    def to_box(ltrb):
        return torch.stack(
            [pts[:, 0] - ltrb[:, 0], pts[:, 1] - ltrb[:, 1], pts[:, 0] + ltrb[:, 2],
             pts[:, 1] + ltrb[:, 3]], 1)  # fmt: skip

    a, b = to_box(pl), to_box(tl)
    iw = (torch.minimum(a[:, 2], b[:, 2]) - torch.maximum(a[:, 0], b[:, 0])).clamp(min=0)
    ih = (torch.minimum(a[:, 3], b[:, 3]) - torch.maximum(a[:, 1], b[:, 1])).clamp(min=0)
    inter = iw * ih
    area = lambda x: (x[:, 2] - x[:, 0]) * (x[:, 3] - x[:, 1])  # noqa: E731
    union = area(a) + area(b) - inter
    cw = torch.maximum(a[:, 2], b[:, 2]) - torch.minimum(a[:, 0], b[:, 0])
    ch = torch.maximum(a[:, 3], b[:, 3]) - torch.minimum(a[:, 1], b[:, 1])
    giou = inter / union - (cw * ch - union) / (cw * ch)
    w = ctr_t[pos]
    box = ((1 - giou) * w).sum() / w.sum()
    ctr = F.binary_cross_entropy_with_logits(out.centerness[pos], ctr_t[pos], reduction="sum")
    return {"cls": cls, "box": box, "centerness": ctr / num_pos}, int(pos.sum())


def test_matches_reference():
    out = make_output()
    boxes, labels = make_boxes()
    expected, num_pos = reference(out, boxes, labels)
    assert num_pos > 5  # the boxes do get positive locations
    got = FCOSLoss().components(out, boxes, labels)
    for k in expected:
        torch.testing.assert_close(got[k], expected[k], rtol=1e-5, atol=1e-6)
    total = FCOSLoss(box_weight=2.0)(out, boxes, labels)
    torch.testing.assert_close(
        total, expected["cls"] + 2 * expected["box"] + expected["centerness"]
    )


def test_perfect_boxes_have_zero_box_loss():
    out = make_output()
    boxes, labels = make_boxes()
    _, ltrb_t, _ = fcos_targets(out.points, out.strides, boxes, labels)
    perfect = out._replace(ltrb=torch.where(ltrb_t > 0, ltrb_t, out.ltrb))
    assert FCOSLoss().components(perfect, boxes, labels)["box"].abs() < 1e-5


def test_no_boxes_is_finite_and_background_only():
    out = make_output()
    out = out._replace(logits=out.logits.requires_grad_(), ltrb=out.ltrb.requires_grad_())
    boxes, labels = torch.zeros(2, 0, 4), torch.zeros(2, 0, dtype=torch.long)
    parts = FCOSLoss().components(out, boxes, labels)
    assert parts["box"] == 0 and parts["centerness"] == 0
    # every location is a negative; the sum is divided by max(positives, 1) = 1
    p = out.logits.detach().sigmoid()
    expected = (0.75 * p**2 * F.binary_cross_entropy_with_logits(
        out.logits.detach(), torch.zeros_like(p), reduction="none")).sum()  # fmt: skip
    torch.testing.assert_close(parts["cls"], expected)
    sum(parts.values()).backward()
    assert torch.isfinite(out.logits.grad).all() and torch.isfinite(out.ltrb.grad).all()


def test_padding_labels_are_ignored():
    out = make_output()
    boxes, labels = make_boxes()
    junk = boxes.clone()
    junk[0, 2] = torch.tensor([0.0, 0, 64, 64])  # a big box, but labelled -1: padding
    torch.testing.assert_close(FCOSLoss()(out, junk, labels), FCOSLoss()(out, boxes, labels))


def test_bf16_outputs_are_scored_in_float32():
    out = make_output()
    boxes, labels = make_boxes()
    half = out._replace(logits=out.logits.bfloat16(), centerness=out.centerness.bfloat16())
    full = out._replace(logits=half.logits.float(), centerness=half.centerness.float())
    loss = FCOSLoss()(half, boxes, labels)
    assert loss.dtype == torch.float32
    torch.testing.assert_close(loss, FCOSLoss()(full, boxes, labels))


def test_bf16_autocast_training_step_is_finite():
    torch.manual_seed(0)
    model = create_model("fcos_resnet18", num_classes=3, fpn_channels=32, head_depth=1)
    boxes, labels = make_boxes()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 64, 64))
        loss = FCOSLoss()(out, boxes, labels)
    assert out.logits.dtype == torch.bfloat16 and out.ltrb.dtype == torch.float32
    loss.backward()
    assert torch.isfinite(loss)
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_one_epoch_through_the_learner_on_named_batches():
    # The Learner passes the non-input fields of a named batch to the loss in order:
    # loss(output, boxes, box_labels).
    boxes, labels = make_boxes()
    batches = [{"image": torch.randn(2, 3, 64, 64), "boxes": boxes, "box_labels": labels}]
    torch.manual_seed(0)
    model = create_model("fcos_resnet18", num_classes=3, fpn_channels=32, head_depth=1)
    dls = DataLoaders(batches, batches, device="cpu")
    learn = Learner(model, dls, FCOSLoss(), precision="fp32", logger=lambda s: None)
    learn.fit(1, 1e-3)
    assert torch.isfinite(learn.loss)
    # the one inference loop: get_preds with decode gives per-image (boxes, scores, labels)
    (preds, *_) = learn.get_preds(dls.valid, decode=lambda out: decode_detections(out, 0.0))
    assert len(preds) == 2 and [len(p) for p in preds] == [3, 3]
    assert preds[0][0].shape[-1] == 4 and len(preds[0][0]) > 0
