"""Feature Pyramid Network neck (Lin et al. 2017): give every scale the deep layers' semantics.

    lateral   a 1x1 conv brings each encoder feature to `out_channels`
    top-down  from the deepest: upsample (nearest) to the next size and add its lateral
    output    a 3x3 conv on each sum smooths the upsampling seams

Input and output are lists ordered shallow to deep, as the encoders' features_only gives them.
"""

import torch
import torch.nn.functional as F
from torch import nn


class FPN(nn.Module):
    def __init__(self, in_channels: list[int], out_channels: int = 256):
        super().__init__()
        self.out_channels = out_channels
        self.lateral = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels)
        self.output = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels
        )

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        laterals = [conv(f) for conv, f in zip(self.lateral, features)]
        merged = [laterals[-1]]
        for lat in reversed(laterals[:-1]):
            merged.insert(0, lat + F.interpolate(merged[0], size=lat.shape[-2:], mode="nearest"))
        return [conv(m) for conv, m in zip(self.output, merged)]


__all__ = ["FPN"]
