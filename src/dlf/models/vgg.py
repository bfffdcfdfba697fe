"""VGG-style networks (Simonyan & Zisserman 2015): stacks of 3x3 convs, halved by max pooling.

    stage i  [conv 3x3 -> bn -> relu] x n_i, then maxpool 2    (stride 2, 4, 8, 16, 32)
    head     global average pool -> dropout -> fc

Two modern changes make these practical teaching nets: BatchNorm after every conv (the
"_bn" variants of torchvision) and a global-average-pool head instead of the original
4096-wide MLP on a 7x7 map. The conv stages match VGG-11/16; the parameter counts are
therefore far below torchvision's vgg (which spends ~120M parameters on that MLP).
"""

from collections.abc import Iterator

import torch
from torch import nn

from dlf.models.classifier import ClassifierBase
from dlf.models.layers import ConvNormAct, init_weights_kaiming
from dlf.models.registry import register_model
from dlf.models.weights import with_weights

# Output channels of each conv, stage by stage.
CONFIGS = {
    "vgg11": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "vgg16": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
}


class VGG(ClassifierBase):
    def __init__(
        self,
        stage_channels: tuple[tuple[int, ...], ...] = CONFIGS["vgg11"],
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        features_only: bool = False,
        out_indices: tuple[int, ...] | None = None,
    ):
        super().__init__()
        stages, self.feature_info, chs = [], [], in_chans
        for i, widths in enumerate(stage_channels):
            layers = []
            for w in widths:
                layers.append(ConvNormAct(chs, w, 3))
                chs = w
            layers.append(nn.MaxPool2d(2))
            stages.append(nn.Sequential(*layers))
            self.feature_info.append(
                dict(num_chs=chs, reduction=2 ** (i + 1), module=f"stages.{i}")
            )
        self.stages = nn.ModuleList(stages)
        self.pretrained_cfg = dict(first_conv="stages.0.0.conv", classifier="fc")
        self._init_head(chs, num_classes, global_pool, drop_rate, features_only, out_indices)
        init_weights_kaiming(self)

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        for stage in self.stages:
            x = stage(x)
            yield x

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[first half of the stages, second half, head]."""
        half = len(self.stages) // 2
        return [
            [p for s in self.stages[:half] for p in s.parameters()],
            [p for s in self.stages[half:] for p in s.parameters()],
            self.head_parameters(),
        ]


@register_model
def vgg11(pretrained=None, **kwargs) -> VGG:
    return with_weights(VGG(CONFIGS["vgg11"], **kwargs), pretrained)


@register_model
def vgg16(pretrained=None, **kwargs) -> VGG:
    return with_weights(VGG(CONFIGS["vgg16"], **kwargs), pretrained)


__all__ = ["VGG", "vgg11", "vgg16"]
