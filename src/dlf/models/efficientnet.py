"""EfficientNet B0-B4 (Tan & Le 2019), read from the stem to the head.

    stem     conv_stem 3x3/2 -> bn1 -> SiLU                       (stride 2, 32 channels)
    blocks   seven stages of MBConv blocks (table below)          (stride 2, 4, 8, 16, 32)
    head     conv_head 1x1 to 1280 -> bn2 -> SiLU -> global pool -> dropout -> fc

EfficientNet-B0's stages (the paper's Table 1); the first block of a stage has its stride:

    stage  expand  kernel  stride  channels  repeats
      0      1       3       1        16        1
      1      6       3       2        24        2
      2      6       5       2        40        2
      3      6       3       2        80        3
      4      6       5       1       112        3
      5      6       5       2       192        4
      6      6       3       1       320        1

An MBConv block (Sandler et al. 2018's inverted residual) expands its input with a 1x1 conv,
filters each channel alone with a depthwise k x k conv, reweights the channels with a
squeeze-and-excitation gate, and projects back with a linear 1x1 conv; when the shape does
not change the input is added (through stochastic depth). Stage 0 expands by 1, so it has no
expansion conv (timm calls that block DepthwiseSeparable).

B1-B4 scale the same network (compound scaling, the paper's Sec. 3.3): channels by `width`
rounded to a multiple of 8, never more than 10% below (the rounding of torchvision's
`_make_divisible` and timm's `round_channels`, which agree for B0-B7), repeats by `depth`
rounded up (both libraries' `ceil`), and the input size. Defaults as torchvision's
efficientnet_b*: dropout before the classifier as in the paper (0.2, 0.2, 0.3, 0.3, 0.4),
stochastic depth rising linearly from 0 to 0.2 over the blocks (block i of n drops with
probability 0.2 * i / n), PyTorch's BatchNorm defaults (eps 1e-5, momentum 0.1: what B0-B4
use in torchvision and timm's efficientnet_b*; only the TensorFlow ports, tf_efficientnet_*
and torchvision's B5-B7, use eps 1e-3 and 'same' padding) and symmetric padding k // 2.
timm's builders default to no dropout and no stochastic depth; pass drop_rate=0,
drop_path_rate=0 for that. A tf_efficientnet_* checkpoint loads too (the same names), but
its weights were trained with TensorFlow's asymmetric 'same' padding and eps 1e-3, which
this model does not reproduce: prefer torchvision's or timm's efficientnet_b* weights.

Attribute names are timm's (conv_stem, bn1, blocks.i.j.conv_pw/conv_dw/se/conv_pwl, conv_head,
bn2); the classifier is `fc` as in every dlf classifier. `checkpoint_filter` renames a timm
checkpoint's `classifier.*` and the whole torchvision layout (`features.0.0`, `features.i.j.
block.k.*`, `features.8`, `classifier.1`) to these names.
"""

import math
import re
from collections.abc import Iterator

import torch
from torch import nn

from dlf.models.classifier import ClassifierBase
from dlf.models.layers import DropPath, init_weights_kaiming, make_divisible
from dlf.models.registry import register_model
from dlf.models.weights import with_weights

# (expand ratio, kernel, stride, output channels, repeats) of EfficientNet-B0's seven stages.
B0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)

# Compound scaling (width, depth, input size, dropout) from the paper and its official code.
SCALING = {
    "efficientnet_b0": (1.0, 1.0, 224, 0.2),
    "efficientnet_b1": (1.0, 1.1, 240, 0.2),
    "efficientnet_b2": (1.1, 1.2, 260, 0.3),
    "efficientnet_b3": (1.2, 1.4, 300, 0.3),
    "efficientnet_b4": (1.4, 1.8, 380, 0.4),
}


def round_channels(channels: int, width: float) -> int:
    """`channels * width` as a multiple of 8, at most 10% below it (torchvision's and timm's)."""
    return make_divisible(channels * width, 8, round_limit=0.9)


def round_repeats(repeats: int, depth: float) -> int:
    return math.ceil(repeats * depth)


class SqueezeExciteSiLU(nn.Module):
    """EfficientNet's squeeze-and-excitation: mean per channel -> 1x1 conv down to a quarter
    of the *block input's* channels -> SiLU -> 1x1 conv back -> sigmoid gate. (dlf's
    SqueezeExcite is the ResNet one: ReLU, a 1/16 reduction of its own channels.)"""

    def __init__(self, channels: int, rd_channels: int):
        super().__init__()
        self.conv_reduce = nn.Conv2d(channels, rd_channels, 1)
        self.act1 = nn.SiLU(inplace=True)
        self.conv_expand = nn.Conv2d(rd_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.conv_expand(self.act1(self.conv_reduce(x.mean((2, 3), keepdim=True))))
        return x * s.sigmoid()


class DepthwiseSeparable(nn.Module):
    """The expand-ratio-1 MBConv: depthwise conv -> SE -> linear 1x1 projection (+ input)."""

    def __init__(self, in_chs: int, out_chs: int, kernel: int, stride: int, drop_path: float):
        super().__init__()
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_dw = nn.Conv2d(in_chs, in_chs, kernel, stride, kernel // 2, groups=in_chs, bias=False)  # fmt: skip
        self.bn1 = nn.BatchNorm2d(in_chs)
        self.act1 = nn.SiLU(inplace=True)
        self.se = SqueezeExciteSiLU(in_chs, max(1, in_chs // 4))
        self.conv_pw = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chs)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_dw(x)))
        y = self.bn2(self.conv_pw(self.se(y)))
        return self.drop_path(y) + x if self.has_skip else y


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand -> depthwise k x k -> SE -> linear 1x1 project (+ input).

    timm's InvertedResidual names: conv_pw/bn1, conv_dw/bn2, se, conv_pwl/bn3."""

    def __init__(
        self, in_chs: int, out_chs: int, kernel: int, stride: int, expand: int, drop_path: float
    ):
        super().__init__()
        mid = round_channels(in_chs, expand)
        self.has_skip = stride == 1 and in_chs == out_chs
        self.conv_pw = nn.Conv2d(in_chs, mid, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.act1 = nn.SiLU(inplace=True)
        self.conv_dw = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self.bn2 = nn.BatchNorm2d(mid)
        self.act2 = nn.SiLU(inplace=True)
        self.se = SqueezeExciteSiLU(mid, max(1, in_chs // 4))  # a quarter of the block input
        self.conv_pwl = nn.Conv2d(mid, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)
        self.drop_path = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))
        y = self.act2(self.bn2(self.conv_dw(y)))
        y = self.bn3(self.conv_pwl(self.se(y)))
        return self.drop_path(y) + x if self.has_skip else y


class EfficientNet(ClassifierBase):
    def __init__(
        self,
        width: float = 1.0,
        depth: float = 1.0,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.2,
        drop_path_rate: float = 0.2,
        features_only: bool = False,
        out_indices: tuple[int, ...] | None = None,
        input_size: int = 224,
    ):
        super().__init__()
        stem = round_channels(32, width)
        self.conv_stem = nn.Conv2d(in_chans, stem, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(stem)
        self.act1 = nn.SiLU(inplace=True)

        repeats = [round_repeats(n, depth) for *_, n in B0_STAGES]
        total, index = sum(repeats), 0
        stages, chs, reduction = [], stem, 2
        self.feature_info, self.feature_stages = [], []
        for i, ((expand, kernel, stride, out, _), n) in enumerate(zip(B0_STAGES, repeats)):
            out = round_channels(out, width)
            blocks = []
            for j in range(n):
                s = stride if j == 0 else 1
                drop_path = drop_path_rate * index / total  # deeper blocks are dropped more often
                if expand == 1:
                    blocks.append(DepthwiseSeparable(chs, out, kernel, s, drop_path))
                else:
                    blocks.append(MBConv(chs, out, kernel, s, expand, drop_path))
                chs, index = out, index + 1
            stages.append(nn.Sequential(*blocks))
            reduction *= stride
            # A stage is a feature when it is the last at its resolution (timm's choice).
            if i == len(B0_STAGES) - 1 or B0_STAGES[i + 1][2] == 2:
                self.feature_stages.append(i)
                self.feature_info.append(dict(num_chs=out, reduction=reduction, module=f"blocks.{i}"))  # fmt: skip
        self.blocks = nn.Sequential(*stages)

        head = round_channels(1280, width)
        if not features_only:  # the 1x1 head conv serves the classifier only
            self.conv_head = nn.Conv2d(chs, head, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(head)
            self.act2 = nn.SiLU(inplace=True)

        self.pretrained_cfg = dict(
            first_conv="conv_stem",
            classifier="fc",
            head=("conv_head", "bn2", "fc"),  # what a features_only model lacks
            input_size=(in_chans, input_size, input_size),
        )
        self._init_head(head, num_classes, global_pool, drop_rate, features_only, out_indices)
        init_weights_kaiming(self)  # torchvision's: He normal (fan_out) convs, BN as identity
        if isinstance(getattr(self, "fc", None), nn.Linear):
            r = 1.0 / math.sqrt(self.fc.out_features)  # torchvision's classifier init
            nn.init.uniform_(self.fc.weight, -r, r)
            nn.init.zeros_(self.fc.bias)

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.act1(self.bn1(self.conv_stem(x)))
        for i, stage in enumerate(self.blocks):
            x = stage(x)
            if i in self.feature_stages:
                yield x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        *_, x = self.forward_stages(x)
        if self.features_only:
            return x
        return self.act2(self.bn2(self.conv_head(x)))

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[stem + stages to stride 8, stages at stride 16 and 32 + head conv, classifier]."""
        early = [self.conv_stem, self.bn1, *self.blocks[:3]]
        late = [*self.blocks[3:]]
        if not self.features_only:
            late += [self.conv_head, self.bn2]
        return [
            [p for m in early for p in m.parameters()],
            [p for m in late for p in m.parameters()],
            self.head_parameters(),
        ]

    def checkpoint_filter(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """timm's or torchvision's EfficientNet keys in dlf's (timm's) names."""
        last = len(self.blocks) + 1  # torchvision: features.0 stem, 1..7 stages, 8 head conv
        out = {}
        for key, value in state.items():
            if key.startswith("classifier."):  # timm: classifier.*, torchvision: classifier.1.*
                key = "fc." + key.removeprefix("classifier.").removeprefix("1.")
            elif m := _TV_BLOCK.match(key):
                stage, j, part, name = int(m[1]) - 1, int(m[2]), m[3], m[4]
                block = self._block(stage, j)
                names = _TV_DS if isinstance(block, DepthwiseSeparable) else _TV_MB
                if block is not None and f"{part}.{name}" in names:
                    key = f"blocks.{stage}.{j}.{names[part + '.' + name]}.{m[5]}"
            elif m := _TV_ENDS.match(key):
                where = {"0.0": "conv_stem", "0.1": "bn1", f"{last}.0": "conv_head", f"{last}.1": "bn2"}  # fmt: skip
                key = f"{where.get(m[1], 'features.' + m[1])}.{m[2]}"
            out[key] = value
        return out

    def _block(self, stage: int, j: int) -> nn.Module | None:
        if 0 <= stage < len(self.blocks) and j < len(self.blocks[stage]):
            return self.blocks[stage][j]
        return None


# torchvision's layout: features.<stage+1>.<block>.block.<part>.<name>.<tensor>, where the
# parts are Conv2dNormActivation (.0 conv, .1 bn) and SqueezeExcitation (.fc1, .fc2).
_TV_BLOCK = re.compile(r"^features\.(\d+)\.(\d+)\.block\.(\d+)\.(\w+)\.(\w+)$")
_TV_ENDS = re.compile(r"^features\.(\d+\.[01])\.(\w+)$")
_TV_DS = {  # expand ratio 1: depthwise, SE, project
    "0.0": "conv_dw",
    "0.1": "bn1",
    "1.fc1": "se.conv_reduce",
    "1.fc2": "se.conv_expand",
    "2.0": "conv_pw",
    "2.1": "bn2",
}
_TV_MB = {  # expand, depthwise, SE, project
    "0.0": "conv_pw",
    "0.1": "bn1",
    "1.0": "conv_dw",
    "1.1": "bn2",
    "2.fc1": "se.conv_reduce",
    "2.fc2": "se.conv_expand",
    "3.0": "conv_pwl",
    "3.1": "bn3",
}


def _create(name: str, pretrained=None, **kwargs) -> EfficientNet:
    width, depth, size, dropout = SCALING[name]
    kwargs.setdefault("drop_rate", dropout)
    model = EfficientNet(width, depth, input_size=size, **kwargs)
    return with_weights(model, pretrained)


@register_model
def efficientnet_b0(**kwargs) -> EfficientNet:
    return _create("efficientnet_b0", **kwargs)


@register_model
def efficientnet_b1(**kwargs) -> EfficientNet:
    return _create("efficientnet_b1", **kwargs)


@register_model
def efficientnet_b2(**kwargs) -> EfficientNet:
    return _create("efficientnet_b2", **kwargs)


@register_model
def efficientnet_b3(**kwargs) -> EfficientNet:
    return _create("efficientnet_b3", **kwargs)


@register_model
def efficientnet_b4(**kwargs) -> EfficientNet:
    return _create("efficientnet_b4", **kwargs)


__all__ = [
    "B0_STAGES",
    "SCALING",
    "DepthwiseSeparable",
    "EfficientNet",
    "MBConv",
    "SqueezeExciteSiLU",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "round_channels",
    "round_repeats",
]
