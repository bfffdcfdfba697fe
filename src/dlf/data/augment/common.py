"""What every batch transform shares: the fields it maps, float conversion, random draws per item."""

from dataclasses import fields, replace

import torch

from dlf.data.batch import Batch, field_type, named, positional


def configure(tfm, kinds: tuple[str, ...], n_classes: int | None = None):
    """A copy of `tfm` with `kinds` (and `n_classes`) filled in where it left them None."""
    names = {f.name for f in fields(tfm)} if hasattr(tfm, "__dataclass_fields__") else set()
    changes = {}
    if "kinds" in names and tfm.kinds is None:
        changes["kinds"] = tuple(kinds)
    if "n_classes" in names and tfm.n_classes is None and n_classes is not None:
        changes["n_classes"] = n_classes
    return replace(tfm, **changes) if changes else tfm


def map_images(tfm, batch, fn):
    """Apply `fn` to the batch's images; pass the other fields through."""
    b, names = named(batch, tfm.kinds)
    return positional({k: fn(x) if field_type(k) == "image" else x for k, x in b.items()}, names)


def _device(b: Batch) -> torch.device:
    return next(iter(b.values())).device


def to_float(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 0..255 -> float 0..1; float images are returned as they are (cast to dtype)."""
    # contiguous NCHW first: the loader's NHWC-backed batches make index_select and
    # elementwise ops many times slower, and the uint8 copy is the cheapest place to fix it
    x = x.contiguous()
    return x.to(dtype).div_(255) if x.dtype == torch.uint8 else x.to(dtype)


def _rand(n: int, lo: float, hi: float, device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(lo, hi)


def _chosen(n: int, p: float, device) -> torch.Tensor:
    return torch.rand(n, device=device) < p


def _where(sel: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(sel.view(-1, *([1] * (a.dim() - 1))), a, b)
