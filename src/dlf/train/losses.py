"""Losses written out from their definitions, as functions and as `nn.Module`s.

Each loss is a short function you can read against its formula; the module beside it only
stores the options, so `Learner(loss_func=...)` accepts either. The modules also say how to
turn raw model outputs into predictions (`activation`), which `get_preds` uses.

Every function here is checked in float64 against `torch.nn.functional` (values and
gradients) or, where torch has no twin (focal, Dice), against a numpy formula, a hand-worked
example and numerical gradients: see tests/train/test_losses.py.
"""

from collections.abc import Callable, Mapping

import torch
from torch import nn

from dlf.core import DlfError

Reduction = str  # "mean", "sum" or "none"


def _reduce(loss: torch.Tensor, reduction: Reduction) -> torch.Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise DlfError(f"loss reduction {reduction!r} is unknown: use 'mean', 'sum' or 'none'")


def _upcast(x: torch.Tensor) -> torch.Tensor:
    """Half-precision outputs (from bf16/fp16 autocast) are scored in float32: the sums
    and logs of a loss lose too much in 8 or 11 bits of mantissa."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def _check_same_shape(name: str, input: torch.Tensor, target: torch.Tensor) -> None:
    if input.shape != target.shape:
        raise DlfError(
            f"{name}: prediction shape {tuple(input.shape)} and target shape "
            f"{tuple(target.shape)} differ; give one target value per output"
        )


# --- classification: one class per item ---------------------------------------------------


def cross_entropy(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    label_smoothing: float = 0.0,
    reduction: Reduction = "mean",
    ignore_index: int = -100,
) -> torch.Tensor:
    """Cross-entropy of logits `input` (N, C, *) against class indices `target` (N, *).

    With label smoothing ε the target distribution is (1-ε)·one_hot + ε/C, so the loss is
    (1-ε)·NLL + ε·(mean over classes of -log p). Class weights and `ignore_index` follow
    torch's rules: a "mean" divides by the summed weight of the (non-ignored) targets.
    Floating-point `target` of the same shape as `input` is read as class probabilities
    (soft labels, e.g. from mixup).
    """
    input = _upcast(input)
    n_classes = input.shape[1]
    log_p = input.log_softmax(dim=1)
    # the class weights broadcast along dim 1: shape (1, C, 1, 1, ...)
    w = None if weight is None else weight.view(1, -1, *([1] * (input.dim() - 2)))

    if target.is_floating_point():  # soft labels: -sum_c q_c log p_c
        _check_same_shape("cross_entropy", input, target)
        q = target * (1 - label_smoothing) + label_smoothing / n_classes
        per_item = -(log_p * q if w is None else log_p * q * w).sum(dim=1)
        return _reduce(per_item, reduction)

    keep = target != ignore_index
    safe_target = target.where(keep, 0)  # any valid index; the ignored items are zeroed below
    nll = -log_p.gather(1, safe_target.unsqueeze(1)).squeeze(1)
    smooth = -(log_p if w is None else log_p * w).sum(dim=1)  # ε's share: all classes
    item_weight = keep.to(input.dtype)
    if weight is not None:
        item_weight = item_weight * weight[safe_target]
    nll = nll * item_weight
    smooth = smooth * keep
    per_item = (1 - label_smoothing) * nll + (label_smoothing / n_classes) * smooth
    if reduction == "mean":
        # torch divides NLL by the summed target weights; the smoothing term too when
        # there are class weights, and by the count of kept items when there are none
        return per_item.sum() / item_weight.sum()
    return _reduce(per_item, reduction)


def binary_cross_entropy_with_logits(
    input: torch.Tensor,
    target: torch.Tensor,
    weight: torch.Tensor | None = None,
    pos_weight: torch.Tensor | None = None,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """-[pos_weight·y·log σ(x) + (1-y)·log(1-σ(x))], computed without overflow.

    With log σ(x) = -softplus(-x) and log(1-σ(x)) = -x - softplus(-x), the loss becomes
    (1-y)·x + (1 + (pos_weight-1)·y)·softplus(-x), and softplus(-x) = log1p(exp(-|x|)) +
    max(-x, 0) never exponentiates a large positive number.
    """
    input = _upcast(input)
    _check_same_shape("binary_cross_entropy_with_logits", input, target)
    y = target.to(input.dtype)
    softplus_neg_x = torch.log1p(torch.exp(-input.abs())) + (-input).clamp(min=0)
    if pos_weight is None:
        loss = (1 - y) * input + softplus_neg_x
    else:
        loss = (1 - y) * input + (1 + (pos_weight - 1) * y) * softplus_neg_x
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction)


def focal_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    alpha: float | None = 0.25,
    gamma: float = 2.0,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Binary focal loss on logits (Lin et al. 2017): -α_t·(1-p_t)^γ·log p_t.

    p_t is the probability given to the true label and α_t = α for positives, 1-α for
    negatives (`alpha=None` weighs both alike). With γ=0 and no α this is BCE with logits;
    γ>0 shrinks the loss of items the model already gets right.
    """
    input = _upcast(input)
    _check_same_shape("focal_loss", input, target)
    y = target.to(input.dtype)
    ce = binary_cross_entropy_with_logits(input, y, reduction="none")  # = -log p_t, stable
    p = torch.sigmoid(input)
    p_t = p * y + (1 - p) * (1 - y)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * y + (1 - alpha) * (1 - y))
    return _reduce(loss, reduction)


def dice_loss(
    input: torch.Tensor,
    target: torch.Tensor,
    smooth: float = 1.0,
    batch_dice: bool = False,
    reduction: Reduction = "mean",
) -> torch.Tensor:
    """Soft Dice loss on logits for binary or multilabel masks of shape (N, C, *spatial).

    p = σ(logits); for each image and channel, dice = (2·Σ p·y + smooth) / (Σ p + Σ y + smooth)
    over the spatial positions, and the loss is 1 - dice. `batch_dice=True` sums over the
    batch as well (one Dice per channel), which is steadier when many masks are empty.
    The smooth term keeps an empty prediction on an empty mask at loss 0 instead of 0/0.
    """
    input = _upcast(input)
    _check_same_shape("dice_loss", input, target)
    if input.dim() < 3:
        raise DlfError(
            f"dice_loss: expected masks of shape (N, C, H, W...) but got {tuple(input.shape)}; "
            "add the channel dimension with .unsqueeze(1)"
        )
    p, y = torch.sigmoid(input), target.to(input.dtype)
    dims = tuple(range(2, input.dim()))
    if batch_dice:
        dims = (0, *dims)
    intersection = (p * y).sum(dims)
    dice = (2 * intersection + smooth) / (p.sum(dims) + y.sum(dims) + smooth)
    return _reduce(1 - dice, reduction)


# --- regression ---------------------------------------------------------------------------


def mse_loss(
    input: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Mean squared error: (x - y)²."""
    input = _upcast(input)
    _check_same_shape("mse_loss", input, target)
    return _reduce((input - target.to(input.dtype)) ** 2, reduction)


def smooth_l1_loss(
    input: torch.Tensor, target: torch.Tensor, beta: float = 1.0, reduction: Reduction = "mean"
) -> torch.Tensor:
    """Huber-like loss: 0.5·d²/β where |d| < β, else |d| - 0.5·β (β=0 gives plain L1)."""
    input = _upcast(input)
    _check_same_shape("smooth_l1_loss", input, target)
    d = (input - target.to(input.dtype)).abs()
    if beta == 0:
        return _reduce(d, reduction)
    return _reduce(torch.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), reduction)


# --- the same losses as modules -----------------------------------------------------------


class CrossEntropyLoss(nn.Module):
    """`cross_entropy` with its options stored; predictions are the softmax over dim 1."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        label_smoothing: float = 0.0,
        reduction: Reduction = "mean",
        ignore_index: int = -100,
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)  # a buffer follows the model to the device
        self.label_smoothing, self.reduction = label_smoothing, reduction
        self.ignore_index = ignore_index

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(
            input, target, self.weight, self.label_smoothing, self.reduction, self.ignore_index
        )

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        return output.softmax(dim=1)


class BCEWithLogitsLoss(nn.Module):
    """`binary_cross_entropy_with_logits` as a module; predictions are σ(logits)."""

    def __init__(
        self,
        weight: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        reduction: Reduction = "mean",
    ) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy_with_logits(
            input, target, self.weight, self.pos_weight, self.reduction
        )

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)


class FocalLoss(nn.Module):
    """`focal_loss` as a module; predictions are σ(logits)."""

    def __init__(
        self, alpha: float | None = 0.25, gamma: float = 2.0, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self.alpha, self.gamma, self.reduction = alpha, gamma, reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return focal_loss(input, target, self.alpha, self.gamma, self.reduction)

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)


class DiceLoss(nn.Module):
    """`dice_loss` as a module; predictions are σ(logits)."""

    def __init__(
        self, smooth: float = 1.0, batch_dice: bool = False, reduction: Reduction = "mean"
    ) -> None:
        super().__init__()
        self.smooth, self.batch_dice, self.reduction = smooth, batch_dice, reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return dice_loss(input, target, self.smooth, self.batch_dice, self.reduction)

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(output)


class MSELoss(nn.Module):
    """`mse_loss` as a module."""

    def __init__(self, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return mse_loss(input, target, self.reduction)


class SmoothL1Loss(nn.Module):
    """`smooth_l1_loss` as a module."""

    def __init__(self, beta: float = 1.0, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.beta, self.reduction = beta, reduction

    def forward(self, input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return smooth_l1_loss(input, target, self.beta, self.reduction)


class CombinedLoss(nn.Module):
    """A weighted sum of named losses, e.g. `CombinedLoss({"bce": (BCEWithLogitsLoss(), 1.0),
    "dice": (DiceLoss(), 0.5)})`.

    After each call, `parts` maps each name to that part's unweighted value as a detached
    tensor on the device, so a logger can record the parts without a device sync; it reads
    them (with `.item()`) only when it writes a line.
    """

    def __init__(self, losses: Mapping[str, tuple[Callable[..., torch.Tensor], float]]) -> None:
        super().__init__()
        if not losses:
            raise DlfError("CombinedLoss needs at least one (loss, weight) pair")
        self.funcs = {name: f for name, (f, _) in losses.items()}
        self.weights = {name: float(w) for name, (_, w) in losses.items()}
        # the parts that are modules are also registered, so .to(device) moves their buffers
        self.modules_by_name = nn.ModuleDict(
            {name: f for name, f in self.funcs.items() if isinstance(f, nn.Module)}
        )
        self.parts: dict[str, torch.Tensor] = {}

    def forward(self, input: torch.Tensor, *targets: torch.Tensor) -> torch.Tensor:
        total = None
        for name, loss_func in self.funcs.items():
            value = loss_func(input, *targets)
            self.parts[name] = value.detach()
            weighted = self.weights[name] * value
            total = weighted if total is None else total + weighted
        return total

    def activation(self, output: torch.Tensor) -> torch.Tensor:
        first = next(iter(self.funcs.values()))
        activation = getattr(first, "activation", None)
        return output if activation is None else activation(output)


__all__ = [
    "BCEWithLogitsLoss",
    "CombinedLoss",
    "CrossEntropyLoss",
    "DiceLoss",
    "FocalLoss",
    "MSELoss",
    "SmoothL1Loss",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dice_loss",
    "focal_loss",
    "mse_loss",
    "smooth_l1_loss",
]
