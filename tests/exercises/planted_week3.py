"""Planted bugs for week 3: the usual mistakes, each with the hint it must produce."""

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from dlf.exercises import load_member_file

ok = load_member_file(Path(__file__).parent / "solutions" / "week3.py")


def linear_backward_mean_db(dout, cache):
    dx, dw, db = ok.linear_backward(dout, cache)
    return dx, dw, db / dout.shape[0]


def linear_backward_transposed_dw(dout, cache):
    dx, dw, db = ok.linear_backward(dout, cache)
    return dx, dw.T, db


def relu_backward_unmasked(dout, cache):
    return dout.clone()


def relu_forward_in_place(x):
    x[x < 0] = 0
    return x, x


def conv_forward_pad_off_by_one(x, w, b, stride=1, pad=0):
    out, (x_, w_, s, p) = ok.conv_forward_naive(x, w, b, stride, pad + 1)
    return out, (x_, w_, s, p)


def conv_forward_flipped(x, w, b, stride=1, pad=0):
    return ok.conv_forward_naive(x, w.flip(-1, -2), b, stride, pad)


def conv_backward_assigns(dout, cache):
    x, w, stride, pad = cache
    kh, kw = w.shape[2:]
    xp = F.pad(x, (pad, pad, pad, pad))
    dxp, dw = torch.zeros_like(xp), torch.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            contrib = torch.zeros_like(dxp[:, :, rows, cols])
            for k in range(w.shape[0]):
                g = dout[:, k, i, j][:, None, None, None]
                dw[k] += (xp[:, :, rows, cols] * g).sum(0)
                contrib += w[k] * g
            dxp[:, :, rows, cols] = contrib  # overwrites the overlapping part of the last window
    dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]
    return dx, dw, dout.sum((0, 2, 3))


def conv_backward_mean_db(dout, cache):
    dx, dw, db = ok.conv_backward_naive(dout, cache)
    return dx, dw, db / dout.shape[0]


def conv_unfold_forward_is_naive(x, w, b, stride=1, pad=0):
    out, _ = ok.conv_forward_naive(x, w, b, stride, pad)
    return out, ok.conv_forward_unfold(x, w, b, stride, pad)[1]


def conv_unfold_backward_uncropped(dout, cache):
    shape, cols, w, stride, pad = cache
    f, _, kh, kw = w.shape
    d = dout.flatten(2)
    dw = (d @ cols.transpose(1, 2)).sum(0).view_as(w)
    padded = (shape[2] + 2 * pad, shape[3] + 2 * pad)
    dx = F.fold(w.view(f, -1).T @ d, padded, (kh, kw), stride=stride)  # the padding kept
    return dx, dw, dout.sum((0, 2, 3))


def maxpool_backward_everywhere(dout, cache):
    (n, c, h, w), _idx, kernel, stride = cache
    cols = dout.reshape(n * c, 1, -1).expand(-1, kernel * kernel, -1)
    return F.fold(cols.contiguous(), (h, w), kernel, stride=stride).view(n, c, h, w)


def maxpool_backward_assigns(dout, cache):
    (n, c, h, w), idx, kernel, stride = cache
    dx = dout.new_zeros(n * c, h * w)
    wo = (w - kernel) // stride + 1
    flat = dout.reshape(n * c, -1)
    for l in range(idx.shape[1]):
        r, q = divmod(int(l), wo)
        di, dj = idx[:, l] // kernel, idx[:, l] % kernel
        pos = (r * stride + di) * w + q * stride + dj
        dx[torch.arange(n * c), pos] = flat[:, l]  # a second window's share replaces the first
    return dx.view(n, c, h, w)


def bn_forward_eval_batch_stats(x, gamma, beta, state, train, momentum=0.1, eps=1e-5):
    if train:
        return ok.batchnorm_forward(x, gamma, beta, state, train, momentum, eps)
    return ok.batchnorm_forward(
        x, gamma, beta, {"running_mean": 0.0, "running_var": 0.0}, True, momentum, eps
    )


def bn_forward_biased_running_var(x, gamma, beta, state, train, momentum=0.1, eps=1e-5):
    out, cache = ok.batchnorm_forward(x, gamma, beta, state, train, momentum, eps)
    if train:
        n, v = x.shape[0], x.var(0, unbiased=False)
        state["running_var"] = state["running_var"] - momentum * v * n / (n - 1) + momentum * v
    return out, cache


def bn_backward_no_mean_path(dout, cache):
    xhat, gamma, inv = cache
    return dout * gamma * inv, (dout * xhat).sum(0), dout.sum(0)


class BlockReluBeforeAdd(ok.BasicBlock):
    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out))) + shortcut


class BlockConvBias(ok.BasicBlock):
    def __init__(self, inplanes, planes, stride=1, downsample=None, **kwargs):
        super().__init__(inplanes, planes, stride, downsample)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=True)


class BlockOwnNames(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, **kwargs):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False), nn.BatchNorm2d(planes), nn.ReLU(),
            nn.Conv2d(planes, planes, 3, 1, 1, bias=False), nn.BatchNorm2d(planes),
        )  # fmt: skip
        self.downsample = downsample

    def forward(self, x):
        return F.relu(self.body(x) + (x if self.downsample is None else self.downsample(x)))


# exercise, the member's name for the part, the buggy version, a fragment of the hint it must get
BUGS = [
    ("linear", "linear_backward", linear_backward_mean_db, "factor of 1/N"),
    (
        "linear",
        "linear_backward",
        linear_backward_transposed_dw,
        "dw: shape (5, 3), expected (3, 5)",
    ),
    ("relu", "relu_backward", relu_backward_unmasked, "only where x > 0"),
    ("relu", "relu_forward", relu_forward_in_place, "changed its input in place"),
    (
        "conv_naive",
        "conv_forward_naive",
        conv_forward_pad_off_by_one,
        "H' = (H + 2·pad - KH) // stride + 1",
    ),
    ("conv_naive", "conv_forward_naive", conv_forward_flipped, "FLIPPED kernel"),
    ("conv_naive", "conv_backward_naive", conv_backward_assigns, "accumulate (+=) into dx"),
    ("conv_naive", "conv_backward_naive", conv_backward_mean_db, "factor of 1/N"),
    ("conv_unfold", "conv_forward_unfold", conv_unfold_forward_is_naive, "a loop over pixels"),
    ("conv_unfold", "conv_backward_unfold", conv_unfold_backward_uncropped, "dx: shape"),
    ("maxpool", "maxpool_backward", maxpool_backward_everywhere, "only the max gets it"),
    ("maxpool", "maxpool_backward", maxpool_backward_assigns, "accumulate (+=) into dx"),
    (
        "batchnorm",
        "batchnorm_forward",
        bn_forward_eval_batch_stats,
        "eval mode used the batch's statistics",
    ),
    ("batchnorm", "batchnorm_forward", bn_forward_biased_running_var, "UNBIASED batch variance"),
    ("batchnorm", "batchnorm_backward", bn_backward_no_mean_path, "paths through the batch mean"),
    ("basic_block", "BasicBlock", BlockReluBeforeAdd, "AFTER adding the shortcut"),
    ("basic_block", "BasicBlock", BlockConvBias, "need no bias"),
    ("basic_block", "BasicBlock", BlockOwnNames, "name the layers as dlf does"),
]
