"""Load pretrained weights from a file on disk, as timm does, but with no download.

`load_pretrained(model, path)` reads a `.pth`/`.pt` (torch.load with weights_only=True: no
pickled code runs) or a `.safetensors` file and then, before loading:

- adapts the first conv when the model's `in_chans` differs from the checkpoint's
  (timm's `adapt_input_conv` rule: 1 channel gets the sum of the RGB filters; any other count
  repeats the RGB filters cyclically and scales them by 3/in_chans, so a constant image gives
  the same activations as before);
- renames keys with the model's `checkpoint_filter(state)`, where a family has one (the
  torchvision and timm layouts of DenseNet and EfficientNet);
- drops the classifier when its shape differs (a new `num_classes`) or the model has none
  (`features_only`): the model keeps its fresh head, to be trained;
- reports the keys the model lacked (`missing`) and those it did not use (`unexpected`).
"""

import logging
import math
import os
import pickle
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from dlf.core.errors import DlfError

log = logging.getLogger(__name__)


@dataclass
class LoadReport:
    """What `load_pretrained` did; `str(report)` is a one-paragraph summary."""

    path: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # first conv, reshaped for in_chans
    dropped: list[str] = field(default_factory=list)  # classifier, shape differs

    @property
    def ok(self) -> bool:
        return not self.missing and not self.unexpected

    def __str__(self) -> str:
        lines = [f"{self.path}: loaded {self.loaded} tensors"]
        for name in ("adapted", "dropped", "missing", "unexpected"):
            keys = getattr(self, name)
            if keys:
                shown = ", ".join(keys[:8]) + (
                    f", ... ({len(keys)} in all)" if len(keys) > 8 else ""
                )
                lines.append(f"  {name}: {shown}")
        return "\n".join(lines)


def unpickling_reason(e: Exception) -> str:
    """One line out of torch.load's long, coloured refusal: the line that says why."""
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in str(e).splitlines()]
    lines = [line for line in lines if line] or [type(e).__name__]
    why = next((line for line in lines if "Unsupported" in line), lines[0])
    return why[:200]


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Tensors by name from a .pth/.pt/.bin or .safetensors file (unwrapping {'state_dict': ...})."""
    path = Path(path)
    if not path.is_file():
        raise DlfError(
            f"{path}: no such weights file; give the path of a .pth or .safetensors file"
        )
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        elif path.suffix in (".pth", ".pt", ".bin", ".ckpt"):
            state = torch.load(path, map_location="cpu", weights_only=True)
        else:
            raise DlfError(f"{path}: unknown weights format; use a .pth, .pt or .safetensors file")
    except DlfError:
        raise
    except pickle.UnpicklingError as e:
        if "Unsupported global" not in str(e):  # no callable named in it: a damaged file
            raise DlfError(
                f"{path}: cannot read weights ({unpickling_reason(e)}); is the file complete?"
            ) from e
        raise DlfError(
            f"{path}: refused to load: it holds more than tensors ({unpickling_reason(e)}); "
            "weights files are loaded with weights_only=True and never run code"
        ) from e
    except Exception as e:
        raise DlfError(
            f"{path}: cannot read weights ({type(e).__name__}: {unpickling_reason(e)}); "
            "is the file complete?"
        ) from e
    for wrapper in ("state_dict", "model", "model_state_dict"):  # common training-checkpoint shapes
        if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
            state = state[wrapper]
    if not isinstance(state, dict):
        raise DlfError(f"{path}: holds a {type(state).__name__}, not a state_dict of tensors")
    # Checkpoints saved from nn.DataParallel / DDP prefix every key with 'module.'.
    return {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}


def adapt_input_conv(in_chans: int, weight: torch.Tensor) -> torch.Tensor:
    """An RGB first-conv weight (out, 3, k, k) reshaped for `in_chans` inputs (timm's rule)."""
    dtype = weight.dtype
    weight = weight.float()
    if weight.shape[1] != 3:
        raise ValueError(f"can only adapt a 3-channel first conv, got {weight.shape[1]} channels")
    if in_chans == 1:
        weight = weight.sum(dim=1, keepdim=True)
    elif in_chans != 3:
        repeat = math.ceil(in_chans / 3)
        weight = weight.repeat(1, repeat, 1, 1)[:, :in_chans] * (3 / in_chans)
    return weight.to(dtype)


def load_pretrained(model: nn.Module, path: str | os.PathLike, strict: bool = False) -> LoadReport:
    """Load `path` into `model`, adapting the stem and dropping a mismatched classifier.

    With `strict=True` any missing or unexpected key raises a DlfError; by default they are
    reported (returned and logged) and the rest is loaded.
    """
    state = read_state_dict(path)
    # A family whose names differ from a published layout renames it here (timm's
    # checkpoint_filter_fn): DenseNet, EfficientNet.
    convert = getattr(model, "checkpoint_filter", None)
    if convert is not None:
        state = convert(state)
    report = LoadReport(path=str(path))
    own = model.state_dict()
    cfg = getattr(model, "pretrained_cfg", {})

    first = cfg.get("first_conv")
    key = f"{first}.weight" if first else None
    if key in state and key in own and state[key].shape[1] != own[key].shape[1]:
        state[key] = adapt_input_conv(own[key].shape[1], state[key])
        report.adapted.append(key)

    # The head: the classifier, and for some families the layers before it that a
    # features_only model lacks (pretrained_cfg["head"], e.g. EfficientNet's conv_head).
    head = cfg.get("head") or ((cfg["classifier"],) if cfg.get("classifier") else ())
    for key in [k for k in state if any(k.startswith(f"{h}.") for h in head)]:
        if key not in own or state[key].shape != own[key].shape:
            del state[key]
            report.dropped.append(key)

    for k, v in state.items():
        if k in own and own[k].shape != v.shape:
            raise DlfError(
                f"{path}: '{k}' has shape {tuple(v.shape)} but the model expects "
                f"{tuple(own[k].shape)}; was this checkpoint made for another architecture?"
            )
    result = model.load_state_dict(state, strict=False)
    report.missing = [k for k in result.missing_keys if k not in report.dropped]
    report.unexpected = list(result.unexpected_keys)
    report.loaded = len(state) - len(report.unexpected)
    log.info("%s", report)
    if strict and not report.ok:
        raise DlfError(
            f"{path}: {len(report.missing)} missing and {len(report.unexpected)} unused keys "
            f"(first: {(report.missing + report.unexpected)[0]}); check the architecture name"
        )
    return report


def with_weights(model: nn.Module, pretrained: str | os.PathLike | None) -> nn.Module:
    """`model` with the weights of the file `pretrained` loaded, if one is given: what every
    registered builder returns, so `create_model(..., pretrained=PATH)` needs no special case."""
    if pretrained is not None:
        load_pretrained(model, pretrained)
    return model


__all__ = ["LoadReport", "adapt_input_conv", "load_pretrained", "read_state_dict", "with_weights"]
