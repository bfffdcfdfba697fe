"""Every registered model: forward, backward, output shape, parameter groups."""

import pytest
import torch

from dlf.core import DlfError
from dlf.models import create_model, list_models

# 1-D sequence models (dlf.models.seq1d) take B x C x L, not images: tests/test_papers_mnist1d.py
SEQUENCE_MODELS = set(list_models("mnist1d_*"))


@pytest.mark.parametrize("name", [n for n in list_models() if n not in SEQUENCE_MODELS])
def test_forward_backward_and_param_groups(name):
    torch.manual_seed(0)
    is_unet, is_detector = name.startswith("unet_"), name.startswith("fcos_")
    is_video = name.startswith("video_")
    size = 64 if is_unet else 32
    if is_video:  # frame features B x T x D and a frame mask
        model = create_model(name, num_classes=3, in_chans=8)
        y = model(torch.randn(2, 7, 8), torch.tensor([[1] * 7, [1] * 4 + [0] * 3]))
    else:
        model = create_model(name, num_classes=3)
        y = model(torch.randn(2, 3, size, size))
    if is_detector:  # FCOSOutput: per-location logits, distances, centerness of every level
        assert y.logits.shape == (2, y.points.shape[0], 3)
        (y.logits.pow(2).mean() + y.ltrb.pow(2).mean() + y.centerness.pow(2).mean()).backward()
    else:
        assert y.shape == ((2, 3, size, size) if is_unet else (2, 3))
        y.float().pow(2).mean().backward()
    params = list(model.parameters())
    assert all(p.grad is not None for p in params), "every parameter takes part in the loss"

    groups = model.param_groups()
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids)) == len(params), "groups cover every parameter exactly once"
    if is_unet:
        assert {id(p) for p in groups[0]} == {id(p) for p in model.encoder.parameters()}
    elif is_detector:
        assert {id(p) for p in groups[0]} == {id(p) for p in model.backbone.parameters()}
    else:
        assert {id(p) for p in model.fc.parameters()} <= {id(p) for p in groups[-1]}
        stem = model.get_submodule(model.pretrained_cfg["first_conv"]).weight
        assert stem is groups[0][0], "groups run from the stem to the head"


def test_list_models_covers_every_family_and_filters():
    names = list_models()
    for n in (
        "lenet",
        "vgg16",
        "resnet18",
        "resnet152",
        "resnet50d",
        "resnext50_32x4d",
        "seresnext50_32x4d",
        "unet_resnet34",
        "video_nextvlad",
        "video_attention",
    ):
        assert n in names
    assert list_models("unet_*") == [n for n in names if n.startswith("unet_")]


def test_unknown_model_suggests_close_names():
    with pytest.raises(DlfError, match="did you mean resnet34"):
        create_model("resnet43")


def test_a_model_file_registers_itself_with_the_decorator(tmp_path):
    """timm's shape: a builder decorated in its own file is a `create_model` name, and
    `pretrained` reaches it with no special case in the registry."""
    from safetensors.torch import save_file
    from torch import nn

    from dlf.models.registry import _REGISTRY, register_model
    from dlf.models.weights import with_weights

    @register_model
    def tiny_test_net(num_classes: int = 2, in_chans: int = 3, pretrained=None) -> nn.Module:
        return with_weights(nn.Conv2d(in_chans, num_classes, 1), pretrained)

    try:
        assert "tiny_test_net" in list_models("tiny_*")
        ref = create_model("tiny_test_net", num_classes=4, in_chans=2)
        save_file(ref.state_dict(), tmp_path / "w.safetensors")
        loaded = create_model(
            "tiny_test_net", num_classes=4, in_chans=2, pretrained=tmp_path / "w.safetensors"
        )
        assert torch.equal(loaded.weight, ref.weight)
        with pytest.raises(ValueError, match="twice"):
            register_model(tiny_test_net)
    finally:
        _REGISTRY.pop("tiny_test_net", None)
