"""What every dlf classification model shares: the head, features_only and timm's method names.

A family (ResNet, VGG, LeNet) subclasses `ClassifierBase` and writes three things itself:
`forward_stages(x)` yielding the output of each stage from the stem down, `param_groups()`,
and its `feature_info`. The base turns those into `forward_features`, `forward_head`,
`forward` and `reset_classifier`, so the family file reads stem-to-head with nothing else.
"""

from collections.abc import Iterator

import torch
from torch import nn

from dlf.models.layers import create_pool


class ClassifierBase(nn.Module):
    """Head handling and multi-scale features for a CNN made of consecutive stages.

    With `features_only=True` the model has no pooling or classifier and `forward` returns the
    list of stage outputs picked by `out_indices` (stem first); `feature_info` lists each
    stage's channels (`num_chs`), total stride (`reduction`) and `module` name, like timm.
    `pretrained_cfg` names the first conv and the classifier for `load_pretrained`.
    """

    feature_info: list[dict]
    pretrained_cfg: dict

    def _init_head(
        self,
        num_features: int,
        num_classes: int,
        global_pool: str,
        drop_rate: float,
        features_only: bool,
        out_indices: tuple[int, ...] | None,
    ) -> None:
        self.num_features = num_features
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.features_only = features_only
        n = len(self.feature_info)
        self.out_indices = tuple(range(n)) if out_indices is None else tuple(out_indices)
        if features_only:
            self.num_classes = 0
            self.global_pool_type = ""
            return
        self.global_pool_type = global_pool
        self.global_pool, mult = create_pool(global_pool)
        self.head_drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(num_features * mult, num_classes) if num_classes else nn.Identity()

    @property
    def feature_channels(self) -> list[int]:
        return [self.feature_info[i]["num_chs"] for i in self.out_indices]

    @property
    def feature_reductions(self) -> list[int]:
        return [self.feature_info[i]["reduction"] for i in self.out_indices]

    def forward_stages(self, x: torch.Tensor) -> Iterator[torch.Tensor]:
        raise NotImplementedError

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The last feature map, before pooling (timm's name)."""
        *_, last = self.forward_stages(x)
        return last

    def forward_feature_list(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Every stage's output picked by `out_indices`, shallow to deep."""
        return [f for i, f in enumerate(self.forward_stages(x)) if i in self.out_indices]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.global_pool(x), 1)
        x = self.head_drop(x)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_feature_list(x)
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Module:
        return self.fc

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """A fresh classifier for `num_classes` (0: no classifier, the model returns features)."""
        if self.features_only:
            raise ValueError("a features_only model has no classifier to reset")
        if global_pool is not None:
            self.global_pool_type = global_pool
            self.global_pool, _ = create_pool(global_pool)
        _, mult = create_pool(self.global_pool_type)
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features * mult, num_classes) if num_classes else nn.Identity()

    def head_parameters(self) -> list[nn.Parameter]:
        if self.features_only:
            return []
        return [*self.global_pool.parameters(), *self.fc.parameters()]
