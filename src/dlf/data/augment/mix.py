"""Transforms that mix two items of a batch (MixUp, CutMix), targets mixed alike."""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.data.augment.common import _device, to_float
from dlf.data.batch import Batch, any_geometry, field_type, named, positional


def _mix_targets(b: Batch, perm: torch.Tensor, lam: torch.Tensor, n_classes: int | None,
                 paste=None) -> Batch:  # fmt: skip
    out = dict(b)
    for k, y in b.items():
        kind = field_type(k)
        if kind == "label":
            if n_classes is None:
                raise DlfError(
                    "MixUp/CutMix of class labels needs n_classes (the data block sets it from the vocab)"
                )
            y = F.one_hot(y.long(), n_classes).float()
            out[k] = lam * y + (1 - lam) * y[perm]
        elif kind in ("multilabel", "regression"):
            y = y.float()
            out[k] = lam * y + (1 - lam) * y[perm]
        elif kind == "mask":
            if paste is None:
                raise DlfError("MixUp cannot mix segmentation masks; use CutMix")
            out[k] = torch.where(paste, y[perm], y)
        elif kind in ("boxes", "box_labels", "pairs", "pair_labels"):
            raise DlfError("MixUp/CutMix do not support boxes")
    return out


@dataclass
class MixUp:
    """Blend each image with another of the batch (weight lam ~ Beta(alpha, alpha) per batch);
    targets blend the same way (class labels become soft one-hot rows)."""

    alpha: float = 0.4
    n_classes: int | None = None
    kinds: tuple[str, ...] | None = field(default=None)
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        dev = _device(b)
        n = next(iter(b.values())).shape[0]
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample().to(dev)
        perm = torch.randperm(n, device=dev)
        out = _mix_targets(b, perm, lam, self.n_classes)
        for k, x in b.items():
            if field_type(k) == "image":
                x = to_float(x)
                out[k] = lam * x + (1 - lam) * x[perm]
        return positional(out, names)


@dataclass
class CutMix:
    """Paste a rectangle from another image of the batch; targets mix by the pasted area."""

    alpha: float = 1.0
    n_classes: int | None = None
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        dev = _device(b)
        n, h, w = any_geometry(b)
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        rh, rw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
        y0, x0 = int(torch.randint(0, h - rh + 1, ())), int(torch.randint(0, w - rw + 1, ()))
        paste = torch.zeros(h, w, dtype=torch.bool, device=dev)
        paste[y0 : y0 + rh, x0 : x0 + rw] = True
        lam_t = torch.tensor(1 - rh * rw / (h * w), device=dev)  # the area actually kept
        perm = torch.randperm(n, device=dev)
        out = _mix_targets(b, perm, lam_t, self.n_classes, paste=paste)
        for k, x in b.items():
            if field_type(k) == "image":
                x = to_float(x)
                out[k] = torch.where(paste, x[perm], x)
        return positional(out, names)
