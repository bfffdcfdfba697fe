"""Blocks checked against references: torch's own pooling, formulas written out, numerical gradients."""

import math

import pytest
import torch
from torch import nn

from dlf.models import (
    SCSE,
    AdaptiveConcatPool2d,
    BasicBlock,
    Bottleneck,
    ConvNormAct,
    GeM,
    SqueezeExcite,
    init_weights_kaiming,
)
from dlf.models.layers import make_divisible


def test_gem_p1_is_average_pooling_and_large_p_approaches_max():
    x = torch.rand(2, 3, 5, 7, dtype=torch.float64) + 0.1
    torch.testing.assert_close(GeM(p=1.0)(x), x.mean((2, 3), keepdim=True))
    big = GeM(p=200.0, learn_p=False)(x)
    torch.testing.assert_close(big, x.amax((2, 3), keepdim=True), rtol=0.05, atol=0)


def test_gem_gradients_match_numerical_gradients():
    # CS231n's rule: analytic gradients vs central differences in float64, for x and for p.
    gem = GeM(p=3.0).double()
    x = (torch.rand(2, 3, 4, 4, dtype=torch.float64) + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(gem, (x,))
    gem(x).sum().backward()
    h = 1e-6
    with torch.no_grad():
        gem.p += h
        up = gem(x).sum()
        gem.p -= 2 * h
        down = gem(x).sum()
    numeric = (up - down) / (2 * h)
    rel_error = abs(gem.p.grad - numeric) / max(abs(gem.p.grad), abs(numeric))
    assert rel_error < 1e-7


def test_adaptive_concat_pool_is_max_then_mean():
    x = torch.randn(2, 4, 6, 6)
    out = AdaptiveConcatPool2d()(x)
    expected = torch.cat([x.amax((2, 3), keepdim=True), x.mean((2, 3), keepdim=True)], 1)
    torch.testing.assert_close(out, expected)


def test_squeeze_excite_matches_written_out_formula_and_timm_widths():
    se = SqueezeExcite(64).double()
    assert se.fc1.out_channels == 8  # timm: make_divisible(64 / 16, 8)
    assert [make_divisible(c / 16) for c in (256, 512, 1024, 2048)] == [16, 32, 64, 128]
    x = torch.randn(2, 64, 5, 5, dtype=torch.float64)
    w1, b1 = se.fc1.weight[:, :, 0, 0], se.fc1.bias
    w2, b2 = se.fc2.weight[:, :, 0, 0], se.fc2.bias
    gate = torch.sigmoid(torch.relu(x.mean((2, 3)) @ w1.T + b1) @ w2.T + b2)
    torch.testing.assert_close(se(x), x * gate[:, :, None, None])


def test_scse_matches_written_out_formula_and_gradients():
    m = SCSE(8, reduction=4).double()
    x = torch.randn(2, 8, 3, 3, dtype=torch.float64, requires_grad=True)
    c1, c2, s = m.cse[1], m.cse[3], m.sse[0]
    chan = torch.sigmoid(
        torch.relu(x.mean((2, 3)) @ c1.weight[:, :, 0, 0].T + c1.bias) @ c2.weight[:, :, 0, 0].T
        + c2.bias
    )
    spatial = torch.sigmoid(torch.einsum("nchw,c->nhw", x, s.weight[0, :, 0, 0]) + s.bias)
    torch.testing.assert_close(m(x), x * chan[:, :, None, None] + x * spatial[:, None])
    assert torch.autograd.gradcheck(m, (x,))


def test_residual_blocks_are_identity_plus_branch():
    # With the branch's last BN scaled to zero a block is relu(x): the shortcut carries the input.
    for block in (BasicBlock(16, 16), Bottleneck(64, 16)):
        init_weights_kaiming(block, zero_init_last=True)
        block.eval()
        x = torch.randn(2, block.conv1.in_channels, 8, 8)
        torch.testing.assert_close(block(x), torch.relu(x))


def test_resnext_bottleneck_width_and_groups():
    b = Bottleneck(256, 64, groups=32, base_width=4)
    assert b.conv2.groups == 32 and b.conv2.in_channels == 128  # 64 * 4/64 * 32
    assert b.conv3.out_channels == 256


@pytest.mark.parametrize("stride", [1, 2])
def test_conv_norm_act_shape(stride):
    m = ConvNormAct(3, 8, 3, stride)
    assert m(torch.randn(1, 3, 16, 16)).shape == (1, 8, 16 // stride, 16 // stride)


def test_kaiming_init_has_he_std():
    conv = nn.Conv2d(64, 256, 3)
    init_weights_kaiming(conv)
    fan_out = 256 * 9
    assert abs(conv.weight.std().item() - math.sqrt(2 / fan_out)) < 0.02 * math.sqrt(2 / fan_out)
    assert conv.bias.abs().sum() == 0
