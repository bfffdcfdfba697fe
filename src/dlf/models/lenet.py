"""A LeNet-style CNN (LeCun et al. 1998): the smallest network with every part of a modern one.

    stage1   conv 5x5 (in_chans -> 6)  -> relu -> maxpool 2   32x32 -> 14x14
    stage2   conv 5x5 (6 -> 16)        -> relu -> maxpool 2   14x14 -> 5x5
    head     16 x 5 x 5 -> fc 120 -> relu -> fc 84 -> relu -> fc num_classes

With in_chans=1 and num_classes=10 it has LeNet-5's 61,706 parameters. ReLU and max pooling
replace the original's tanh and subsampling; an adaptive pool to 5x5 lets any input size in.
"""

from collections.abc import Iterator

import torch
from torch import nn

from dlf.models.classifier import ClassifierBase
from dlf.models.registry import register_model
from dlf.models.weights import with_weights


class LeNet(ClassifierBase):
    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        drop_rate: float = 0.0,
        features_only: bool = False,
        out_indices: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.stage1 = nn.Sequential(
            nn.Conv2d(in_chans, 6, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2)
        )
        self.stage2 = nn.Sequential(nn.Conv2d(6, 16, 5), nn.ReLU(inplace=True), nn.MaxPool2d(2))
        # Valid convolutions shrink the map a little more than the nominal stride says.
        self.feature_info = [
            dict(num_chs=6, reduction=2, module="stage1"),
            dict(num_chs=16, reduction=4, module="stage2"),
        ]
        self.pretrained_cfg = dict(first_conv="stage1.0", classifier="fc")
        self.features_only = features_only
        self.out_indices = tuple(range(2)) if out_indices is None else tuple(out_indices)
        self.num_classes = 0 if features_only else num_classes
        if not features_only:
            # LeNet's head is an MLP on the flattened 5x5 map, not a global pool.
            self.global_pool = nn.AdaptiveAvgPool2d(5)
            self.global_pool_type = "lenet"
            self.num_features = 84
            self.hidden = nn.Sequential(
                nn.Flatten(),
                nn.Linear(16 * 5 * 5, 120),
                nn.ReLU(inplace=True),
                nn.Linear(120, 84),
                nn.ReLU(inplace=True),
            )
            self.head_drop = nn.Dropout(drop_rate)
            self.fc = nn.Linear(84, num_classes) if num_classes else nn.Identity()

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        x = self.stage1(x)
        yield x
        yield self.stage2(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_drop(self.hidden(self.global_pool(x)))
        return x if pre_logits else self.fc(x)

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        self.num_classes = num_classes
        self.fc = nn.Linear(84, num_classes) if num_classes else nn.Identity()

    def head_parameters(self) -> list[nn.Parameter]:
        return [] if self.features_only else [*self.hidden.parameters(), *self.fc.parameters()]

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[convolutional body, MLP head]."""
        body = [*self.stage1.parameters(), *self.stage2.parameters()]
        return [body, self.head_parameters()]


@register_model
def lenet(pretrained=None, **kwargs) -> LeNet:
    return with_weights(LeNet(**kwargs), pretrained)


__all__ = ["LeNet", "lenet"]
