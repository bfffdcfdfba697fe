"""U-Net (Ronneberger et al. 2015) on any encoder that returns multi-scale features.

    encoder   features f0 (stride 2), f1 (4), ..., f4 (32), e.g. a ResNet-34 with features_only
    decoder   start from the deepest map; for each shallower feature: upsample to its size,
              concatenate it (the skip connection), conv-bn-relu x2, optional scSE;
              one last block without a skip upsamples to the input size
    head      3x3 conv to num_classes logits per pixel, at the input resolution

The layout follows segmentation_models_pytorch (decoder channels 256..16, scSE attention as
an option) so its recipes carry over. Upsampling goes to the skip's exact size, so inputs
that are not multiples of 32 work too.
"""

import torch
import torch.nn.functional as F
from torch import nn

from dlf.models.layers import SCSE, ConvNormAct
from dlf.models.registry import create_model, register_model


class DecoderBlock(nn.Module):
    def __init__(self, in_chs: int, skip_chs: int, out_chs: int, attention: str | None = None):
        super().__init__()
        self.attention1 = SCSE(in_chs + skip_chs) if attention == "scse" else nn.Identity()
        self.conv1 = ConvNormAct(in_chs + skip_chs, out_chs, 3)
        self.conv2 = ConvNormAct(out_chs, out_chs, 3)
        self.attention2 = SCSE(out_chs) if attention == "scse" else nn.Identity()

    def forward(
        self, x: torch.Tensor, size: tuple[int, int], skip: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = F.interpolate(x, size=size, mode="nearest")
        if skip is not None:
            x = self.attention1(torch.cat([x, skip], 1))
        return self.attention2(self.conv2(self.conv1(x)))


class UNet(nn.Module):
    def __init__(
        self,
        encoder: nn.Module,
        num_classes: int = 1,
        decoder_channels: tuple[int, ...] = (256, 128, 64, 32, 16),
        attention: str | None = None,
    ):
        super().__init__()
        if attention not in (None, "scse"):
            raise ValueError(f"unknown attention {attention!r}; use None or 'scse'")
        enc_chs = list(encoder.feature_channels)  # shallow -> deep
        if len(decoder_channels) != len(enc_chs):
            raise ValueError(
                f"decoder_channels needs {len(enc_chs)} entries, one per encoder feature"
            )
        self.encoder = encoder
        self.num_classes = num_classes
        in_chs = [enc_chs[-1], *decoder_channels[:-1]]
        skip_chs = [*enc_chs[-2::-1], 0]  # deepest skip first; the last block has none
        self.decoder = nn.ModuleList(
            DecoderBlock(i, s, o, attention) for i, s, o in zip(in_chs, skip_chs, decoder_channels)
        )
        self.head = nn.Conv2d(decoder_channels[-1], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)
        skips = features[-2::-1]
        y = features[-1]
        for i, block in enumerate(self.decoder):
            skip = skips[i] if i < len(skips) else None
            size = skip.shape[-2:] if skip is not None else x.shape[-2:]
            y = block(y, size, skip)
        return self.head(y)

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[encoder, decoder + head]: freeze the pretrained encoder first, as for a classifier."""
        return [
            list(self.encoder.parameters()),
            [*self.decoder.parameters(), *self.head.parameters()],
        ]


# `unet_<encoder>`: the encoder is a registered classifier built with features_only=True, and
# `pretrained` is then a classification checkpoint loaded into that encoder.
UNET_ENCODERS = (
    "resnet18",
    "resnet34",
    "resnet50",
    "resnext50_32x4d",
    "seresnext50_32x4d",
    "densenet121",
    "densenet161",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
)


def _unet_builder(encoder_name: str):
    def build(num_classes: int = 1, in_chans: int = 3, pretrained=None, **kwargs) -> UNet:
        encoder = create_model(
            encoder_name, in_chans=in_chans, features_only=True, pretrained=pretrained
        )
        return UNet(encoder, num_classes=num_classes, **kwargs)

    build.__name__ = f"unet_{encoder_name}"
    return build


for _enc in UNET_ENCODERS:
    register_model(_unet_builder(_enc))


__all__ = ["UNET_ENCODERS", "DecoderBlock", "UNet"]
