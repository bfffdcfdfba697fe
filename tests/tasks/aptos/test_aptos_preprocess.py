"""Fundus preprocessing: crop bounds on discs drawn at known places, and the blur and
Ben Graham's formula against scipy.ndimage.gaussian_filter (an independent reference)."""

import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter

from dlf.core import DlfError
from dlf.tasks.aptos import ben_graham, crop_to_fundus, load_fundus
from dlf.tasks.aptos.preprocess import gaussian_blur, pad_to_square


def _disc(h, w, cy, cx, r, colour=(180, 70, 30), border_noise=0):
    """A uniform disc of integer centre and radius: it spans rows cy-r..cy+r, cols cx-r..cx+r."""
    rng = np.random.default_rng(0)
    img = rng.integers(0, border_noise + 1, (h, w, 3)).astype(np.uint8)
    y, x = np.ogrid[:h, :w]
    img[(y - cy) ** 2 + (x - cx) ** 2 <= r * r] = colour
    return img


def test_crop_finds_the_disc_at_its_known_place():
    img = _disc(120, 200, cy=55, cx=130, r=40, border_noise=7)  # noise up to tol is border
    out = crop_to_fundus(img, tol=7)
    assert out.shape == (81, 81, 3)
    np.testing.assert_array_equal(out, img[15:96, 90:171])


def test_crop_keeps_a_disc_cut_at_top_and_bottom():
    img = _disc(100, 240, cy=50, cx=100, r=70)  # taller than the canvas
    out = crop_to_fundus(img)
    np.testing.assert_array_equal(out, img[:, 30:171])


def test_a_dark_red_fundus_is_not_border():
    # The mean of (14, 2, 0) is below tol, but the red channel says fundus.
    out = crop_to_fundus(_disc(50, 80, cy=25, cx=30, r=10, colour=(14, 2, 0)))
    assert out.shape == (21, 21, 3)


@pytest.mark.parametrize("shape", [(40, 60, 3), (40, 60)])
def test_all_dark_image_comes_back_unchanged(shape):
    img = np.full(shape, 3, np.uint8)
    out = crop_to_fundus(img)
    assert out.shape == shape
    np.testing.assert_array_equal(out, img)


def test_pad_to_square_centres_the_image():
    img = np.full((2, 4, 3), 9, np.uint8)
    out = pad_to_square(img)
    assert out.shape == (4, 4, 3)
    assert (out[1:3] == 9).all() and (out[[0, 3]] == 0).all()


@pytest.mark.parametrize("sigma", [0.7, 2.0, 5.5])
def test_gaussian_blur_matches_scipy(sigma):
    img = np.random.default_rng(1).integers(0, 256, (37, 53, 3)).astype(np.uint8)
    # scipy's mode="reflect" mirrors with the edge pixel repeated, its truncate defaults to 4
    ref = gaussian_filter(img.astype(np.float64), sigma=(sigma, sigma, 0), mode="reflect")
    np.testing.assert_allclose(gaussian_blur(img, sigma), ref, atol=1e-3)


def test_ben_graham_matches_the_formula_with_a_scipy_blur():
    img = np.random.default_rng(2).integers(0, 256, (48, 64, 3)).astype(np.uint8)
    blur = gaussian_filter(img.astype(np.float64), sigma=(3.0, 3.0, 0), mode="reflect")
    ref = np.clip(np.rint(4 * img.astype(np.float64) - 4 * blur + 128), 0, 255)
    out = ben_graham(img, sigma=3.0, circle=None)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.abs(out.astype(int) - ref).max() <= 1  # float32 vs float64 at .5 ties
    assert (out.astype(int) == ref).mean() > 0.99
    assert (out == 255).any() and (out == 0).any()  # clipping was exercised


def test_ben_graham_of_a_flat_image_is_grey_and_the_circle_mask():
    flat = np.full((30, 40, 3), 77, np.uint8)
    assert (ben_graham(flat, circle=None) == 128).all()  # 4c - 4c + 128
    img = np.random.default_rng(3).integers(0, 256, (60, 60, 3)).astype(np.uint8)
    masked, full = ben_graham(img, sigma=2.0, circle=0.9), ben_graham(img, sigma=2.0, circle=None)
    assert (masked[0, 0] == 128).all() and (masked[59, 59] == 128).all()  # corners
    np.testing.assert_array_equal(masked[20:40, 20:40], full[20:40, 20:40])  # centre kept


def test_load_fundus_crops_squares_and_resizes(tmp_path):
    img = _disc(90, 300, cy=45, cx=200, r=60)  # disc cut at the top and bottom, off centre
    Image.fromarray(img).save(tmp_path / "eye.png")
    out = load_fundus(tmp_path / "eye.png", size=64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # The disc (121 px wide) now spans the square's width; top and bottom strips stay black.
    assert (out[32, 2] > 100).any() and (out[32, 61] > 100).any()
    assert (out[2, 32] == 0).all() and (out[61, 32] == 0).all()
    assert (out[0, 0] == 0).all()
    bg = load_fundus(tmp_path / "eye.png", size=64, ben_graham=True)
    assert bg.shape == (64, 64, 3) and (bg[0, 0] == 128).all()


def test_load_fundus_bad_files(tmp_path):
    with pytest.raises(DlfError, match=r"nope\.png: image not found"):
        load_fundus(tmp_path / "nope.png", 32)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DlfError, match=r"bad\.png: not a readable image"):
        load_fundus(tmp_path / "bad.png", 32)
