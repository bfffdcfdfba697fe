"""Test-time augmentation: average the model over the eight symmetries of the square.

`k` in 0..7 names a symmetry by three bits: bit 0 flips left-right, bit 1 flips up-down,
bit 2 swaps height and width. For dense outputs (masks) each prediction is mapped back
with the inverse symmetry before averaging.
"""

from collections.abc import Callable
from dataclasses import dataclass

import torch

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
    n: int = 1,
    dense: bool = False,
    act: Callable | None = None,
    first=None,
    merge: TTAMerge | None = None,
):
    """Mean of `act(model(dihedral(xb, k)))` over the first `n` symmetries (1 <= n <= 8).

    dense: the output is an image-shaped map that must be mapped back before averaging.
    merge: instead of the mean, map each pass back with `merge.undo` and combine them with
    `merge.merge` (see TTAMerge). Non-square inputs skip the transposed symmetries.
    first: `model(xb)` when the caller has it already (the identity pass is not run twice)."""
    if not 1 <= n <= 8:
        raise ValueError(f"TTA passes must be between 1 and 8, got {n}")
    ks = [k for k in TTA_ORDER if xb.shape[-1] == xb.shape[-2] or not k & 4][:n]
    total, outs = None, []
    for k in ks:
        out = first if k == 0 and first is not None else model(dihedral(xb, k))
        out = out.float() if isinstance(out, torch.Tensor) else out  # a tuple: act decides
        out = act(out) if act is not None else out
        if merge is not None:
            outs.append(merge.undo(out, k, xb.shape[-2], xb.shape[-1]))
            continue
        if dense:
            out = undo_dihedral(out, k)
        total = out if total is None else total + out
    return merge.merge(outs) if merge is not None else total / len(ks)


class TTA(Callback):
    """Test-time augmentation inside the Learner's own inference pass: after each
    prediction outside training, `learn.pred` becomes the mean of `act(output)` over the
    first `n` symmetries, under the learner's precision like every other forward pass."""

    order = Phase.MODEL  # before anything that reads learn.pred (GatherPreds, metrics)

    def __init__(
        self,
        n: int = 1,
        dense: bool = False,
        act: Callable | None = None,
        merge: TTAMerge | None = None,
    ) -> None:
        if not 1 <= n <= 8:
            raise ValueError(f"TTA passes must be between 1 and 8, got {n}")
        self.n, self.dense, self.act, self.merge = n, dense, act, merge

    def after_pred(self, learn) -> None:
        if learn.training or (self.n == 1 and self.act is None and self.merge is None):
            return
        learn.pred = tta_predict(learn.model, learn.xb[0], self.n, self.dense, self.act,
                                 first=learn.pred, merge=self.merge)  # fmt: skip


__all__ = [
    "TTA",
    "TTA_ORDER",
    "TTAMerge",
    "dihedral",
    "tta_predict",
    "undo_dihedral",
    "undo_dihedral_boxes",
]
