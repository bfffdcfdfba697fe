"""Box operations against a brute-force reference (pure Python, one pair at a time, from the
definitions) on random boxes, and against boxes worked by hand."""

import pytest
import torch

from dlf.models.detection import (
    box_area,
    box_ioa,
    box_iou,
    clip_boxes,
    generalized_box_iou,
    giou_loss,
    ltrb_decode,
    ltrb_encode,
)


def random_boxes(n: int, seed: int, size: float = 100.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * size
    wh = torch.rand(n, 2, generator=g) * size / 2
    return torch.cat([xy, xy + wh], 1).double()


def ref_pair(a, b):
    """(intersection, union, enclosing area) of two boxes, by their definitions."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    union = area_a + area_b - inter
    enclosing = (max(a[2], b[2]) - min(a[0], b[0])) * (max(a[3], b[3]) - min(a[1], b[1]))
    return inter, union, enclosing, area_a


def reference_matrix(a, b, fn):
    return torch.tensor([[fn(*ref_pair(x, y)) for y in b.tolist()] for x in a.tolist()]).double()


def test_iou_ioa_giou_match_brute_force():
    a, b = random_boxes(17, 0), random_boxes(23, 1)
    iou = reference_matrix(a, b, lambda i, u, c, aa: i / u)
    ioa = reference_matrix(a, b, lambda i, u, c, aa: i / aa)
    giou = reference_matrix(a, b, lambda i, u, c, aa: i / u - (c - u) / c)
    assert (iou > 0).any() and (iou == 0).any()  # the random boxes cover both cases
    torch.testing.assert_close(box_iou(a, b), iou)
    torch.testing.assert_close(box_ioa(a, b), ioa)
    torch.testing.assert_close(generalized_box_iou(a, b), giou)


def test_hand_cases():
    a = torch.tensor([[0.0, 0, 10, 10]])
    b = torch.tensor([[5.0, 0, 15, 10], [20, 20, 30, 30], [0, 0, 5, 5]])
    # overlap 5x10 = 50, union 150; disjoint; a quarter of a inside
    torch.testing.assert_close(box_iou(a, b), torch.tensor([[1 / 3, 0.0, 0.25]]))
    # IoA is over the first box's area: 50/100, 0, 25/100
    torch.testing.assert_close(box_ioa(a, b), torch.tensor([[0.5, 0.0, 0.25]]))
    # second pair: enclosing box 0..30 squared = 900, union 200 -> 0 - 700/900
    torch.testing.assert_close(generalized_box_iou(a, b)[0, 1], torch.tensor(-7 / 9))
    assert box_area(torch.tensor([[3.0, 4, 1, 9]])).item() == 0  # inverted counts as empty


def test_empty_boxes_give_zero_not_nan():
    empty = torch.tensor([[5.0, 5, 5, 5]])
    other = torch.tensor([[0.0, 0, 10, 10], [5, 5, 5, 5]])
    assert torch.equal(box_iou(empty, other), torch.zeros(1, 2))
    assert torch.equal(box_ioa(empty, other), torch.zeros(1, 2))
    assert torch.isfinite(generalized_box_iou(empty, other)).all()


def test_giou_loss_is_one_minus_pairwise_giou_elementwise():
    a, b = random_boxes(30, 2).float(), random_boxes(30, 3).float()
    expected = 1 - torch.diagonal(generalized_box_iou(a, b))
    torch.testing.assert_close(giou_loss(a, b), expected, atol=1e-5, rtol=1e-5)
    assert torch.allclose(giou_loss(a, a), torch.zeros(30), atol=1e-6)


def test_giou_loss_gradient_is_finite_for_degenerate_boxes():
    pred = torch.tensor([[2.0, 2, 2, 2], [0, 0, 4, 4]], requires_grad=True)
    target = torch.tensor([[2.0, 2, 2, 2], [1, 1, 1, 1]])
    giou_loss(pred, target).sum().backward()
    assert torch.isfinite(pred.grad).all()


def test_giou_loss_in_bf16_is_float32():
    a, b = random_boxes(8, 4).bfloat16(), random_boxes(8, 5).bfloat16()
    assert giou_loss(a, b).dtype == torch.float32


def test_ltrb_round_trip_and_hand_case():
    points = torch.tensor([[4.0, 6.0]])
    box = torch.tensor([[0.0, 1, 10, 20]])
    ltrb = ltrb_encode(points, box)
    assert ltrb.tolist() == [[4.0, 5.0, 6.0, 14.0]]  # left, top, right, bottom
    assert torch.equal(ltrb_decode(points, ltrb), box)
    p = torch.rand(50, 2) * 100
    boxes = random_boxes(50, 6).float()
    torch.testing.assert_close(ltrb_decode(p, ltrb_encode(p, boxes)), boxes)


@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_clip_boxes(shape):
    boxes = (torch.rand(shape) - 0.3) * 200
    clipped = clip_boxes(boxes, (50, 80))  # height 50, width 80
    assert clipped.shape == boxes.shape
    assert torch.equal(clipped[..., 0::2], boxes[..., 0::2].clamp(0, 80))
    assert torch.equal(clipped[..., 1::2], boxes[..., 1::2].clamp(0, 50))
