"""dlf's two-pass affine_grid against the reference, torch's F.affine_grid (align_corners=False)."""

import torch
import torch.nn.functional as F

from dlf.data.augment import Affine, affine_grid


def test_affine_grid_matches_torch():
    g = torch.Generator().manual_seed(0)
    for n, h, w in ((1, 1, 1), (3, 7, 9), (2, 16, 5)):
        theta = torch.randn(n, 2, 3, generator=g)
        ref = F.affine_grid(theta, [n, 3, h, w], align_corners=False)
        assert torch.allclose(affine_grid(theta, n, h, w), ref, atol=1e-6)


def test_affine_of_uint8_matches_float_input():
    # uint8 is sampled as 0..255 and scaled after; float input as 0..1: same images
    x = torch.randint(0, 256, (4, 3, 12, 12), dtype=torch.uint8)
    torch.manual_seed(1)
    a = Affine(rotate=30, p=0.5, dtype=torch.float32)((x,))[0]
    torch.manual_seed(1)
    b = Affine(rotate=30, p=0.5, dtype=torch.float32)((x.float() / 255,))[0]
    assert a.dtype == b.dtype == torch.float32 and torch.allclose(a, b, atol=1e-5)
