"""roi_align against a direct crop-and-resize reference written in numpy from torchvision's
definition (ops/roi_align: box scaled and, if aligned, shifted by half a cell; bins; sample
points at sub-cell centres; bilinear reads with the border/zero rules; the bin's mean),
point by point with plain loops, plus numerical gradients (torch.autograd.gradcheck)."""

import math

import numpy as np
import pytest
import torch

from dlf.models.detection import roi_align


def _bilinear(image: np.ndarray, y: float, x: float) -> np.ndarray:
    """One point of a C x H x W map, torchvision's rule: 0 beyond one cell outside, the
    border within one cell, else the 4-neighbour weighted mean."""
    _, h, w = image.shape
    if y < -1.0 or y > h or x < -1.0 or x > w:
        return np.zeros(image.shape[0])
    y, x = max(y, 0.0), max(x, 0.0)
    y0, x0 = int(y), int(x)
    if y0 >= h - 1:
        y0 = y1 = h - 1
        y = float(y0)
    else:
        y1 = y0 + 1
    if x0 >= w - 1:
        x0 = x1 = w - 1
        x = float(x0)
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    return (
        (1 - ly) * (1 - lx) * image[:, y0, x0]
        + (1 - ly) * lx * image[:, y0, x1]
        + ly * (1 - lx) * image[:, y1, x0]
        + ly * lx * image[:, y1, x1]
    )


def reference_roi_align(features, boxes, out_h, out_w, scale, ratio, aligned):
    features, boxes = np.asarray(features, np.float64), np.asarray(boxes, np.float64)
    out = np.zeros((len(boxes), features.shape[1], out_h, out_w))
    offset = 0.5 if aligned else 0.0
    for k, (b, x1, y1, x2, y2) in enumerate(boxes):
        sx, sy = x1 * scale - offset, y1 * scale - offset
        bw, bh = x2 * scale - offset - sx, y2 * scale - offset - sy
        if not aligned:
            bw, bh = max(bw, 1.0), max(bh, 1.0)
        gh = ratio if ratio > 0 else math.ceil(bh / out_h)
        gw = ratio if ratio > 0 else math.ceil(bw / out_w)
        for ph in range(out_h):
            for pw in range(out_w):
                total = np.zeros(features.shape[1])
                for iy in range(gh):
                    y = sy + ph * bh / out_h + (iy + 0.5) * bh / out_h / gh
                    for ix in range(gw):
                        x = sx + pw * bw / out_w + (ix + 0.5) * bw / out_w / gw
                        total += _bilinear(features[int(b)], y, x)
                out[k, :, ph, pw] = total / max(gh * gw, 1)
    return out


def _random_boxes(rng, n_boxes, n_images, size):
    """Boxes in input pixels, some reaching past the image (up to 20% out) and some tiny."""
    h, w = size
    x = rng.uniform(-0.2 * w, 1.2 * w, (n_boxes, 2))
    y = rng.uniform(-0.2 * h, 1.2 * h, (n_boxes, 2))
    x.sort(axis=1)
    y.sort(axis=1)
    tiny = rng.random(n_boxes) < 0.2
    x[tiny, 1] = x[tiny, 0] + rng.uniform(0, 2, tiny.sum())
    batch = rng.integers(0, n_images, n_boxes)
    return np.column_stack([batch, x[:, 0], y[:, 0], x[:, 1], y[:, 1]])


@pytest.mark.parametrize(
    ("ratio", "aligned", "scale", "out"),
    [
        (2, True, 0.25, (7, 7)),
        (1, True, 0.5, (3, 5)),
        (0, True, 0.25, (4, 4)),
        (2, False, 0.125, (2, 3)),
    ],
)
def test_roi_align_matches_the_crop_and_resize_reference(ratio, aligned, scale, out):
    rng = np.random.default_rng(ratio * 10 + int(aligned))
    features = rng.normal(size=(3, 4, 9, 13))
    input_size = (9 / scale, 13 / scale)
    boxes = _random_boxes(rng, 25, 3, input_size)
    got = roi_align(
        torch.tensor(features, dtype=torch.float64), torch.tensor(boxes), out, scale, ratio, aligned
    )
    want = reference_roi_align(features, boxes, *out, scale, ratio, aligned)
    assert got.shape == (25, 4, *out)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-10)


def test_roi_align_of_a_whole_cell_grid_is_the_features_themselves():
    # Aligned, scale 1, the box (0, 0, W, H) cut into W x H bins with one sample each: bin
    # (i, j) samples feature-map point (i, j) exactly -> the map itself.
    features = torch.randn(1, 2, 5, 6)
    box = torch.tensor([[0.0, 0.0, 0.0, 6.0, 5.0]])
    got = roi_align(features, box, (5, 6), 1.0, sampling_ratio=1, aligned=True)
    torch.testing.assert_close(got[0], features[0])


def test_float32_and_empty_boxes():
    rng = np.random.default_rng(3)
    features = rng.normal(size=(2, 3, 8, 8)).astype(np.float32)
    boxes = _random_boxes(rng, 6, 2, (32, 32))
    got = roi_align(torch.tensor(features), torch.tensor(boxes, dtype=torch.float32), 2, 0.25)
    want = reference_roi_align(features, boxes, 2, 2, 0.25, 2, True)
    np.testing.assert_allclose(got.numpy(), want, atol=1e-5)
    empty = roi_align(torch.tensor(features), torch.zeros(0, 5), (2, 3))
    assert empty.shape == (0, 3, 2, 3)


def test_gradients_flow_to_the_features():
    rng = np.random.default_rng(4)
    features = torch.tensor(rng.normal(size=(2, 2, 6, 7)), dtype=torch.float64, requires_grad=True)
    boxes = torch.tensor(_random_boxes(rng, 5, 2, (12, 14)))

    def f(x):
        return roi_align(x, boxes, (3, 2), 0.5, sampling_ratio=2)

    assert torch.autograd.gradcheck(f, (features,))
    f(features).sum().backward()
    assert features.grad.abs().sum() > 0


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="K x 5"):
        roi_align(torch.zeros(1, 1, 4, 4), torch.zeros(3, 4), 2)
    with pytest.raises(ValueError, match="N x C x H x W"):
        roi_align(torch.zeros(1, 4, 4), torch.zeros(3, 5), 2)
