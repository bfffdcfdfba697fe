"""summary(): FLOPs against the convolution formula, parameters against numel, the CLI text."""

import pytest
from torch import nn

from dlf.core import DlfError
from dlf.models import create_model, summary, summary_main


def test_small_model_against_hand_counts():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 5),
    )
    s = summary(model, (3, 16, 16))
    conv_flops = 2 * 8 * 3 * 3 * 3 * 16 * 16  # 2 x (out ch x in ch x k x k) x output pixels
    linear_flops = 2 * 8 * 5
    rows = {r.name: r for r in s.rows}
    assert rows["0"].flops == conv_flops and rows["0"].output_shape == "[1, 8, 16, 16]"
    assert rows["4"].flops == linear_flops and rows["4"].params == 8 * 5 + 5
    assert s.total_flops == conv_flops + linear_flops
    assert s.total_params == s.trainable_params == (8 * 27 + 8) + (8 * 5 + 5)
    text = str(s)
    assert "Total params:          269" in text and "0 (Conv2d)" in text


def test_resnet18_flops_match_published_figure():
    # torchvision lists ResNet-18 at 224px as 1.81 GFLOPS, counted as multiply-adds.
    model = create_model("resnet18")
    s = summary(model, (1, 3, 224, 224))
    assert round(s.total_flops / 2 / 1e9, 2) == 1.81
    assert model.training, "summary puts the model back in its mode"
    assert s.rows[0].name == "conv1" and s.output_shape == "[1, 1000]"


def test_summary_depth_and_frozen_params():
    model = create_model("resnet18", num_classes=2)
    for p in model.layer1.parameters():
        p.requires_grad_(False)
    s = summary(model, (1, 3, 32, 32), depth=1)
    assert [r.name for r in s.rows][:5] == ["conv1", "bn1", "relu", "maxpool", "layer1"]
    assert s.total_params - s.trainable_params == sum(p.numel() for p in model.layer1.parameters())


def test_summary_main_for_the_cli():
    text = summary_main("resnet18", 32)
    assert "Total params:          11,689,512" in text
    assert "[1, 6, 32, 32]" in summary_main("unet_resnet18", 32, in_chans=6, num_classes=1)
    with pytest.raises(DlfError, match="unknown model"):
        summary_main("resnet19", 32)
    with pytest.raises(DlfError, match="positive"):
        summary_main("resnet18", 0)


def test_summary_of_features_only_model_lists_shapes():
    s = summary(create_model("resnet18", features_only=True), (1, 3, 64, 64))
    assert s.output_shape.count("[") == 5
