"""Test-time augmentation: average the model over the eight symmetries of the square.

`k` in 0..7 names a symmetry by three bits: bit 0 flips left-right, bit 1 flips up-down,
bit 2 swaps height and width. For dense outputs (masks) each prediction is mapped back
with the inverse symmetry before averaging.
"""

from collections.abc import Callable

import torch


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


# The order in which TTA passes are added: identity, left-right, up-down, both, then transposes.
TTA_ORDER = (0, 1, 2, 3, 4, 5, 6, 7)


@torch.no_grad()
def tta_predict(
    model: Callable, xb: torch.Tensor, n: int = 1, dense: bool = False, act: Callable | None = None
) -> torch.Tensor:
    """Mean of `act(model(dihedral(xb, k)))` over the first `n` symmetries (1 <= n <= 8).

    dense: the output is an image-shaped map that must be mapped back before averaging.
    Non-square inputs skip the transposed symmetries."""
    if not 1 <= n <= 8:
        raise ValueError(f"TTA passes must be between 1 and 8, got {n}")
    ks = [k for k in TTA_ORDER if xb.shape[-1] == xb.shape[-2] or not k & 4][:n]
    total = None
    for k in ks:
        out = model(dihedral(xb, k)).float()
        out = act(out) if act is not None else out
        if dense:
            out = undo_dihedral(out, k)
        total = out if total is None else total + out
    return total / len(ks)
