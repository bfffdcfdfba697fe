"""Reference solutions for the week-3 exercises (in the tests, never in the package)."""

import torch
import torch.nn.functional as F
from torch import nn


def linear_forward(x, w, b):
    return x @ w + b, (x, w)


def linear_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(0)


def relu_forward(x):
    return x.clamp_min(0), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def conv_forward_naive(x, w, b, stride=1, pad=0):
    n, _c, h, wd = x.shape
    f, _, kh, kw = w.shape
    xp = F.pad(x, (pad, pad, pad, pad))
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = x.new_zeros(n, f, ho, wo)
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
            for k in range(f):
                out[:, k, i, j] = (patch * w[k]).sum((1, 2, 3)) + b[k]
    return out, (x, w, stride, pad)


def conv_backward_naive(dout, cache):
    x, w, stride, pad = cache
    kh, kw = w.shape[2:]
    xp = F.pad(x, (pad, pad, pad, pad))
    dxp, dw = torch.zeros_like(xp), torch.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + kh), slice(j * stride, j * stride + kw)
            for k in range(w.shape[0]):
                g = dout[:, k, i, j][:, None, None, None]
                dw[k] += (xp[:, :, rows, cols] * g).sum(0)
                dxp[:, :, rows, cols] += w[k] * g
    dx = dxp[:, :, pad : pad + x.shape[2], pad : pad + x.shape[3]]
    return dx, dw, dout.sum((0, 2, 3))


def conv_forward_unfold(x, w, b, stride=1, pad=0):
    n, _, h, wd = x.shape
    f, _, kh, kw = w.shape
    cols = F.unfold(x, (kh, kw), padding=pad, stride=stride)  # N x C·KH·KW x L
    ho, wo = (h + 2 * pad - kh) // stride + 1, (wd + 2 * pad - kw) // stride + 1
    out = (w.view(f, -1) @ cols + b[:, None]).view(n, f, ho, wo)
    return out, (x.shape, cols, w, stride, pad)


def conv_backward_unfold(dout, cache):
    shape, cols, w, stride, pad = cache
    f, _, kh, kw = w.shape
    d = dout.flatten(2)  # N x F x L
    dw = (d @ cols.transpose(1, 2)).sum(0).view_as(w)
    dcols = w.view(f, -1).T @ d  # N x C·KH·KW x L
    dx = F.fold(dcols, shape[2:], (kh, kw), padding=pad, stride=stride)
    return dx, dw, dout.sum((0, 2, 3))


def maxpool_forward(x, kernel=2, stride=2):
    n, c, h, w = x.shape
    cols = F.unfold(x.reshape(n * c, 1, h, w), kernel, stride=stride)  # NC x k·k x L
    out, idx = cols.max(1)
    ho, wo = (h - kernel) // stride + 1, (w - kernel) // stride + 1
    return out.view(n, c, ho, wo), (x.shape, idx, kernel, stride)


def maxpool_backward(dout, cache):
    (n, c, h, w), idx, kernel, stride = cache
    dcols = dout.new_zeros(n * c, kernel * kernel, idx.shape[1])
    dcols.scatter_(1, idx[:, None], dout.reshape(n * c, 1, -1))
    return F.fold(dcols, (h, w), kernel, stride=stride).view(n, c, h, w)  # fold sums overlaps


def batchnorm_forward(x, gamma, beta, state, train, momentum=0.1, eps=1e-5):
    if train:
        mean, var = x.mean(0), x.var(0, unbiased=False)
        n = x.shape[0]
        state["running_mean"] = (1 - momentum) * state["running_mean"] + momentum * mean
        state["running_var"] = (1 - momentum) * state["running_var"] + momentum * var * n / (n - 1)
    else:
        mean, var = state["running_mean"], state["running_var"]
    inv = 1 / (var + eps).sqrt()
    xhat = (x - mean) * inv
    return gamma * xhat + beta, (xhat, gamma, inv)


def batchnorm_backward(dout, cache):
    xhat, gamma, inv = cache
    dxhat = dout * gamma
    dx = inv * (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0))
    return dx, (dout * xhat).sum(0), dout.sum(0)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, **kwargs):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        shortcut = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + shortcut)
