"""Week 4 exercises: losses, optimizers, the one-cycle schedule and the training loop.

Fill in every function and `step` below, then grade them with

    dlf check week4 THIS_FILE            (or --only adam, ...)

Every function works on torch tensors (float64 in the checks): keep results in torch, do not
call .item() or .numpy() on something the checks differentiate. Once a part passes, run it
inside a real project, e.g. `dlf train aptos --use THIS_FILE:Adam` (docs/week4-training.md).
"""

from collections.abc import Callable

import torch
from torch import nn
from torch.optim import Optimizer


def softmax_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean cross-entropy of `logits` (N x C, unnormalised scores) against class indices
    `target` (N, int64), as torch.nn.functional.cross_entropy computes it.

    With label smoothing ε the target distribution is (1-ε)·one_hot + ε/C (spread over all
    C classes). Must stay finite for logits of ±1000. Returns a 0-dim tensor.
    """
    raise NotImplementedError


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, alpha: float | None = 0.25, gamma: float = 2.0
) -> torch.Tensor:
    """Mean binary focal loss (Lin et al. 2017) of `logits` (any shape) against 0/1
    `target` (same shape): -α_t·(1-p_t)^γ·log p_t, where p = sigmoid(logits), p_t is the
    probability of the true label and α_t = α for positives, 1-α for negatives (alpha=None:
    no weighting). gamma=0, alpha=None is binary cross-entropy. Finite for logits of ±100.
    """
    raise NotImplementedError


class SGD(Optimizer):
    """SGD with momentum and L2 weight decay, following torch.optim.SGD (no dampening):

    g = grad + weight_decay·p; buf = g on the first step, then buf = momentum·buf + g;
    p -= lr·buf   (with momentum = 0: p -= lr·g)
    """

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        """Update every parameter with a gradient, in every group of self.param_groups
        (each group has its own lr, momentum, weight_decay); keep per-parameter buffers in
        self.state[p]."""
        raise NotImplementedError


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay, following torch.optim.Adam:

    g = grad + weight_decay·p;  m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²  (m, v start at 0)
    at step t (1, 2, ...): m̂ = m / (1-β1^t);  v̂ = v / (1-β2^t);  p -= lr·m̂ / (√v̂ + eps)
    """

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        """One Adam update of every parameter with a gradient (state in self.state[p])."""
        raise NotImplementedError


def one_cycle_lr(
    lr_max: float, div: float = 25.0, div_final: float = 1e5, pct_start: float = 0.25
) -> Callable[[float], float]:
    """fastai's one-cycle learning rate as a function of training progress pos in [0, 1]:
    for pos < pct_start a cosine rise from lr_max/div to lr_max, then a cosine fall from
    lr_max to lr_max/div_final at pos = 1. A cosine from a to b over a phase, at the share s
    of that phase: a + (b - a)·(1 - cos(π·s))/2.
    """
    raise NotImplementedError


def fit_one_epoch(
    model: nn.Module, loader, loss_func: Callable, opt: torch.optim.Optimizer
) -> float:
    """Train `model` for one pass over `loader` (batches of (x, y)): for every batch compute
    the loss of model(x) against y, its gradients, and one optimizer step. Leave the model
    trained; return the mean of the batch losses as a Python float.
    """
    raise NotImplementedError
