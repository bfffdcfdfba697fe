"""Models by name: `create_model("resnet34", num_classes=5, in_chans=6, pretrained="r34.pth")`.

timm's shape: each model file decorates its builder functions with `@register_model`, so the
zoo is whatever the model files define and nothing is listed by hand. A builder takes keyword
arguments (num_classes, in_chans, pretrained, ...) and returns the model; `create_model` is a
lookup and a call. This module imports no model file (they import it), so a new family
(detection, video, 1-D) registers itself the same way from its own file.
"""

import difflib
import fnmatch
import os
from collections.abc import Callable

from torch import nn

from dlf.core.errors import DlfError

Builder = Callable[..., nn.Module]
_REGISTRY: dict[str, Builder] = {}


def register_model(fn: Builder | None = None, *, name: str | None = None):
    """Register a builder under its function name (or `name`): `@register_model` on a
    function, or `register_model(fn, name="unet_resnet34")` for builders made in a loop."""

    def add(f: Builder) -> Builder:
        key = name or f.__name__
        if key in _REGISTRY:
            raise ValueError(f"model {key!r} is registered twice")
        _REGISTRY[key] = f
        return f

    return add if fn is None else add(fn)


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
    return _REGISTRY[name](in_chans=in_chans, pretrained=pretrained, **kwargs)


__all__ = ["create_model", "list_models", "register_model"]
