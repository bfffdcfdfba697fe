"""U-Net and FPN: shapes at any input size, any encoder, and the FPN sum against numpy."""

import numpy as np
import pytest
import torch
from torch import nn

from dlf.models import FPN, UNet, create_model, resnet18, vgg11


@pytest.mark.parametrize("size", [(64, 64), (50, 70)])
def test_unet_output_at_input_resolution(size):
    model = create_model("unet_resnet34", num_classes=2, in_chans=6)
    assert model(torch.randn(2, 6, *size)).shape == (2, 2, *size)


def test_unet_on_another_encoder_and_scse():
    plain = UNet(vgg11(features_only=True), num_classes=1)
    scse = UNet(vgg11(features_only=True), num_classes=1, attention="scse")
    x = torch.randn(2, 3, 64, 64)
    assert plain(x).shape == scse(x).shape == (2, 1, 64, 64)
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert n(scse) > n(plain)
    assert (
        sum(isinstance(m, nn.Module) and type(m).__name__ == "SCSE" for m in scse.modules()) == 10
    )


def test_unet_param_groups_split_encoder_from_decoder():
    model = create_model("unet_resnet18", num_classes=1)
    enc, dec = model.param_groups()
    assert {id(p) for p in enc} == {id(p) for p in model.encoder.parameters()}
    assert len(enc) + len(dec) == len(list(model.parameters()))
    assert any(p is model.head.weight for p in dec)


def test_unet_rejects_bad_arguments():
    with pytest.raises(ValueError, match="decoder_channels"):
        UNet(resnet18(features_only=True), decoder_channels=(64, 32))
    with pytest.raises(ValueError, match="attention"):
        UNet(resnet18(features_only=True), attention="cbam")


def test_fpn_shapes_on_resnet_features():
    enc = resnet18(features_only=True)
    fpn = FPN(enc.feature_channels, out_channels=32)
    outs = fpn(enc(torch.randn(2, 3, 64, 64)))
    assert [o.shape for o in outs] == [(2, 32, 64 // r, 64 // r) for r in enc.feature_reductions]


def test_fpn_top_down_sum_against_numpy():
    # With identity laterals and identity 3x3 outputs, level i must be c_i + upsample(level i+1).
    c = 4
    fpn = FPN([c, c, c], out_channels=c).double()
    eye = torch.eye(c, dtype=torch.float64)
    with torch.no_grad():
        for lat, out in zip(fpn.lateral, fpn.output):
            lat.weight.copy_(eye[:, :, None, None])
            lat.bias.zero_()
            out.weight.zero_()
            out.weight[:, :, 1, 1] = eye
            out.bias.zero_()
    feats = [torch.randn(1, c, s, s, dtype=torch.float64) for s in (8, 4, 2)]
    got = [o.detach().numpy() for o in fpn(feats)]
    f = [t.numpy() for t in feats]
    up = lambda a: a.repeat(2, axis=2).repeat(2, axis=3)  # noqa: E731 - nearest, factor 2
    p2 = f[2]
    p1 = f[1] + up(p2)
    p0 = f[0] + up(p1)
    for g, e in zip(got, [p0, p1, p2]):
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
