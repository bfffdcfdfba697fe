"""Building blocks of the week-3 CNNs: every model in dlf.models is assembled from these.

The residual blocks keep torchvision's attribute names (conv1, bn1, ..., downsample) on
purpose: a model built from them has the same state_dict keys as torchvision and timm, so
their checkpoints load without renaming anything.
"""

import torch
from torch import nn


class ConvNormAct(nn.Module):
    """Conv -> BatchNorm -> ReLU, the unit most CNNs repeat. Padding keeps the size at stride 1."""

    def __init__(
        self,
        in_chs: int,
        out_chs: int,
        kernel_size: int = 3,
        stride: int = 1,
        groups: int = 1,
        act: bool = True,
    ):
        super().__init__()
        # No conv bias: the BatchNorm right after it has its own shift.
        self.conv = nn.Conv2d(
            in_chs, out_chs, kernel_size, stride, kernel_size // 2, groups=groups, bias=False
        )
        self.bn = nn.BatchNorm2d(out_chs)
        self.act = nn.ReLU(inplace=True) if act else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


def make_divisible(v: float, divisor: int = 8, round_limit: float = 0.0) -> int:
    """Round a channel count to the nearest multiple of `divisor` (at least `divisor`).

    With `round_limit=0.9` (torchvision's `_make_divisible`, timm's `round_channels`) a
    result more than 10% below `v` is bumped up by one `divisor`, so scaling never loses
    more than a tenth of the channels.
    """
    rounded = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < round_limit * v else rounded


class DropPath(nn.Module):
    """Stochastic depth (Huang et al. 2016) for a residual branch: during training each
    sample's branch is dropped with probability `p` and kept ones are scaled by 1/(1-p), so
    the expected output is unchanged; in eval mode it is the identity. torchvision calls it
    StochasticDepth(p, "row"), timm DropPath."""

    def __init__(self, p: float = 0.0):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2018): reweight channels by a gate computed from their means.

    Key names fc1/fc2 (1x1 convs with bias) follow timm's SEModule.
    """

    def __init__(self, channels: int, rd_ratio: float = 1 / 16, rd_divisor: int = 8):
        super().__init__()
        rd_channels = make_divisible(channels * rd_ratio, rd_divisor)
        self.fc1 = nn.Conv2d(channels, rd_channels, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd_channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)  # squeeze: one number per channel
        s = self.fc2(self.act(self.fc1(s)))  # excite: a small bottleneck MLP
        return x * s.sigmoid()


class SCSE(nn.Module):
    """Concurrent spatial and channel squeeze-excitation (Roy et al. 2018), used in U-Net decoders.

    The channel branch is SE; the spatial branch gates each pixel with a 1x1 conv to one map.
    """

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.cse = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
            nn.Sigmoid(),
        )
        self.sse = nn.Sequential(nn.Conv2d(channels, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.cse(x) + x * self.sse(x)


class BasicBlock(nn.Module):
    """Two 3x3 convs plus the input (He et al. 2016): the block of ResNet-18/34."""

    expansion = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        attn: bool = False,
    ):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock supports only groups=1 and base_width=64")
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SqueezeExcite(planes) if attn else None
        self.downsample = downsample  # matches the shortcut to the new shape when needed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 -> 1x1 expand (x4), plus the input: the block of ResNet-50 and deeper.

    The stride sits on the 3x3 conv ("ResNet v1.5", as torchvision and timm). `groups` and
    `base_width` turn it into the ResNeXt block: width = planes * base_width / 64 * groups,
    split into `groups` parallel paths by a grouped 3x3 conv.
    """

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        groups: int = 1,
        base_width: int = 64,
        attn: bool = False,
    ):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        outplanes = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, outplanes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(outplanes)
        self.relu = nn.ReLU(inplace=True)
        self.se = SqueezeExcite(outplanes) if attn else None
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.se is not None:
            out = self.se(out)
        return self.relu(out + shortcut)


class GeM(nn.Module):
    """Generalized-mean pooling (Radenović et al. 2018): p=1 is average pooling, p->inf is max."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6, learn_p: bool = True):
        super().__init__()
        self.p = nn.Parameter(torch.tensor(float(p))) if learn_p else float(p)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = self.p
        return x.clamp(min=self.eps).pow(p).mean((2, 3), keepdim=True).pow(1.0 / p)


class AdaptiveConcatPool2d(nn.Module):
    """Max and average pooling side by side (fastai): twice the channels, both summaries kept."""

    def __init__(self, output_size: int = 1):
        super().__init__()
        self.mp = nn.AdaptiveMaxPool2d(output_size)
        self.ap = nn.AdaptiveAvgPool2d(output_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mp(x), self.ap(x)], 1)


def create_pool(pool_type: str = "avg") -> tuple[nn.Module, int]:
    """A global pooling layer by name ('avg', 'max', 'gem', 'catavgmax') and its channel multiplier."""
    if pool_type == "avg":
        return nn.AdaptiveAvgPool2d(1), 1
    if pool_type == "max":
        return nn.AdaptiveMaxPool2d(1), 1
    if pool_type == "gem":
        return GeM(), 1
    if pool_type in ("catavgmax", "concat"):
        return AdaptiveConcatPool2d(1), 2
    raise ValueError(f"unknown global_pool {pool_type!r}; use 'avg', 'max', 'gem' or 'catavgmax'")


def init_weights_kaiming(module: nn.Module, zero_init_last: bool = False) -> None:
    """He (Kaiming) normal init for convs, BatchNorm to identity; torchvision's ResNet recipe.

    `zero_init_last` zeroes the last BatchNorm of each residual block so every block starts as
    the identity (Goyal et al. 2017, "Bag of Tricks"), which helps large-batch training.
    """
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d | nn.GroupNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if zero_init_last:
        for m in module.modules():
            if isinstance(m, Bottleneck):
                nn.init.zeros_(m.bn3.weight)
            elif isinstance(m, BasicBlock):
                nn.init.zeros_(m.bn2.weight)


__all__ = [
    "SCSE",
    "AdaptiveConcatPool2d",
    "BasicBlock",
    "Bottleneck",
    "ConvNormAct",
    "DropPath",
    "GeM",
    "SqueezeExcite",
    "create_pool",
    "init_weights_kaiming",
    "make_divisible",
]
