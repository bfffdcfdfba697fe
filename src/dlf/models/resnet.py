"""ResNet, ResNeXt and SE-ResNeXt, read from the stem to the head.

    stem     conv1 7x7/2 -> bn1 -> relu                       (stride 2, 64 channels)
    layer1   maxpool 3x3/2, then n1 blocks of 64 planes      (stride 4)
    layer2   n2 blocks of 128 planes, the first one strided  (stride 8)
    layer3   n3 blocks of 256 planes                         (stride 16)
    layer4   n4 blocks of 512 planes                         (stride 32)
    head     global pool -> dropout -> fc

Attribute names and parameter counts are torchvision's (He et al. 2016; Xie et al. 2017 for
ResNeXt), so a torchvision or timm checkpoint loads key for key. The ResNet-D tweaks of
"Bag of Tricks" (He et al. 2019) are two flags, as in timm: `stem_type="deep"` replaces the
7x7 conv with three 3x3 convs (keys conv1.0/.1/.3/.4/.6), and `avg_down=True` downsamples
the shortcut with a 2x2 average pool before its 1x1 conv instead of a strided 1x1 conv,
which skipped three quarters of the input.
"""

from collections.abc import Iterator

import torch
from torch import nn

from dlf.models.classifier import ClassifierBase
from dlf.models.layers import BasicBlock, Bottleneck, init_weights_kaiming
from dlf.models.registry import register_model
from dlf.models.weights import with_weights


class ResNet(ClassifierBase):
    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        in_chans: int = 3,
        groups: int = 1,
        base_width: int = 64,
        stem_type: str = "",
        stem_width: int = 32,
        avg_down: bool = False,
        attn: bool = False,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        features_only: bool = False,
        out_indices: tuple[int, ...] | None = None,
        zero_init_last: bool = False,
    ):
        super().__init__()
        self.groups, self.base_width, self.attn, self.avg_down = groups, base_width, attn, avg_down
        self.inplanes = 64

        # Stem: bring the image to stride 2 and 64 channels.
        if stem_type == "deep":
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_chans, stem_width, 3, 2, 1, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, stem_width, 3, 1, 1, bias=False),
                nn.BatchNorm2d(stem_width),
                nn.ReLU(inplace=True),
                nn.Conv2d(stem_width, self.inplanes, 3, 1, 1, bias=False),
            )
            first_conv = "conv1.0"
        elif stem_type == "":
            self.conv1 = nn.Conv2d(in_chans, self.inplanes, 7, 2, 3, bias=False)
            first_conv = "conv1"
        else:
            raise ValueError(f"unknown stem_type {stem_type!r}; use '' or 'deep'")
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)

        # Body: four stages; each halves the resolution (except the first) and doubles planes.
        self.layer1 = self._make_layer(block, 64, layers[0], stride=1)
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)

        e = block.expansion
        self.feature_info = [
            dict(num_chs=64, reduction=2, module="relu"),
            dict(num_chs=64 * e, reduction=4, module="layer1"),
            dict(num_chs=128 * e, reduction=8, module="layer2"),
            dict(num_chs=256 * e, reduction=16, module="layer3"),
            dict(num_chs=512 * e, reduction=32, module="layer4"),
        ]
        self.pretrained_cfg = dict(first_conv=first_conv, classifier="fc")
        self._init_head(512 * e, num_classes, global_pool, drop_rate, features_only, out_indices)
        init_weights_kaiming(self, zero_init_last=zero_init_last)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        outplanes = planes * block.expansion
        downsample = None
        if stride != 1 or self.inplanes != outplanes:
            # The shortcut must change shape with the block: 1x1 conv (+ pool for ResNet-D).
            conv = nn.Conv2d(
                self.inplanes, outplanes, 1, 1 if self.avg_down else stride, bias=False
            )
            if self.avg_down:
                pool = (
                    nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
                    if stride > 1
                    else nn.Identity()
                )
                downsample = nn.Sequential(pool, conv, nn.BatchNorm2d(outplanes))
            else:
                downsample = nn.Sequential(conv, nn.BatchNorm2d(outplanes))
        kw = dict(groups=self.groups, base_width=self.base_width, attn=self.attn)
        layers = [block(self.inplanes, planes, stride, downsample, **kw)]
        self.inplanes = outplanes
        layers += [block(self.inplanes, planes, **kw) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.relu(self.bn1(self.conv1(x)))
        yield x
        x = self.layer1(self.maxpool(x))
        yield x
        x = self.layer2(x)
        yield x
        x = self.layer3(x)
        yield x
        yield self.layer4(x)

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[stem + layer1 + layer2, layer3 + layer4, head]: for freezing and discriminative lrs."""
        early = [self.conv1, self.bn1, self.layer1, self.layer2]
        late = [self.layer3, self.layer4]
        return [
            [p for m in early for p in m.parameters()],
            [p for m in late for p in m.parameters()],
            self.head_parameters(),
        ]


def _create(block, layers, pretrained=None, **kwargs) -> ResNet:
    return with_weights(ResNet(block, layers, **kwargs), pretrained)


@register_model
def resnet18(**kwargs) -> ResNet:
    return _create(BasicBlock, (2, 2, 2, 2), **kwargs)


@register_model
def resnet34(**kwargs) -> ResNet:
    return _create(BasicBlock, (3, 4, 6, 3), **kwargs)


@register_model
def resnet50(**kwargs) -> ResNet:
    return _create(Bottleneck, (3, 4, 6, 3), **kwargs)


@register_model
def resnet101(**kwargs) -> ResNet:
    return _create(Bottleneck, (3, 4, 23, 3), **kwargs)


@register_model
def resnet152(**kwargs) -> ResNet:
    return _create(Bottleneck, (3, 8, 36, 3), **kwargs)


@register_model
def resnext50_32x4d(**kwargs) -> ResNet:
    return _create(Bottleneck, (3, 4, 6, 3), groups=32, base_width=4, **kwargs)


@register_model
def seresnext50_32x4d(**kwargs) -> ResNet:
    return _create(Bottleneck, (3, 4, 6, 3), groups=32, base_width=4, attn=True, **kwargs)


def _resnet_d(**kwargs) -> dict:
    return dict(stem_type="deep", stem_width=32, avg_down=True, **kwargs)


@register_model
def resnet18d(**kwargs) -> ResNet:
    return resnet18(**_resnet_d(**kwargs))


@register_model
def resnet34d(**kwargs) -> ResNet:
    return resnet34(**_resnet_d(**kwargs))


@register_model
def resnet50d(**kwargs) -> ResNet:
    return resnet50(**_resnet_d(**kwargs))


@register_model
def resnet101d(**kwargs) -> ResNet:
    return resnet101(**_resnet_d(**kwargs))


__all__ = [
    "ResNet",
    "resnet18",
    "resnet18d",
    "resnet34",
    "resnet34d",
    "resnet50",
    "resnet50d",
    "resnet101",
    "resnet101d",
    "resnet152",
    "resnext50_32x4d",
    "seresnext50_32x4d",
]
