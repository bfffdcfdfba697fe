"""Week 3 exercises: the layers of a CNN, forward and backward, by hand.

Each `*_forward` returns (out, cache); `*_backward(dout, cache)` gets the gradient of the loss
with respect to `out` and returns the gradients with respect to the inputs, as CS231n's
assignments do. Use torch tensors (float64 in the checks) but not autograd or
torch.nn.functional's layers: the point is to write the arithmetic. Grade with

    dlf check week3 THIS_FILE            (or --only conv_naive, ...)

Gradients are compared with central differences: a relative error below 1e-7 is right.
"""

import torch
from torch import nn


def linear_forward(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor):
    """x: N x D, w: D x M, b: M  ->  out = x @ w + b (N x M), cache."""
    raise NotImplementedError


def linear_backward(dout: torch.Tensor, cache):
    """dout: N x M  ->  (dx N x D, dw D x M, db M)."""
    raise NotImplementedError


def relu_forward(x: torch.Tensor):
    """out = max(x, 0) elementwise (a new tensor: leave x as it is), cache."""
    raise NotImplementedError


def relu_backward(dout: torch.Tensor, cache):
    """dx: the gradient passes where x > 0, and is 0 elsewhere."""
    raise NotImplementedError


def conv_forward_naive(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, pad: int = 0
):
    """Convolution (deep learning's: cross-correlation, the kernel is not flipped) with loops.

    x: N x C x H x W, w: F x C x KH x KW, b: F; zero padding `pad` on each side.
    out: N x F x H' x W', H' = (H + 2·pad - KH) // stride + 1 (W' likewise); returns (out, cache).
    """
    raise NotImplementedError


def conv_backward_naive(dout: torch.Tensor, cache):
    """dout: N x F x H' x W'  ->  (dx N x C x H x W, dw F x C x KH x KW, db F), with loops."""
    raise NotImplementedError


def conv_forward_unfold(
    x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, stride: int = 1, pad: int = 0
):
    """The same convolution without Python loops: torch.nn.functional.unfold turns x into
    columns (N x C·KH·KW x H'·W'), one matrix multiply with w does the rest."""
    raise NotImplementedError


def conv_backward_unfold(dout: torch.Tensor, cache):
    """The same gradients without Python loops (torch.nn.functional.fold is unfold's adjoint)."""
    raise NotImplementedError


def maxpool_forward(x: torch.Tensor, kernel: int = 2, stride: int = 2):
    """Max over each kernel x kernel window, windows `stride` apart, no padding.
    x: N x C x H x W -> out: N x C x H' x W', H' = (H - kernel) // stride + 1; (out, cache)."""
    raise NotImplementedError


def maxpool_backward(dout: torch.Tensor, cache):
    """dx: each window's gradient goes to the element that was its max (windows may overlap)."""
    raise NotImplementedError


def batchnorm_forward(
    x: torch.Tensor,
    gamma: torch.Tensor,
    beta: torch.Tensor,
    state: dict,
    train: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
):
    """Batch norm over the batch dimension of x: N x D, as torch's BatchNorm1d.

    train=True:  normalise with the batch mean and (biased) variance, then
                 state["running_mean"] = (1-momentum)·running_mean + momentum·mean, and
                 state["running_var"] likewise with the UNBIASED batch variance (N-1).
    train=False: normalise with state["running_mean"] and state["running_var"].
    out = gamma · (x - mean) / sqrt(var + eps) + beta; returns (out, cache).
    """
    raise NotImplementedError


def batchnorm_backward(dout: torch.Tensor, cache):
    """For train=True: (dx N x D, dgamma D, dbeta D); dx includes the paths through the batch
    mean and variance."""
    raise NotImplementedError


class BasicBlock(nn.Module):
    """ResNet-18's residual block (He et al. 2016) as an nn.Module, with dlf's names, so its
    weights can be copied to and from dlf.models.layers.BasicBlock:

    conv1 (3x3, stride, pad 1, no bias) -> bn1 -> ReLU -> conv2 (3x3, pad 1, no bias) -> bn2,
    plus the shortcut (x, or downsample(x) when given), then ReLU.
    """

    expansion = 1  # ResNet reads it: the block's output has planes * expansion channels

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        **kwargs,
    ):
        super().__init__()
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
