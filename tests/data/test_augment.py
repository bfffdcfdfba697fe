"""Batch augmentations. References: torch.flip/rot90 for exact symmetries, scipy.ndimage for
bilinear sampling, hand-derived formulas for lighting, direct box arithmetic."""

import math

import numpy as np
import pytest
import torch
from scipy import ndimage

from dlf.core import DlfError
from dlf.data.augment import (
    Affine,
    CutMix,
    Cutout,
    Dihedral,
    Flip,
    Lighting,
    MixUp,
    Normalize,
    ToFloat,
    adjust_lighting,
    affine_theta,
    apply_affine,
)

KINDS = ("image", "mask", "boxes", "box_labels")


def _batch(n=4, h=16, w=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 256, (n, 3, h, w), dtype=torch.uint8, generator=g)
    m = torch.randint(0, 3, (n, h, w), dtype=torch.uint8, generator=g)
    boxes = torch.tensor([[[2.0, 3.0, 6.0, 9.0], [0, 0, 0, 0]]]).repeat(n, 1, 1)
    labels = torch.tensor([[1, -1]]).repeat(n, 1)
    return x, m, boxes, labels


@pytest.mark.parametrize(
    "tfm",
    [
        Flip(p=0.0),
        Dihedral(p=0.0),
        Affine(rotate=0, zoom=(1, 1), translate=0, shear=0, flip=0, p=1.0, dtype=torch.float32),
        Affine(p=0.0),
        Lighting(brightness=0, contrast=0, saturation=0, p=1.0),
        Cutout(p=0.0),
    ],
)
def test_identity_at_zero_strength(tfm):
    tfm.kinds = KINDS
    x, m, b, lab = _batch()
    out = tfm((x, m, b, lab))
    assert torch.allclose(
        out[0].float(), x.float() / 255 if out[0].is_floating_point() else x.float(), atol=1e-5
    )
    assert torch.equal(out[1], m) and torch.equal(out[2], b) and torch.equal(out[3], lab)


def test_flip_moves_image_mask_and_boxes_together():
    x, m, b, lab = _batch()
    out = Flip(p=1.0, kinds=KINDS)((x, m, b, lab))
    assert torch.equal(out[0], x.flip(-1)) and torch.equal(out[1], m.flip(-1))
    assert out[2][0, 0].tolist() == [16 - 6, 3, 16 - 2, 9]
    out = Flip(p=1.0, vertical=True, kinds=KINDS)((x, m, b, lab))
    assert torch.equal(out[1], m.flip(-2)) and out[2][0, 0].tolist() == [2, 16 - 9, 6, 16 - 3]


def test_dihedral_is_one_of_eight_symmetries_and_boxes_follow():
    torch.manual_seed(0)
    x, m, b, lab = _batch(n=32)
    # put a box's pixels into the mask so we can check box and mask agree afterwards
    m = torch.zeros_like(m)
    m[:, 3:9, 2:6] = 1
    out = Dihedral(kinds=KINDS)((x, m, b, lab))
    for i in range(32):
        syms = [torch.rot90(x[i], k, (-2, -1)) for k in range(4)]
        syms += [s.flip(-1) for s in syms]
        k = next(k for k, s in enumerate(syms) if torch.equal(out[0][i], s))
        ref_m = torch.rot90(m[i], k % 4, (-2, -1))
        ref_m = ref_m.flip(-1) if k >= 4 else ref_m
        assert torch.equal(out[1][i], ref_m)
        ys, xs = ref_m.nonzero(as_tuple=True)
        assert out[2][i, 0].tolist() == [
            xs.min().item(),
            ys.min().item(),
            xs.max().item() + 1,
            ys.max().item() + 1,
        ]


def test_affine_rot90_matches_torch_rot90_exactly():
    x, m, _, _ = _batch(n=1)
    A = torch.tensor([[[0.0, -1.0], [1.0, 0.0]]])  # 90 degrees, y pointing down
    out = apply_affine(
        (x, m), ("image", "mask"), torch.tensor([0]), A, torch.zeros(1, 2), pad="zeros"
    )
    ref = torch.rot90(x.float() / 255, 1, (-1, -2))  # clockwise on screen
    assert torch.allclose(out[0], ref, atol=1e-5) and torch.equal(
        out[1], torch.rot90(m, 1, (-1, -2))
    )


def test_affine_matches_scipy_bilinear_reference():
    """Forward map p_out = A p_in + t about the centre; scipy samples p_in = A^-1 (p_out - t)."""
    rng = np.random.default_rng(0)
    h, w = 20, 28
    img = rng.random((1, 1, h, w)).astype(np.float32)
    ang, z, sh = math.radians(17), 1.15, math.tan(math.radians(8))
    R = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
    A = R @ np.array([[1, sh], [0, 1]]) @ np.diag([z, z])
    t = np.array([1.5, -2.0])
    out = apply_affine(
        (torch.from_numpy(img),),
        ("image",),
        torch.tensor([0]),
        torch.tensor(A[None]),
        torch.tensor(t[None]),
        pad="zeros",
    )[0]
    # scipy works in (row, col) = (y, x) of pixel centres; centre of the image is ((h-1)/2, (w-1)/2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    p_out = np.stack([xx - (w - 1) / 2, yy - (h - 1) / 2], -1) - t
    p_in = p_out @ np.linalg.inv(A).T
    coords = np.stack([p_in[..., 1] + (h - 1) / 2, p_in[..., 0] + (w - 1) / 2])
    ref = ndimage.map_coordinates(img[0, 0].astype(np.float64), coords, order=1, mode="constant")
    inside = (coords[0] > 0) & (coords[0] < h - 1) & (coords[1] > 0) & (coords[1] < w - 1)
    assert inside.sum() > 200
    assert np.abs(out[0, 0].numpy()[inside] - ref[inside]).max() < 1e-5


def test_flipped_rotated_mask_lines_up_with_image_pixel_for_pixel():
    """Image channels hold each pixel's own (x, y); after the transform the image says where
    each output pixel was sampled from, and the mask there must equal the source mask value."""
    torch.manual_seed(1)
    n, h, w = 6, 24, 24
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    coords = torch.stack([xs, ys, xs * 0]).expand(n, 3, h, w) / 255  # floats, so no uint8 rounding
    mask = torch.randint(0, 5, (n, h, w), dtype=torch.uint8)
    # border padding: outside the image the coordinate channels clamp to the edge, and the
    # filter below drops edge pixels, so only genuinely inside samples are compared
    tfm = Affine(rotate=30, zoom=(0.9, 1.2), flip=0.5, p=1.0, pad="border", kinds=("image", "mask"))
    img, out_mask = tfm((coords, mask))
    img, out_mask = Flip(p=0.5, kinds=("image", "mask"))((img, out_mask))
    src = (img[:, :2] * 255).round().long()  # nearest source pixel (x, y) of every output pixel
    checked = 0
    for i in range(n):
        sx, sy = src[i, 0], src[i, 1]
        exact = ((img[i, :2] * 255 - (img[i, :2] * 255).round()).abs() < 0.3).all(
            0
        )  # away from ties
        inside = (sx > 0) & (sx < w - 1) & (sy > 0) & (sy < h - 1) & exact
        assert torch.equal(out_mask[i][inside], mask[i][sy[inside], sx[inside]])
        checked += int(inside.sum())
    assert checked > n * h * w / 4


def test_affine_boxes_corners_clipped_and_degenerate_dropped():
    h = w = 20
    boxes = torch.tensor([[[2.0, 2.0, 6.0, 4.0], [15.0, 15.0, 19.0, 19.0]]])
    labels = torch.tensor([[0, 1]])
    A = torch.eye(2)[None]
    out = apply_affine(
        (torch.zeros(1, 3, h, w), boxes, labels),
        ("image", "boxes", "box_labels"),
        torch.tensor([0]),
        A,
        torch.tensor([[8.0, 0.0]]),
    )
    assert out[1][0, 0].tolist() == [10, 2, 14, 4] and out[2][0].tolist() == [
        0,
        -1,
    ]  # 2nd pushed out
    # 90 degrees about the centre (10, 10): (x, y) -> (10 - (y - 10), 10 + (x - 10))
    out = apply_affine(
        (torch.zeros(1, 3, h, w), boxes, labels),
        ("image", "boxes", "box_labels"),
        torch.tensor([0]),
        torch.tensor([[[0.0, -1.0], [1.0, 0.0]]]),
        torch.zeros(1, 2),
    )
    assert torch.allclose(out[1][0, 0], torch.tensor([16.0, 2.0, 18.0, 6.0]), atol=1e-5)


def test_affine_theta_identity_and_bf16_auto_close_to_fp32():
    assert torch.allclose(
        affine_theta(torch.eye(2)[None], torch.zeros(1, 2), 10, 30), torch.eye(2, 3)[None]
    )
    x = torch.rand(2, 3, 32, 32)
    torch.manual_seed(0)
    a = Affine(p=1.0, dtype=torch.float32)((x,))[0]
    torch.manual_seed(0)
    b = Affine(p=1.0, dtype=torch.bfloat16)((x.contiguous(memory_format=torch.channels_last),))[0]
    assert b.dtype == torch.float32 and (a - b).abs().mean() < 0.02


def test_lighting_matches_formula():
    x = torch.rand(2, 3, 4, 4)
    out = adjust_lighting(
        x, torch.tensor([1.2, 1.0]), torch.tensor([1.0, 0.5]), torch.tensor([1.0, 1.0])
    )
    assert torch.allclose(out[0], (x[0] * 1.2).clamp(0, 1))
    gray = (x[1] * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0).mean()
    assert torch.allclose(out[1], ((x[1] - gray) * 0.5 + gray).clamp(0, 1), atol=1e-6)
    sat0 = adjust_lighting(x, torch.ones(2), torch.ones(2), torch.zeros(2))
    assert torch.allclose(sat0[:, 0], sat0[:, 1]) and torch.allclose(sat0[:, 1], sat0[:, 2])


def test_cutout_erases_a_rectangle():
    torch.manual_seed(0)
    out = Cutout(size=(0.25, 0.25), p=1.0)((torch.ones(3, 1, 8, 8),))[0]
    for i in range(3):
        ys, xs = (out[i, 0] == 0).nonzero(as_tuple=True)
        assert len(ys) == 4 and ys.max() - ys.min() == 1 and xs.max() - xs.min() == 1


def test_normalize_and_to_float():
    x = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
    out = Normalize(mean=(0.5,) * 3, std=(0.25,) * 3)((x,))[0]
    assert torch.allclose(out, torch.full_like(out, 2.0))
    assert torch.allclose(
        Normalize(mean=(0.5,) * 3, std=(0.25,) * 3).decode(out), torch.ones_like(out)
    )
    f, m = ToFloat(kinds=("image", "mask"))((x, torch.ones(1, 2, 2, dtype=torch.uint8)))
    assert f.dtype == torch.float32 and f.max() == 1 and m.dtype == torch.int64
    with pytest.raises(DlfError, match="channels"):
        Normalize()((torch.zeros(1, 2, 2, 2),))


def test_mixup_and_cutmix_mix_targets_consistently():
    torch.manual_seed(0)
    x = torch.stack([torch.zeros(3, 8, 8), torch.ones(3, 8, 8)])
    y = torch.tensor([0, 1])
    xm, ym = MixUp(alpha=1.0, n_classes=2, kinds=("image", "label"))((x, y))
    # image mean equals the weight of image 1, which must equal the soft label of class 1
    assert torch.allclose(xm.mean((1, 2, 3)), ym[:, 1], atol=1e-6) and torch.allclose(
        ym.sum(1), torch.ones(2)
    )
    xc, yc = CutMix(alpha=1.0, n_classes=2, kinds=("image", "label"))((x, y))
    assert torch.allclose(xc.mean((1, 2, 3)), yc[:, 1], atol=1e-6)
    with pytest.raises(DlfError, match="n_classes"):
        MixUp(kinds=("image", "label"))((x, y))
    with pytest.raises(DlfError, match="CutMix"):
        MixUp(kinds=("image", "mask"))((x, torch.zeros(2, 8, 8)))
