"""DenseNet and EfficientNet against published figures and an independent functional reference.

References: torchvision's model tables for the parameter counts; the layouts of torchvision's
and timm's checkpoints, spelled out with a functional forward in backbone_layouts.py; timm's
adapt_input_conv rule for the 6-channel stem; the definitions of stochastic depth and of
torchvision's channel rounding worked by hand.
"""

import pytest
import torch

from dlf.models import (
    create_model,
    densenet121,
    efficientnet_b0,
    load_pretrained,
    min_input_size,
    total_stride,
)
from dlf.models.layers import DropPath, make_divisible

from .backbone_layouts import (
    densenet_entries,
    densenet_forward,
    efficientnet_b0_entries,
    efficientnet_b0_forward,
    random_state,
)

# torchvision's model tables (num_params of the IMAGENET1K_V1 weights of densenet121/161/169/
# 201 and efficientnet_b0..b4; timm's densenet and efficientnet_b* have the same counts).
CANONICAL_PARAMS = {
    "densenet121": 7_978_856,
    "densenet161": 28_681_000,
    "densenet169": 14_149_480,
    "densenet201": 20_013_928,
    "efficientnet_b0": 5_288_548,
    "efficientnet_b1": 7_794_184,
    "efficientnet_b2": 9_109_994,
    "efficientnet_b3": 12_233_232,
    "efficientnet_b4": 19_341_616,
}

DENSENET121 = dict(growth=32, blocks=(6, 12, 24, 16), init=64)


@pytest.mark.parametrize("name", list(CANONICAL_PARAMS))
def test_canonical_parameter_counts(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == CANONICAL_PARAMS[name]


def _save(sd, tmp_path):
    torch.save(sd, tmp_path / "w.pth")
    return tmp_path / "w.pth"


def _logits(model, x):
    with torch.no_grad():
        return model.double().eval()(x)


@pytest.mark.parametrize("layout", ["torchvision", "torchvision_file"])
def test_densenet_checkpoint_layouts_load_and_match_reference(layout, tmp_path):
    # timm's DenseNet keeps torchvision's module names, so "torchvision" is timm's layout too.
    sd = random_state(densenet_entries(layout, **DENSENET121))
    model = densenet121()
    report = load_pretrained(model, _save(sd, tmp_path), strict=True)
    assert report.ok and not report.adapted and not report.dropped
    assert report.loaded == len(sd)
    reference = random_state(densenet_entries("torchvision", **DENSENET121))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected = densenet_forward({k: v.double() for k, v in reference.items()}, x, (6, 12, 24, 16))
    torch.testing.assert_close(_logits(model, x), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("layout", ["torchvision", "timm"])
def test_efficientnet_checkpoint_layouts_load_and_match_reference(layout, tmp_path):
    sd = random_state(efficientnet_b0_entries(layout))
    model = efficientnet_b0()
    report = load_pretrained(model, _save(sd, tmp_path), strict=True)
    assert report.ok and not report.adapted and not report.dropped
    assert report.loaded == len(sd)
    reference = random_state(efficientnet_b0_entries("torchvision"))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    expected = efficientnet_b0_forward({k: v.double() for k, v in reference.items()}, x)
    torch.testing.assert_close(_logits(model, x), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(
    "builder,entries,stem",
    [
        (densenet121, lambda: densenet_entries("torchvision", **DENSENET121), "features.conv0"),
        (efficientnet_b0, lambda: efficientnet_b0_entries("timm"), "conv_stem"),
    ],
)
def test_six_channel_stem_sees_duplicated_rgb_like_the_original(builder, entries, stem, tmp_path):
    sd = random_state(entries())
    path = _save(sd, tmp_path)
    rgb, six = builder(), builder(in_chans=6)
    load_pretrained(rgb, path)
    report = load_pretrained(six, path)
    assert report.adapted == [f"{stem}.weight"] and report.ok
    w = sd[f"{stem}.weight"]  # timm's rule for 6 channels: the RGB filters twice, times 3/6
    torch.testing.assert_close(six.get_submodule(stem).weight.detach(), torch.cat([w, w], 1) * 0.5)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    torch.testing.assert_close(
        _logits(six, torch.cat([x, x], 1)), _logits(rgb, x), rtol=1e-9, atol=1e-9
    )


def test_new_num_classes_and_features_only_drop_the_head(tmp_path):
    path = _save(random_state(efficientnet_b0_entries("torchvision")), tmp_path)
    report = load_pretrained(efficientnet_b0(num_classes=5), path)
    assert report.dropped == ["fc.weight", "fc.bias"] and report.ok
    enc = efficientnet_b0(features_only=True)
    report = load_pretrained(enc, path)
    assert (
        report.ok and "conv_head.weight" in report.dropped and "bn2.running_var" in report.dropped
    )
    path = _save(random_state(densenet_entries("torchvision_file", **DENSENET121)), tmp_path)
    report = load_pretrained(densenet121(features_only=True), path)
    assert report.ok and report.dropped == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize(
    "name,channels",
    [
        ("densenet121", [64, 256, 512, 1024, 1024]),
        ("efficientnet_b0", [16, 24, 40, 112, 320]),
    ],
)
def test_features_only_shapes_match_feature_info(name, channels):
    model = create_model(name, features_only=True, in_chans=6)
    assert model.feature_channels == channels
    assert model.feature_reductions == [2, 4, 8, 16, 32]
    feats = model(torch.randn(2, 6, 64, 64))
    assert [f.shape[1] for f in feats] == channels
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 4, 2]
    picked = create_model(name, features_only=True, out_indices=(1, 3))
    assert [f.shape[1] for f in picked(torch.randn(1, 3, 64, 64))] == channels[1:4:2]


def test_unet_on_the_new_encoders():
    for name in ("unet_densenet121", "unet_efficientnet_b0"):
        model = create_model(name, num_classes=2, in_chans=6)
        assert model(torch.randn(1, 6, 64, 64)).shape == (1, 2, 64, 64)


def test_efficientnet_scaling_rules_and_defaults():
    # torchvision's _make_divisible worked by hand: 32 * 1.4 = 44.8 -> 48; 11.9 -> 8 would
    # lose more than 10%, so it becomes 16; 24 * 1.1 = 26.4 -> 24 (within 10%).
    assert make_divisible(44.8, 8, 0.9) == 48
    assert make_divisible(11.9, 8, 0.9) == 16
    assert make_divisible(26.4, 8, 0.9) == 24
    b0, b4 = efficientnet_b0(), create_model("efficientnet_b4")
    assert [len(s) for s in b0.blocks] == [1, 2, 2, 3, 3, 4, 1]
    assert [len(s) for s in b4.blocks] == [2, 4, 4, 6, 6, 8, 2]  # ceil(n * 1.8)
    assert b4.conv_stem.out_channels == 48 and b4.fc.in_features == 1792
    # Stochastic depth rises linearly: block i of 16 drops with probability 0.2 * i / 16.
    ps = [b.drop_path.p for stage in b0.blocks for b in stage]
    assert ps == pytest.approx([0.2 * i / 16 for i in range(16)])
    assert b0.head_drop.p == 0.2 and b4.head_drop.p == 0.4  # the paper's dropout
    assert efficientnet_b0(drop_rate=0.0).head_drop.p == 0.0


def test_drop_path_is_per_sample_and_unbiased():
    torch.manual_seed(0)
    drop = DropPath(0.25)
    x = torch.rand(4000, 3, 2, 2) + 1.0
    drop.train()
    y = drop(x)
    kept = (y != 0).flatten(1).all(1)
    dropped = (y == 0).flatten(1).all(1)
    assert bool((kept | dropped).all())  # a whole sample is kept or dropped
    torch.testing.assert_close(y[kept], x[kept] / 0.75)  # kept ones scaled by 1 / (1 - p)
    # 3000 of 4000 kept on average; the binomial standard deviation is ~27.
    assert abs(int(kept.sum()) - 3000) < 150
    drop.eval()
    assert torch.equal(drop(x), x)


def test_param_groups_run_stem_to_head():
    for name, stem in (("densenet121", "features.conv0"), ("efficientnet_b0", "conv_stem")):
        model = create_model(name, num_classes=3)
        early, late, head = model.param_groups()
        assert early[0] is model.get_submodule(stem).weight
        assert [id(p) for p in head] == [id(model.fc.weight), id(model.fc.bias)]
        assert len(early) + len(late) + len(head) == len(list(model.parameters()))


def test_smallest_input_matches_torchvision_min_size():
    # torchvision's weight tables: min_size 29x29 for DenseNets (three unpadded 2x2 average
    # pools after a stride-4 stem), 1x1 for EfficientNet B0-B7 (padded throughout).
    with torch.device("meta"):  # min_input_size runs shape-only passes anyway
        dense, eff = create_model("densenet121"), create_model("efficientnet_b0")
    assert min_input_size(dense) == 29 and min_input_size(eff) == 1
    assert total_stride(dense) == total_stride(eff) == 32
