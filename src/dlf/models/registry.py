"""Models by name: `create_model("resnet34", num_classes=5, in_chans=6, pretrained="r34.pth")`.

Every family registers its builders here; the registry is a plain dict from name to a
function taking keyword arguments, so `list_models()` is the whole zoo. U-Nets are named
`unet_<encoder>`: the encoder is any registered classifier built with features_only=True,
and `pretrained` then loads a classification checkpoint into that encoder.
"""

import difflib
import fnmatch
import logging
import os
from collections.abc import Callable

from torch import nn

from dlf.core.errors import DlfError
from dlf.models.lenet import lenet
from dlf.models.resnet import (
    resnet18,
    resnet18d,
    resnet34,
    resnet34d,
    resnet50,
    resnet50d,
    resnet101,
    resnet101d,
    resnet152,
    resnext50_32x4d,
    seresnext50_32x4d,
)
from dlf.models.unet import UNet
from dlf.models.vgg import vgg11, vgg16
from dlf.models.weights import load_pretrained

log = logging.getLogger(__name__)

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str, fn: Callable[..., nn.Module]) -> None:
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is registered twice")
    _REGISTRY[name] = fn


CLASSIFIERS = (
    lenet,
    vgg11,
    vgg16,
    resnet18,
    resnet34,
    resnet50,
    resnet101,
    resnet152,
    resnet18d,
    resnet34d,
    resnet50d,
    resnet101d,
    resnext50_32x4d,
    seresnext50_32x4d,
)
for _fn in CLASSIFIERS:
    register_model(_fn.__name__, _fn)

UNET_ENCODERS = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d", "seresnext50_32x4d")


def _unet_builder(encoder_name: str) -> Callable[..., nn.Module]:
    def build(
        num_classes: int = 1,
        in_chans: int = 3,
        pretrained: str | os.PathLike | None = None,
        **kwargs,
    ) -> UNet:
        encoder = create_model(
            encoder_name, in_chans=in_chans, features_only=True, pretrained=pretrained
        )
        return UNet(encoder, num_classes=num_classes, **kwargs)

    build.__name__ = f"unet_{encoder_name}"
    return build


for _enc in UNET_ENCODERS:
    register_model(f"unet_{_enc}", _unet_builder(_enc))


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a shell-style `pattern` (e.g. 'resnet*', 'unet_*'), sorted."""
    return sorted(n for n in _REGISTRY if fnmatch.fnmatch(n, pattern))


def create_model(
    name: str,
    num_classes: int | None = None,
    in_chans: int = 3,
    pretrained: str | os.PathLike | None = None,
    **kwargs,
) -> nn.Module:
    """Build a registered model; `pretrained` is a weights file on disk (never a download)."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "see `list_models()`"
        raise DlfError(f"unknown model '{name}'; {hint}")
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    if name.startswith("unet_"):
        return _REGISTRY[name](in_chans=in_chans, pretrained=pretrained, **kwargs)
    model = _REGISTRY[name](in_chans=in_chans, **kwargs)
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


__all__ = ["create_model", "list_models", "register_model"]
