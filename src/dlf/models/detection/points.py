"""FCOS locations: the centre of every cell of every pyramid level, in input pixels.

A level of stride s has a cell per s x s pixels; its location is the cell's centre,
((col + 0.5) * s, (row + 0.5) * s). Levels are flattened row-major and concatenated, shallow
to deep, the order the detector's outputs use, so a point's index is the same everywhere.
"""

import math
from collections.abc import Sequence

import torch


def grid_points(
    sizes: Sequence[tuple[int, int]],
    strides: Sequence[int],
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(points P x 2 as x y, strides P) for feature maps of `sizes` (h, w) at `strides`."""
    points, point_strides = [], []
    for (h, w), s in zip(sizes, strides):
        ys = (torch.arange(h, device=device, dtype=torch.float32) + 0.5) * s
        xs = (torch.arange(w, device=device, dtype=torch.float32) + 0.5) * s
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        points.append(torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], -1))
        point_strides.append(torch.full((h * w,), float(s), device=device))
    return torch.cat(points), torch.cat(point_strides)


def level_sizes(image_size: tuple[int, int], strides: Sequence[int]) -> list[tuple[int, int]]:
    """Feature map sizes of an (h, w) input: ceil(h / s) x ceil(w / s), what a ResNet's padded
    stride-2 convolutions and pooling give (each halves a size rounding up)."""
    h, w = image_size
    return [(math.ceil(h / s), math.ceil(w / s)) for s in strides]


def fcos_points(
    image_size: tuple[int, int],
    strides: Sequence[int] = (8, 16, 32),
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(points P x 2, strides P) for an input of `image_size` (h, w): the detector's points."""
    return grid_points(level_sizes(image_size, strides), strides, device)


__all__ = ["fcos_points", "grid_points", "level_sizes"]
