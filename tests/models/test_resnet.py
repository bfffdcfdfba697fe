"""ResNet family against published figures: torchvision's and timm's parameter counts and keys."""

import pytest
import torch

from dlf.models import create_model, lenet, resnet18, resnet50d, vgg11

# Published in torchvision's model tables (resnet*, resnext) and timm's (seresnext, resnet50d).
CANONICAL_PARAMS = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "seresnext50_32x4d": 27_559_896,
    "resnet50d": 25_576_264,
}


@pytest.mark.parametrize("name", list(CANONICAL_PARAMS))
def test_canonical_parameter_counts(name):
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        model = create_model(name)
    assert sum(p.numel() for p in model.parameters()) == CANONICAL_PARAMS[name]


def test_lenet5_has_61706_parameters():
    # LeCun et al. 1998's LeNet-5 with a 10-way output: the classic count.
    assert sum(p.numel() for p in lenet(num_classes=10, in_chans=1).parameters()) == 61_706


def test_resnet_d_keys_follow_timm():
    keys = set(resnet50d().state_dict())
    for k in (
        "conv1.0.weight",
        "conv1.1.running_var",
        "conv1.3.weight",
        "conv1.4.bias",
        "conv1.6.weight",
        "bn1.weight",
        "layer1.0.downsample.1.weight",
        "layer2.0.downsample.2.running_mean",
        "fc.weight",
    ):
        assert k in keys
    assert "conv1.weight" not in keys
    assert isinstance(resnet50d().layer2[0].downsample[0], torch.nn.AvgPool2d)


def test_seresnext_keys_follow_timm():
    keys = set(create_model("seresnext50_32x4d").state_dict())
    assert {"layer1.0.se.fc1.weight", "layer1.0.se.fc1.bias", "layer4.2.se.fc2.bias"} <= keys


@pytest.mark.parametrize(
    "name,channels,reductions",
    [
        ("resnet18", [64, 64, 128, 256, 512], [2, 4, 8, 16, 32]),
        ("resnet50d", [64, 256, 512, 1024, 2048], [2, 4, 8, 16, 32]),
        ("resnext50_32x4d", [64, 256, 512, 1024, 2048], [2, 4, 8, 16, 32]),
        ("vgg11", [64, 128, 256, 512, 512], [2, 4, 8, 16, 32]),
    ],
)
def test_features_only_shapes_match_feature_info(name, channels, reductions):
    model = create_model(name, features_only=True, in_chans=4)
    assert model.feature_channels == channels and model.feature_reductions == reductions
    feats = model(torch.randn(2, 4, 64, 64))
    assert [f.shape[1] for f in feats] == channels
    assert [f.shape[-1] for f in feats] == [64 // r for r in reductions]
    assert not hasattr(model, "fc")


def test_out_indices_and_lenet_features():
    model = resnet18(features_only=True, out_indices=(2, 4))
    assert model.feature_channels == [128, 512]
    assert [f.shape[1:] for f in model(torch.randn(1, 3, 64, 64))] == [(128, 8, 8), (512, 2, 2)]
    feats = lenet(features_only=True)(torch.randn(1, 1, 32, 32))
    assert [f.shape[1:] for f in feats] == [(6, 14, 14), (16, 5, 5)]  # LeNet-5's C1/S2, C3/S4


def test_timm_style_methods():
    model = resnet18(num_classes=7).eval()
    x = torch.randn(2, 3, 32, 32)
    feats = model.forward_features(x)
    assert feats.shape == (2, 512, 1, 1)
    torch.testing.assert_close(model.forward_head(feats), model(x))
    assert model.forward_head(feats, pre_logits=True).shape == (2, 512)
    model.reset_classifier(4)
    assert model(x).shape == (2, 4)
    model.reset_classifier(0)
    assert model(x).shape == (2, 512)
    model.reset_classifier(5, global_pool="catavgmax")
    assert model(x).shape == (2, 5) and model.fc.in_features == 1024


@pytest.mark.parametrize("pool", ["avg", "max", "gem", "catavgmax"])
def test_global_pool_options(pool):
    model = vgg11(num_classes=3, global_pool=pool)
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_resnet_param_groups_are_stem_to_head():
    model = resnet18()
    early, late, head = model.param_groups()
    assert early[0] is model.conv1.weight
    assert late[0] is model.layer3[0].conv1.weight
    assert [id(p) for p in head] == [id(model.fc.weight), id(model.fc.bias)]
    # Freezing all but the head, as the Learner's freeze() will:
    for p in early + late:
        p.requires_grad_(False)
    model(torch.randn(2, 3, 32, 32)).sum().backward()
    assert model.conv1.weight.grad is None and model.fc.weight.grad is not None
