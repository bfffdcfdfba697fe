"""RoIAlign in plain PyTorch, on `F.grid_sample` (torchvision's compiled ops do not load here).

RoIAlign turns a box on a feature map into a fixed `out_h x out_w` grid of features, with
no rounding of the box to whole cells (RoIPool's rounding shifts features by up to a cell).
The definition is torchvision's `roi_align`:

- The box, in input pixels, is scaled to the feature map by `spatial_scale` (1/stride);
  with `aligned=True` it is also shifted by half a cell, because feature cell i covers
  input pixels around (i + 0.5) * stride, not i * stride. With `aligned=False` (the old
  Detectron behaviour) there is no shift and a box is made at least 1 x 1 cell.
- The box is cut into out_h x out_w bins; each bin is sampled on a regular grid of
  `sampling_ratio` x `sampling_ratio` points at the centres of equal sub-cells (with
  sampling_ratio <= 0: ceil(box height / out_h) x ceil(box width / out_w) points, chosen
  per box), each point read by bilinear interpolation, and the bin is their average.
- A point more than one cell outside the map reads 0; a point within one cell of the
  border reads the border (its coordinate is clamped to the map).

grid_sample with align_corners=True reads a normalised coordinate u at pixel
(u + 1) / 2 * (size - 1), bilinearly; padding_mode="border" clamps to the map, which is the
"within one cell" rule, and a mask zeroes the points further out. All boxes of one image go
through one grid_sample call (a box's points are rows of the sampling grid), so the cost is
one call per image, not per box (finding an image's boxes is one small device sync per
image; gathering each box's feature map instead would copy K maps). Gradients flow to the features (not to the boxes, as in
torchvision).
"""

import torch
import torch.nn.functional as F


def roi_align(
    features: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int | tuple[int, int],
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> torch.Tensor:
    """Features N x C x H x W, boxes K x 5 (batch index, x1, y1, x2, y2 in input pixels)
    -> K x C x out_h x out_w, as torchvision.ops.roi_align defines it (module docstring)."""
    if features.dim() != 4:
        raise ValueError(f"features must be N x C x H x W, got shape {tuple(features.shape)}")
    if boxes.dim() != 2 or boxes.shape[1] != 5:
        raise ValueError(
            f"boxes must be K x 5 (batch index, x1, y1, x2, y2), got {tuple(boxes.shape)}"
        )
    out_h, out_w = (output_size, output_size) if isinstance(output_size, int) else output_size
    n, c, height, width = features.shape
    out = features.new_zeros(len(boxes), c, out_h, out_w)
    if len(boxes) == 0:
        return out
    boxes = boxes.to(features.dtype)
    offset = 0.5 if aligned else 0.0
    x1, y1, x2, y2 = (boxes[:, i] * spatial_scale - offset for i in range(1, 5))
    box_w, box_h = x2 - x1, y2 - y1
    if not aligned:  # the legacy rule: a box at least one cell wide and high
        box_w, box_h = box_w.clamp(min=1.0), box_h.clamp(min=1.0)

    # Sampling points per bin side: fixed, or per box (then padded to the largest and masked).
    if sampling_ratio > 0:
        grid_h = torch.full_like(box_h, sampling_ratio)
        grid_w = torch.full_like(box_w, sampling_ratio)
        most_h = most_w = sampling_ratio
    else:  # shapes need a Python int here: one device sync per call (none in the fixed case)
        grid_h, grid_w = torch.ceil(box_h / out_h), torch.ceil(box_w / out_w)
        most_h = max(int(grid_h.max().item()), 1)
        most_w = max(int(grid_w.max().item()), 1)

    ys, y_used = _sample_coords(y1, box_h / out_h, grid_h, out_h, most_h)  # K x out_h*most_h
    xs, x_used = _sample_coords(x1, box_w / out_w, grid_w, out_w, most_w)  # K x out_w*most_w
    # A point more than one cell outside the map reads 0 (torchvision's bilinear rule).
    y_used = y_used & (ys >= -1.0) & (ys <= height)
    x_used = x_used & (xs >= -1.0) & (xs <= width)
    weight = y_used[:, :, None].to(features.dtype) * x_used[:, None, :].to(features.dtype)
    count = (grid_h * grid_w).clamp(min=1.0)

    # Normalised grid_sample coordinates (align_corners=True: -1 and 1 are the centres of
    # the first and last cells); max(size - 1, 1) keeps a 1-cell map finite.
    u = xs / max(width - 1, 1) * 2 - 1
    v = ys / max(height - 1, 1) * 2 - 1
    grid = torch.stack(
        [u[:, None, :].expand(-1, v.shape[1], -1), v[:, :, None].expand(-1, -1, u.shape[1])],
        dim=-1,
    )  # K x out_h*most_h x out_w*most_w x 2, (x, y) last as grid_sample wants
    batch = boxes[:, 0].long()
    for b in range(n):
        mine = torch.nonzero(batch == b).flatten()
        if len(mine) == 0:
            continue
        k = len(mine)
        sampled = F.grid_sample(
            features[b : b + 1],
            grid[mine].reshape(1, k * grid.shape[1], grid.shape[2], 2),
            mode="bilinear",
            padding_mode="border",
            align_corners=True,
        ).reshape(c, k, out_h, most_h, out_w, most_w)
        w = weight[mine].reshape(1, k, out_h, most_h, out_w, most_w)
        binned = (sampled * w).sum(dim=(3, 5)) / count[mine].reshape(1, k, 1, 1)
        out[mine] = binned.permute(1, 0, 2, 3)
    return out


def roi_align_padded(
    features: torch.Tensor,
    boxes: torch.Tensor,
    output_size: int,
    spatial_scale: float = 1.0,
    sampling_ratio: int = 2,
) -> torch.Tensor:
    """`roi_align` (aligned=True, a fixed sampling ratio) for the same number of boxes in
    every image: features N x C x H x W, boxes N x M x 4 (x1 y1 x2 y2, input pixels) ->
    N x M x C x out x out. One grid_sample call for the whole batch and no device sync,
    so it can run in every training step (padding boxes cost their share and read
    whatever lies under them; the caller masks them)."""
    if boxes.dim() != 3 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must be N x M x 4, got shape {tuple(boxes.shape)}")
    if sampling_ratio <= 0:
        raise ValueError("roi_align_padded needs a fixed sampling_ratio > 0")
    n, c, height, width = features.shape
    m, s = boxes.shape[1], sampling_ratio
    if m == 0:
        return features.new_zeros(n, 0, c, output_size, output_size)
    flat = boxes.reshape(n * m, 4).to(features.dtype) * spatial_scale - 0.5
    x1, y1, x2, y2 = flat.unbind(-1)
    grid = torch.full_like(x1, s)
    ys, y_used = _sample_coords(y1, (y2 - y1) / output_size, grid, output_size, s)
    xs, x_used = _sample_coords(x1, (x2 - x1) / output_size, grid, output_size, s)
    y_used = y_used & (ys >= -1.0) & (ys <= height)  # more than a cell outside reads 0
    x_used = x_used & (xs >= -1.0) & (xs <= width)
    weight = y_used[:, :, None].to(features.dtype) * x_used[:, None, :].to(features.dtype)
    u = xs / max(width - 1, 1) * 2 - 1
    v = ys / max(height - 1, 1) * 2 - 1
    side = output_size * s
    points = torch.stack(
        [u[:, None, :].expand(-1, side, -1), v[:, :, None].expand(-1, -1, side)], dim=-1
    )  # (N*M) x side x side x 2
    sampled = F.grid_sample(
        features,
        points.reshape(n, m * side, side, 2),
        mode="bilinear",
        padding_mode="border",
        align_corners=True,
    )  # N x C x (M*out*s) x (out*s): each bin's s x s points are one s x s block
    sampled = sampled * weight.reshape(n, 1, m * side, side)
    binned = F.avg_pool2d(sampled, s)  # N x C x (M*out) x out, far faster than a strided sum
    return binned.reshape(n, c, m, output_size, output_size).transpose(1, 2)


def _sample_coords(
    start: torch.Tensor, bin_size: torch.Tensor, grid: torch.Tensor, bins: int, most: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature-map coordinates of the sample points along one axis: for each box, bin p and
    point i < grid: start + p * bin + (i + 0.5) * bin / grid; K x bins*most, and which of
    those points are real (i < that box's grid)."""
    p = torch.arange(bins, device=start.device, dtype=start.dtype)
    i = torch.arange(most, device=start.device, dtype=start.dtype)
    step = bin_size / grid.clamp(min=1.0)
    coords = (
        start[:, None, None]
        + p[None, :, None] * bin_size[:, None, None]
        + (i[None, None, :] + 0.5) * step[:, None, None]
    )
    used = (i[None, None, :] < grid[:, None, None]).expand(-1, bins, -1)
    return coords.reshape(len(start), bins * most), used.reshape(len(start), bins * most)


__all__ = ["roi_align", "roi_align_padded"]
