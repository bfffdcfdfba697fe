"""Test-time augmentation: average the model over symmetries of the square and scales.

One setting says what is averaged everywhere (`dlf train --tta`, `dlf predict --tta`,
`Learner.get_preds(tta=)`): a `TTASpec`, written `N` or `N@S1,S2,...`:
- N, the symmetries, in this order: 1 none, 2 + left-right flip, 4 + up-down flips ("flips"),
  8 + the transposes (all of the square's "dihedral" group); also by name: none, flip,
  flips, dihedral;
- S, the input scales (default 1): each pass is also run on the input resized by each
  factor; dense outputs (masks) are resized back to the unscaled output's size before
  averaging, one-per-item outputs are averaged as they are. "8@1,1.25" is 16 passes.

`k` in 0..7 names a symmetry by three bits: bit 0 flips left-right, bit 1 flips up-down,
bit 2 swaps height and width. For dense outputs each prediction is mapped back with the
inverse symmetry before averaging; merged outputs (boxes) are mapped back by a `TTAMerge`.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.train.callbacks.core import Callback, Phase


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """Apply symmetry k to the last two dims (H, W)."""
    if k & 1:
        x = x.flip(-1)
    if k & 2:
        x = x.flip(-2)
    if k & 4:
        x = x.transpose(-1, -2)
    return x


def undo_dihedral(y: torch.Tensor, k: int) -> torch.Tensor:
    """The inverse of `dihedral(., k)`: the same steps in reverse order."""
    if k & 4:
        y = y.transpose(-1, -2)
    if k & 2:
        y = y.flip(-2)
    if k & 1:
        y = y.flip(-1)
    return y


def undo_dihedral_boxes(boxes: torch.Tensor, k: int, h: int, w: int) -> torch.Tensor:
    """Boxes (..., 4: x1 y1 x2 y2, pixels) found on `dihedral(image, k)` of an h x w image,
    mapped back onto the image itself: the inverse steps of `dihedral` in reverse order."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    if k & 4:  # the transformed image is w x h: its x runs along the original's y
        x1, y1, x2, y2 = y1, x1, y2, x2
    if k & 2:
        y1, y2 = h - y2, h - y1
    if k & 1:
        x1, x2 = w - x2, w - x1
    return torch.stack([x1, y1, x2, y2], -1)


# The order in which TTA passes are added: identity, left-right, up-down, both, then transposes.
TTA_ORDER = (0, 1, 2, 3, 4, 5, 6, 7)


#: names for the symmetry counts
TTA_NAMES = {"none": 1, "flip": 2, "flips": 4, "dihedral": 8}


@dataclass(frozen=True)
class TTASpec:
    """What test-time augmentation averages: the first `passes` symmetries (see TTA_ORDER) at
    each of `scales`. `TTASpec.parse` reads the command line's spelling."""

    passes: int = 1
    scales: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        if not 1 <= self.passes <= 8:
            raise DlfError(f"TTA passes must be between 1 and 8 (the square's symmetries), got {self.passes}")  # fmt: skip
        if not self.scales or any(not 0.25 <= s <= 4 for s in self.scales):
            raise DlfError(f"TTA scales must be between 0.25 and 4, got {list(self.scales)}")

    @classmethod
    def parse(cls, value: "int | str | TTASpec") -> "TTASpec":
        """8, "8", "dihedral", "2@1,1.25", "flip@0.75,1,1.25" or a TTASpec itself."""
        if isinstance(value, TTASpec):
            return value
        if isinstance(value, int):
            return cls(value)
        text = str(value).strip().lower()
        m = re.fullmatch(r"(\w+)(?:@([0-9.,\s]+))?", text)
        n = None if m is None else TTA_NAMES.get(m[1], int(m[1]) if m[1].isdigit() else None)
        if n is None:
            raise DlfError(f"--tta {value}: write N (1-8 symmetries), a name ({', '.join(TTA_NAMES)}), "
                           "or either with scales, e.g. 2@1,1.25")  # fmt: skip
        try:
            scales = tuple(float(s) for s in m[2].split(",")) if m[2] else (1.0,)
        except ValueError:
            raise DlfError(
                f"--tta {value}: the scales after @ are numbers, e.g. 2@1,1.25"
            ) from None
        return cls(n, scales)

    @property
    def identity(self) -> bool:
        return self.passes == 1 and self.scales == (1.0,)

    def setting(self) -> "int | str":
        """How the spec is saved in config.json: the pass count alone when there are no other
        scales (so runs saved as `"tta": 2` read the same), else "N@S1,S2"."""
        if self.scales == (1.0,):
            return self.passes
        return f"{self.passes}@{','.join(f'{s:g}' for s in self.scales)}"

    def __str__(self) -> str:
        return str(self.setting())


def _resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of the last two dims (any leading dims: N x H x W maps, N x C x H x W)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    lead = x.shape[:-2]
    y = F.interpolate(x.reshape(-1, 1, *x.shape[-2:]).float(), size=size, mode="bilinear",
                      align_corners=False)  # fmt: skip
    return y.reshape(*lead, *size)


def _scaled(xb: torch.Tensor, s: float) -> torch.Tensor:
    if s == 1.0:
        return xb
    size = (max(1, round(xb.shape[-2] * s)), max(1, round(xb.shape[-1] * s)))
    return F.interpolate(xb, size=size, mode="bilinear", align_corners=False).to(xb.dtype)


@dataclass(frozen=True)
class TTAMerge:
    """How the passes of an output that is not an image-shaped map come back together
    (detected boxes, for instance, which are merged rather than averaged).

    undo(out, k, h, w): one pass's activated output mapped back to the untransformed h x w
      input (boxes flipped back, say); merge(outs): the passes combined into one output
      (concatenated and suppressed, say)."""

    undo: Callable
    merge: Callable


@torch.no_grad()
def tta_predict(
    model: Callable,
    xb: torch.Tensor,
    n: "int | str | TTASpec" = 1,
    dense: bool = False,
    act: Callable | None = None,
    first=None,
    merge: TTAMerge | None = None,
):
    """Mean of `act(model(dihedral(scaled(xb, s), k)))` over the spec's symmetries k and
    scales s (`n`: a TTASpec or its spelling; an int is that many symmetries at scale 1).

    dense: the output is an image-shaped map that must be mapped back (and resized back to
    the unscaled output's size) before averaging. merge: instead of the mean, map each pass
    back with `merge.undo` and combine them with `merge.merge` (see TTAMerge; scale 1 only).
    Non-square inputs skip the transposed symmetries.
    first: `model(xb)` when the caller has it already (the identity pass is not run twice)."""
    spec = TTASpec.parse(n)
    if merge is not None and spec.scales != (1.0,):
        raise DlfError(
            f"--tta {spec}: merged outputs (boxes) take symmetries only; drop the scales"
        )
    ks = [k for k in TTA_ORDER if xb.shape[-1] == xb.shape[-2] or not k & 4][: spec.passes]
    total, outs, size = None, [], None
    for s in spec.scales:
        xs = _scaled(xb, s)
        for k in ks:
            reuse = k == 0 and s == 1.0 and first is not None
            out = first if reuse else model(dihedral(xs, k))
            out = out.float() if isinstance(out, torch.Tensor) else out  # a tuple: act decides
            out = act(out) if act is not None else out
            if merge is not None:
                outs.append(merge.undo(out, k, xb.shape[-2], xb.shape[-1]))
                continue
            if dense:
                out = undo_dihedral(out, k)
                # every map back at the unscaled output's size: the model's own output
                # stride applied to the input's size
                size = size or (round(out.shape[-2] / s), round(out.shape[-1] / s))
                out = _resize(out, size)
            total = out if total is None else total + out
    return merge.merge(outs) if merge is not None else total / (len(ks) * len(spec.scales))


class TTA(Callback):
    """Test-time augmentation inside the Learner's own inference pass: after each
    prediction outside training, `learn.pred` becomes the mean of `act(output)` over the
    first `n` symmetries, under the learner's precision like every other forward pass."""

    order = Phase.MODEL  # before anything that reads learn.pred (GatherPreds, metrics)

    def __init__(
        self,
        n: "int | str | TTASpec" = 1,
        dense: bool = False,
        act: Callable | None = None,
        merge: TTAMerge | None = None,
    ) -> None:
        self.n, self.dense, self.act, self.merge = TTASpec.parse(n), dense, act, merge

    def after_pred(self, learn) -> None:
        if learn.training or (self.n.identity and self.act is None and self.merge is None):
            return
        learn.pred = tta_predict(learn.model, learn.xb[0], self.n, self.dense, self.act,
                                 first=learn.pred, merge=self.merge)  # fmt: skip


__all__ = [
    "TTA",
    "TTA_NAMES",
    "TTA_ORDER",
    "TTAMerge",
    "TTASpec",
    "dihedral",
    "tta_predict",
    "undo_dihedral",
    "undo_dihedral_boxes",
]
