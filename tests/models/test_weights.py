"""load_pretrained against an independent reference: torchvision's layout run functionally.

The reference (torchvision_layout.py) writes a checkpoint with torchvision's key names and runs
it with torch.nn.functional; dlf's model must load every key and give the same logits.
"""

import pytest
import torch
from safetensors.torch import save_file

from dlf.core import DlfError
from dlf.models import create_model, load_pretrained, resnet18, resnet34, resnet50, resnext50_32x4d

from .torchvision_layout import torchvision_forward, torchvision_state_dict

ARCHS = {
    # name: (builder, kind, layers, groups, width_per_group)
    "resnet18": (resnet18, "basic", (2, 2, 2, 2), 1, 64),
    "resnet50": (resnet50, "bottleneck", (3, 4, 6, 3), 1, 64),
    "resnext50_32x4d": (resnext50_32x4d, "bottleneck", (3, 4, 6, 3), 32, 4),
}


@pytest.fixture(scope="module")
def r18_ckpt(tmp_path_factory):
    sd = torchvision_state_dict("basic", (2, 2, 2, 2))
    path = tmp_path_factory.mktemp("ckpt") / "resnet18.pth"
    torch.save(sd, path)
    return sd, path


@pytest.mark.parametrize("name", list(ARCHS))
def test_torchvision_checkpoint_loads_exactly_and_matches_reference(name, tmp_path):
    builder, kind, layers, groups, wpg = ARCHS[name]
    sd = torchvision_state_dict(kind, layers, groups, wpg)
    torch.save(sd, tmp_path / "w.pth")
    model = builder()
    assert set(model.state_dict()) == set(sd)  # same key names, no more, no fewer
    report = load_pretrained(model, tmp_path / "w.pth")
    assert report.ok and not report.adapted and not report.dropped
    assert report.loaded == len(sd)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    model = model.double().eval()
    expected = torchvision_forward(
        {k: v.double() for k, v in sd.items()}, x, kind, layers, groups, wpg
    )
    with torch.no_grad():
        torch.testing.assert_close(model(x), expected, rtol=1e-9, atol=1e-9)


def test_safetensors_and_wrapped_checkpoints_load(r18_ckpt, tmp_path):
    sd, path = r18_ckpt
    save_file({k: v.contiguous() for k, v in sd.items()}, tmp_path / "w.safetensors")
    # A training checkpoint from DataParallel: {'state_dict': {'module.conv1.weight': ...}}
    torch.save(
        {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3}, tmp_path / "c.pt"
    )
    x = torch.randn(1, 3, 32, 32)
    outs = []
    for p in (path, tmp_path / "w.safetensors", tmp_path / "c.pt"):
        model = resnet18().eval()
        assert load_pretrained(model, p).ok
        with torch.no_grad():
            outs.append(model(x))
    torch.testing.assert_close(outs[1], outs[0])
    torch.testing.assert_close(outs[2], outs[0])


@pytest.mark.parametrize("in_chans", [1, 2, 4, 6])
def test_first_conv_adapted_by_timm_rule(r18_ckpt, in_chans):
    sd, path = r18_ckpt
    w = sd["conv1.weight"]
    # timm's adapt_input_conv, spelled out per case.
    expected = {
        1: w.sum(1, keepdim=True),
        2: w[:, :2] * (3 / 2),
        4: torch.cat([w, w[:, :1]], 1) * (3 / 4),
        6: torch.cat([w, w], 1) * (3 / 6),
    }[in_chans]
    model = resnet18(in_chans=in_chans)
    report = load_pretrained(model, path)
    assert report.adapted == ["conv1.weight"] and report.ok
    torch.testing.assert_close(model.conv1.weight.detach(), expected)
    torch.testing.assert_close(model.layer1[0].conv1.weight.detach(), sd["layer1.0.conv1.weight"])


def test_six_channel_stem_sees_duplicated_rgb_like_the_original(r18_ckpt):
    # Repeating the filters and scaling by 3/6 means cat([x, x]) gives exactly the RGB activations.
    _, path = r18_ckpt
    rgb, six = resnet18().double().eval(), resnet18(in_chans=6).double().eval()
    load_pretrained(rgb, path)
    load_pretrained(six, path)
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(six(torch.cat([x, x], 1)), rgb(x), rtol=1e-9, atol=1e-9)


def test_classifier_dropped_when_num_classes_differs(r18_ckpt):
    sd, path = r18_ckpt
    model = resnet18(num_classes=5)
    fresh_fc = model.fc.weight.detach().clone()
    report = load_pretrained(model, path)
    assert report.dropped == ["fc.weight", "fc.bias"] and report.ok
    torch.testing.assert_close(model.fc.weight.detach(), fresh_fc)
    torch.testing.assert_close(model.bn1.running_var, sd["bn1.running_var"])
    assert "dropped: fc.weight, fc.bias" in str(report)


def test_features_only_and_create_model_and_unet_encoder_load(r18_ckpt):
    sd, path = r18_ckpt
    enc = resnet18(features_only=True)
    assert load_pretrained(enc, path).ok
    model = create_model("resnet18", num_classes=2, in_chans=3, pretrained=path)
    torch.testing.assert_close(model.conv1.weight.detach(), sd["conv1.weight"])
    unet = create_model("unet_resnet18", num_classes=1, pretrained=path)
    torch.testing.assert_close(
        unet.encoder.layer4[1].conv2.weight.detach(), sd["layer4.1.conv2.weight"]
    )


def test_missing_and_unexpected_keys_are_reported(r18_ckpt, tmp_path):
    sd, _ = r18_ckpt
    partial = {k: v for k, v in sd.items() if not k.startswith("layer4")}
    partial["extra.weight"] = torch.zeros(1)
    torch.save(partial, tmp_path / "p.pth")
    report = load_pretrained(resnet18(), tmp_path / "p.pth")
    assert not report.ok
    assert "extra.weight" in report.unexpected
    assert "layer4.0.conv1.weight" in report.missing
    with pytest.raises(DlfError, match="missing"):
        load_pretrained(resnet18(), tmp_path / "p.pth", strict=True)
    # resnet18 weights into resnet34: the blocks resnet18 lacks are missing, nothing else.
    report = load_pretrained(resnet34(), r18_ckpt[1])
    assert report.unexpected == [] and "layer1.2.conv1.weight" in report.missing


def test_bad_files_raise_one_line_errors(tmp_path):
    with pytest.raises(DlfError, match="no such weights file"):
        load_pretrained(resnet18(), tmp_path / "nope.pth")
    (tmp_path / "w.txt").write_text("x")
    with pytest.raises(DlfError, match="unknown weights format"):
        load_pretrained(resnet18(), tmp_path / "w.txt")
    (tmp_path / "broken.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(DlfError, match="cannot read weights"):
        load_pretrained(resnet18(), tmp_path / "broken.pth")
    torch.save(resnet50().state_dict(), tmp_path / "r50.pth")
    with pytest.raises(DlfError, match="another architecture"):
        load_pretrained(resnext50_32x4d(), tmp_path / "r50.pth")
