"""DenseNet-BC (Huang et al. 2017), read from the stem to the head.

    stem         conv0 7x7/2 -> norm0 -> relu0                  (stride 2, 64 channels; 96 for 161)
    denseblock1  pool0 3x3/2, then n1 dense layers               (stride 4)
    transition1  norm -> relu -> 1x1 conv halving the channels -> 2x2 average pool
    denseblock2..4, with transitions 2 and 3 between them         (stride 8, 16, 32)
    head         norm5 -> relu -> global pool -> dropout -> fc

A dense layer does not replace its input: it reads the concatenation of every earlier map in
its block (BN-ReLU-1x1 conv to `bn_size * growth_rate` channels, BN-ReLU-3x3 conv) and adds
`growth_rate` new channels to it. A block of n layers on c channels therefore ends with
c + n * growth_rate channels, which the transition halves ("compression" 0.5, the -BC).

Attribute names are torchvision's (`features.conv0`, `features.denseblock1.denselayer1.norm1`,
..., `features.norm5`), which timm's DenseNet shares, so their checkpoints load key for key;
only the classifier is called `fc` here as in every dlf classifier (`classifier.*` is renamed
on loading). `checkpoint_filter` also renames the keys of torchvision's released .pth files,
which predate the current names (`denselayer1.norm.1.weight` for `denselayer1.norm1.weight`).

Memory: each layer concatenates all earlier maps, and autograd keeps every layer's
concatenated input and its BN output for the backward pass, so activation memory grows with
the square of a block's length rather than linearly. Measured with bench/backbones.py (the
tensors autograd keeps, fp32, 224 px): 125 MiB per image for DenseNet-121 and 232 for
DenseNet-161, against 82 for ResNet-50 (which has three times DenseNet-121's parameters).
torchvision's and timm's `memory_efficient=True` (off by default in both) recompute the
concatenation and the first BN-ReLU-conv in the backward pass instead of keeping them
(gradient checkpointing); dlf leaves it out: it costs a second forward of those layers, and
mixed precision (bf16 or fp16 autocast: half the bytes per activation) or a smaller batch
are the first remedies.
"""

import re
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dlf.models.classifier import ClassifierBase
from dlf.models.registry import register_model
from dlf.models.weights import with_weights


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (the bottleneck) -> BN-ReLU-3x3 conv: `growth_rate` new channels."""

    def __init__(self, in_chs: int, growth_rate: int, bn_size: int, drop_rate: float = 0.0):
        super().__init__()
        mid = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_chs)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_chs, mid, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(mid)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(mid, growth_rate, 3, padding=1, bias=False)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, 1)  # every earlier map of the block
        x = self.conv1(self.relu1(self.norm1(x)))
        x = self.conv2(self.relu2(self.norm2(x)))
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate else x


class DenseBlock(nn.ModuleDict):
    """`num_layers` dense layers (keys denselayer1..n); returns the input and all new maps."""

    def __init__(
        self, num_layers: int, in_chs: int, growth_rate: int, bn_size: int, drop_rate: float
    ):
        super().__init__()
        for i in range(num_layers):
            layer = DenseLayer(in_chs + i * growth_rate, growth_rate, bn_size, drop_rate)
            self[f"denselayer{i + 1}"] = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class Transition(nn.Module):
    """BN-ReLU-1x1 conv to `out_chs` (half the input), then a 2x2 average pool.

    Returns the BN-ReLU map too: it is the stage's feature for features_only (normalised, as a
    decoder wants it; segmentation_models_pytorch's DenseNet encoder takes the same map)."""

    def __init__(self, in_chs: int, out_chs: int):
        super().__init__()
        self.norm = nn.BatchNorm2d(in_chs)
        self.relu = nn.ReLU(inplace=True)
        self.conv = nn.Conv2d(in_chs, out_chs, 1, bias=False)
        self.pool = nn.AvgPool2d(2, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature = self.relu(self.norm(x))
        return feature, self.pool(self.conv(feature))


class DenseNet(ClassifierBase):
    def __init__(
        self,
        growth_rate: int = 32,
        block_config: tuple[int, int, int, int] = (6, 12, 24, 16),
        num_init_features: int = 64,
        bn_size: int = 4,
        num_classes: int = 1000,
        in_chans: int = 3,
        global_pool: str = "avg",
        drop_rate: float = 0.0,
        layer_drop_rate: float = 0.0,
        features_only: bool = False,
        out_indices: tuple[int, ...] | None = None,
    ):
        """`drop_rate` is the dropout before the classifier (as for every dlf classifier);
        `layer_drop_rate` is torchvision's `drop_rate`, dropout on each dense layer's output."""
        super().__init__()
        # A ModuleDict, not a Sequential: forward_stages calls its parts one by one (the
        # transitions also return a feature), and the keys stay torchvision's `features.<name>`.
        self.features = nn.ModuleDict()
        f = self.features
        f["conv0"] = nn.Conv2d(in_chans, num_init_features, 7, 2, 3, bias=False)
        f["norm0"] = nn.BatchNorm2d(num_init_features)
        f["relu0"] = nn.ReLU(inplace=True)
        f["pool0"] = nn.MaxPool2d(3, 2, 1)
        self.feature_info = [dict(num_chs=num_init_features, reduction=2, module="features.relu0")]

        chs, reduction = num_init_features, 4
        for i, n in enumerate(block_config, start=1):
            f[f"denseblock{i}"] = DenseBlock(n, chs, growth_rate, bn_size, layer_drop_rate)
            chs += n * growth_rate
            if i < len(block_config):
                f[f"transition{i}"] = Transition(chs, chs // 2)
                info = dict(num_chs=chs, reduction=reduction, module=f"features.transition{i}.relu")
                self.feature_info.append(info)
                chs, reduction = chs // 2, reduction * 2
        f["norm5"] = nn.BatchNorm2d(chs)
        self.feature_info.append(dict(num_chs=chs, reduction=reduction, module="relu5"))
        self.relu5 = nn.ReLU(inplace=True)
        self.num_blocks = len(block_config)

        self.pretrained_cfg = dict(first_conv="features.conv0", classifier="fc")
        self._init_head(chs, num_classes, global_pool, drop_rate, features_only, out_indices)
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's DenseNet init: He normal (fan_in) convs, BN as identity, zero fc bias.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        f = self.features
        x = f.relu0(f.norm0(f.conv0(x)))
        yield x
        x = f.pool0(x)
        for i in range(1, self.num_blocks + 1):
            x = f[f"denseblock{i}"](x)
            if i < self.num_blocks:
                feature, x = f[f"transition{i}"](x)
                yield feature
        yield self.relu5(f.norm5(x))

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[stem + blocks to stride 8, blocks at stride 16 and 32, head]: as for a ResNet."""
        names = list(self.features)  # conv0, norm0, relu0, pool0, denseblock1, transition1, ...
        split = names.index("transition2")  # the transition to stride 16
        early = [self.features[n] for n in names[:split]]
        late = [self.features[n] for n in names[split:]]
        return [
            [p for m in early for p in m.parameters()],
            [p for m in late for p in m.parameters()],
            self.head_parameters(),
        ]

    def checkpoint_filter(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """torchvision's or timm's DenseNet keys in dlf's names (see the module docstring)."""
        out = {}
        for key, value in state.items():
            key = _LEGACY_TORCHVISION.sub(r"\1\2", key)
            if key.startswith("classifier."):
                key = "fc." + key.removeprefix("classifier.")
            out[key] = value
        return out


# torchvision's released files: 'features.denseblock1.denselayer1.norm.1.weight' (the module
# names once held a dot) for today's 'features.denseblock1.denselayer1.norm1.weight'.
_LEGACY_TORCHVISION = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\.(?:weight|bias|running_mean|running_var))$"
)


def _create(growth_rate, block_config, num_init_features, pretrained=None, **kwargs) -> DenseNet:
    model = DenseNet(growth_rate, block_config, num_init_features, **kwargs)
    return with_weights(model, pretrained)


@register_model
def densenet121(**kwargs) -> DenseNet:
    return _create(32, (6, 12, 24, 16), 64, **kwargs)


@register_model
def densenet161(**kwargs) -> DenseNet:
    return _create(48, (6, 12, 36, 24), 96, **kwargs)


@register_model
def densenet169(**kwargs) -> DenseNet:
    return _create(32, (6, 12, 32, 32), 64, **kwargs)


@register_model
def densenet201(**kwargs) -> DenseNet:
    return _create(32, (6, 12, 48, 32), 64, **kwargs)


__all__ = [
    "DenseBlock",
    "DenseLayer",
    "DenseNet",
    "Transition",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
]
