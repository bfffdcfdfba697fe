"""Losses against their references, in float64, values and gradients.

References: torch.nn.functional where torch has the same loss (cross-entropy, BCE with
logits, MSE, smooth L1); a numpy formula for focal loss; a hand-worked example for Dice;
torch.autograd.gradcheck (numerical gradients) for the losses with no torch twin.
"""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlf.core import DlfError
from dlf.train import losses as L

DT = torch.float64


def _values_and_grads(f, ref, *inputs):
    """Loss value and d loss / d inputs[0] from our function and from the reference."""
    x = inputs[0].clone().requires_grad_(True)
    ours = f(x, *inputs[1:])
    (g_ours,) = torch.autograd.grad(ours.sum(), x)
    x_ref = inputs[0].clone().requires_grad_(True)
    theirs = ref(x_ref, *inputs[1:])
    (g_ref,) = torch.autograd.grad(theirs.sum(), x_ref)
    return ours.detach(), theirs.detach(), g_ours, g_ref


def _assert_matches(f, ref, *inputs):
    v, v_ref, g, g_ref = _values_and_grads(f, ref, *inputs)
    torch.testing.assert_close(v, v_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(g, g_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.3])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_matches_torch(smoothing, reduction, weighted):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(16, 5, generator=g, dtype=DT) * 3
    y = torch.randint(0, 5, (16,), generator=g)
    y[3] = -100  # one ignored item
    w = torch.rand(5, generator=g, dtype=DT) + 0.5 if weighted else None
    kw = dict(weight=w, label_smoothing=smoothing, reduction=reduction)
    _assert_matches(
        lambda a, b: L.cross_entropy(a, b, **kw), lambda a, b: F.cross_entropy(a, b, **kw), x, y
    )


def test_cross_entropy_segmentation_shape_and_soft_labels():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 3, 5, generator=g, dtype=DT)
    y = torch.randint(0, 4, (2, 3, 5), generator=g)
    kw = dict(label_smoothing=0.2)
    _assert_matches(
        lambda a, b: L.cross_entropy(a, b, **kw), lambda a, b: F.cross_entropy(a, b, **kw), x, y
    )
    soft = torch.rand(2, 4, 3, 5, generator=g, dtype=DT).softmax(dim=1)
    w = torch.rand(4, generator=g, dtype=DT)
    kw = dict(label_smoothing=0.1, weight=w)
    _assert_matches(
        lambda a, b: L.cross_entropy(a, b, **kw), lambda a, b: F.cross_entropy(a, b, **kw), x, soft
    )


@pytest.mark.parametrize("use_pos_weight", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_matches_torch(use_pos_weight, reduction):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(8, 3, generator=g, dtype=DT) * 10  # includes large |logits|
    y = (torch.rand(8, 3, generator=g) > 0.5).to(DT)
    pw = torch.tensor([0.5, 2.0, 3.0], dtype=DT) if use_pos_weight else None
    w = torch.rand(8, 3, generator=g, dtype=DT)
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    _assert_matches(
        lambda a, b: L.binary_cross_entropy_with_logits(a, b, **kw),
        lambda a, b: F.binary_cross_entropy_with_logits(a, b, **kw),
        x,
        y,
    )


def test_bce_with_logits_is_stable_at_huge_logits():
    x = torch.tensor([1000.0, -1000.0, 1000.0, -1000.0], dtype=DT)
    y = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=DT)
    loss = L.binary_cross_entropy_with_logits(x, y, reduction="none")
    torch.testing.assert_close(loss, torch.tensor([0.0, 0.0, 1000.0, 1000.0], dtype=DT))


def _focal_numpy(x, y, alpha, gamma):
    """The paper's formula, directly: FL = -α_t (1 - p_t)^γ log(p_t)."""
    p = 1 / (1 + np.exp(-x))
    p_t = np.where(y == 1, p, 1 - p)
    alpha_t = np.ones_like(x) if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    return -alpha_t * (1 - p_t) ** gamma * np.log(p_t)


def _focal_numpy_grad(x, y, alpha, gamma):
    """d FL / d x by hand: with s = ±1 for y = 1/0, dp_t/dx = s·p_t(1-p_t), so
    dFL/dx = α_t·s·(1-p_t)^γ·[γ·p_t·log p_t - (1-p_t)]."""
    p = 1 / (1 + np.exp(-x))
    p_t = np.where(y == 1, p, 1 - p)
    s = np.where(y == 1, 1.0, -1.0)
    alpha_t = np.ones_like(x) if alpha is None else np.where(y == 1, alpha, 1 - alpha)
    return alpha_t * s * (1 - p_t) ** gamma * (gamma * p_t * np.log(p_t) - (1 - p_t))


@pytest.mark.parametrize(("alpha", "gamma"), [(0.25, 2.0), (None, 2.0), (0.6, 0.5), (0.25, 0.0)])
def test_focal_matches_numpy_formula(alpha, gamma):
    g = torch.Generator().manual_seed(3)
    x = torch.randn(50, generator=g, dtype=DT) * 4
    y = (torch.rand(50, generator=g) > 0.7).to(DT)
    xr = x.clone().requires_grad_(True)
    ours = L.focal_loss(xr, y, alpha=alpha, gamma=gamma, reduction="none")
    (grad,) = torch.autograd.grad(ours.sum(), xr)
    ref = _focal_numpy(x.numpy(), y.numpy(), alpha, gamma)
    np.testing.assert_allclose(ours.detach().numpy(), ref, rtol=1e-12, atol=1e-14)
    ref_grad = _focal_numpy_grad(x.numpy(), y.numpy(), alpha, gamma)
    np.testing.assert_allclose(grad.numpy(), ref_grad, rtol=1e-10, atol=1e-14)
    assert torch.autograd.gradcheck(lambda a: L.focal_loss(a, y, alpha=alpha, gamma=gamma), (xr,))


def test_focal_without_alpha_and_gamma_is_bce():
    g = torch.Generator().manual_seed(4)
    x = torch.randn(20, generator=g, dtype=DT)
    y = (torch.rand(20, generator=g) > 0.5).to(DT)
    torch.testing.assert_close(
        L.focal_loss(x, y, alpha=None, gamma=0.0), F.binary_cross_entropy_with_logits(x, y)
    )


def _logit(p):
    return math.log(p / (1 - p))


def test_dice_loss_hand_worked_example():
    # one 2x2 image, p = [[0.5, 0.5], [0.8, 0.2]], mask = [[1, 0], [1, 0]]
    # intersection = 0.5 + 0.8 = 1.3; Σp = 2.0; Σy = 2
    # smooth=1: dice = (2·1.3 + 1) / (2 + 2 + 1) = 3.6 / 5 = 0.72 -> loss 0.28
    # smooth=0: dice = 2.6 / 4 = 0.65 -> loss 0.35
    x = torch.tensor([[[[0.0, 0.0], [_logit(0.8), _logit(0.2)]]]], dtype=DT)
    y = torch.tensor([[[[1.0, 0.0], [1.0, 0.0]]]], dtype=DT)
    assert L.dice_loss(x, y, smooth=1.0).item() == pytest.approx(0.28, abs=1e-12)
    assert L.dice_loss(x, y, smooth=0.0).item() == pytest.approx(0.35, abs=1e-12)


def test_dice_loss_per_image_and_batch_and_empty_masks():
    # image 1 as above (loss 0.28); image 2 empty mask, p = 0.5 everywhere:
    # dice = (0 + 1) / (2 + 0 + 1) = 1/3 -> loss 2/3
    x = [[[[0.0, 0.0], [_logit(0.8), _logit(0.2)]]], [[[0.0, 0.0], [0.0, 0.0]]]]
    y = [[[[1.0, 0.0], [1.0, 0.0]]], [[[0.0, 0.0], [0.0, 0.0]]]]
    x, y = torch.tensor(x, dtype=DT), torch.tensor(y, dtype=DT)
    per_image = L.dice_loss(x, y, reduction="none")
    torch.testing.assert_close(per_image, torch.tensor([[0.28], [2 / 3]], dtype=DT))
    # batch Dice: intersection 1.3, Σp = 4.0, Σy = 2 -> (2.6 + 1) / 7
    assert L.dice_loss(x, y, batch_dice=True).item() == pytest.approx(1 - 3.6 / 7, abs=1e-12)
    # a confident empty prediction on an empty mask costs (almost) nothing
    assert L.dice_loss(torch.full((1, 1, 2, 2), -50.0, dtype=DT), y[1:]).item() < 1e-12


def test_dice_loss_gradients_numerically():
    g = torch.Generator().manual_seed(5)
    x = torch.randn(2, 3, 4, 4, generator=g, dtype=DT, requires_grad=True)
    y = (torch.rand(2, 3, 4, 4, generator=g) > 0.6).to(DT)
    assert torch.autograd.gradcheck(lambda a: L.dice_loss(a, y), (x,))
    assert torch.autograd.gradcheck(lambda a: L.dice_loss(a, y, batch_dice=True), (x,))


def test_dice_loss_refuses_masks_without_channel_dim():
    with pytest.raises(DlfError, match="unsqueeze"):
        L.dice_loss(torch.zeros(2, 16), torch.zeros(2, 16))


@pytest.mark.parametrize("beta", [1.0, 0.3, 0.0])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_smooth_l1_and_mse_match_torch(beta, reduction):
    g = torch.Generator().manual_seed(6)
    x = torch.randn(30, 2, generator=g, dtype=DT) * 2
    y = torch.randn(30, 2, generator=g, dtype=DT)
    _assert_matches(
        lambda a, b: L.smooth_l1_loss(a, b, beta=beta, reduction=reduction),
        lambda a, b: F.smooth_l1_loss(a, b, beta=beta, reduction=reduction),
        x,
        y,
    )
    _assert_matches(
        lambda a, b: L.mse_loss(a, b, reduction=reduction),
        lambda a, b: F.mse_loss(a, b, reduction=reduction),
        x,
        y,
    )


def test_modules_equal_their_functions():
    g = torch.Generator().manual_seed(7)
    x = torch.randn(4, 1, 3, 3, generator=g, dtype=DT)
    y = (torch.rand(4, 1, 3, 3, generator=g) > 0.5).to(DT)
    assert L.BCEWithLogitsLoss()(x, y) == L.binary_cross_entropy_with_logits(x, y)
    assert L.FocalLoss(alpha=0.3, gamma=1.5)(x, y) == L.focal_loss(x, y, alpha=0.3, gamma=1.5)
    assert L.DiceLoss(smooth=0.5)(x, y) == L.dice_loss(x, y, smooth=0.5)
    assert L.MSELoss()(x, y) == L.mse_loss(x, y)
    assert L.SmoothL1Loss(beta=0.5)(x, y) == L.smooth_l1_loss(x, y, beta=0.5)
    logits, classes = torch.randn(6, 3, dtype=DT), torch.tensor([0, 1, 2, 2, 1, 0])
    ce = L.CrossEntropyLoss(label_smoothing=0.1)
    assert ce(logits, classes) == L.cross_entropy(logits, classes, label_smoothing=0.1)
    torch.testing.assert_close(ce.activation(logits).sum(dim=1), torch.ones(6, dtype=DT))


def test_combined_loss_weights_parts_and_keeps_them_on_device():
    g = torch.Generator().manual_seed(8)
    x = torch.randn(3, 1, 4, 4, generator=g, dtype=DT, requires_grad=True)
    y = (torch.rand(3, 1, 4, 4, generator=g) > 0.5).to(DT)
    combo = L.CombinedLoss({"bce": (L.BCEWithLogitsLoss(), 1.0), "dice": (L.dice_loss, 0.5)})
    total = combo(x, y)
    bce, dice = F.binary_cross_entropy_with_logits(x, y), L.dice_loss(x, y)
    torch.testing.assert_close(total, bce + 0.5 * dice)
    assert set(combo.parts) == {"bce", "dice"}
    torch.testing.assert_close(combo.parts["dice"], dice.detach())
    assert all(isinstance(v, torch.Tensor) and not v.requires_grad for v in combo.parts.values())
    (g_combo,) = torch.autograd.grad(total, x)
    (g_ref,) = torch.autograd.grad(bce + 0.5 * dice, x)
    torch.testing.assert_close(g_combo, g_ref)


def test_shape_mismatch_is_a_clear_error():
    with pytest.raises(DlfError, match="shape"):
        L.binary_cross_entropy_with_logits(torch.zeros(4, 1), torch.zeros(4))
    with pytest.raises(DlfError, match="reduction"):
        L.mse_loss(torch.zeros(2), torch.zeros(2), reduction="avg")


def test_half_precision_outputs_are_scored_in_float32():
    g = torch.Generator().manual_seed(9)
    x = torch.randn(64, 10, generator=g, dtype=DT) * 3
    y = torch.randint(0, 10, (64,), generator=g)
    loss = L.cross_entropy(x.bfloat16(), y, label_smoothing=0.1)
    assert loss.dtype == torch.float32
    # the only error left is bf16's rounding of the logits themselves
    reference = F.cross_entropy(x.bfloat16().double(), y, label_smoothing=0.1)
    assert abs(loss.item() - reference.item()) < 1e-5
    masks = (torch.rand(2, 1, 8, 8, generator=g) > 0.5).float()
    assert L.dice_loss(torch.randn(2, 1, 8, 8).half(), masks).dtype == torch.float32
