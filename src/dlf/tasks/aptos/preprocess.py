"""Fundus preprocessing: crop the black border, square and resize, Ben Graham's contrast trick.

APTOS photographs come from many cameras: the fundus disc sits at different places and
sizes inside black borders, sometimes cut at the top and bottom. Cropping to the disc and
padding to a square makes every image show the eye at the same scale. Ben Graham (winner
of the 2015 diabetic-retinopathy competition) then subtracted the local average colour,
which removes the camera's colour cast and illumination and leaves the small details that
carry the grade: 4*img - 4*blur(img) + 128.

`load_fundus` is the reader for the decoded-image cache: it runs once per image.
"""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from dlf.core import DlfError


def crop_to_fundus(img: np.ndarray, tol: int = 7) -> np.ndarray:
    """The smallest box holding every pixel brighter than `tol` (grey level, 0-255).

    An image with no such pixel (all dark: a failed exposure) is returned unchanged
    rather than cropped to nothing.
    """
    grey = img if img.ndim == 2 else img.max(axis=2)  # max: a deep red fundus is not "dark"
    bright = grey > tol
    rows, cols = np.flatnonzero(bright.any(axis=1)), np.flatnonzero(bright.any(axis=0))
    if rows.size == 0:
        return img
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def pad_to_square(img: np.ndarray) -> np.ndarray:
    """Centre the image on a black square, so a disc cut at the top and bottom stays round."""
    h, w = img.shape[:2]
    side = max(h, w)
    out = np.zeros((side, side, *img.shape[2:]), dtype=img.dtype)
    top, left = (side - h) // 2, (side - w) // 2
    out[top : top + h, left : left + w] = img
    return out


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """Exact separable Gaussian blur (float32), kernel cut at 4 sigma, edges mirrored.

    Pillow's GaussianBlur is a three-pass box approximation that is off by up to ~20 grey
    levels, and Ben Graham's formula multiplies that error by 4, so we convolve ourselves:
    one weighted sum of shifted copies per kernel tap, first down the rows, then across.
    """
    radius = int(4 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = (taps / taps.sum()).astype(np.float32)
    out = img.astype(np.float32)
    for axis in (0, 1):
        pad = [(0, 0)] * out.ndim
        pad[axis] = (radius, radius)
        padded = np.pad(out, pad, mode="symmetric")
        n = out.shape[axis]
        out = sum(w * np.take(padded, np.arange(k, k + n), axis=axis) for k, w in enumerate(taps))
    return out


def ben_graham(
    img: np.ndarray, sigma: float | None = None, circle: float | None = 0.9
) -> np.ndarray:
    """Ben Graham's local-average subtraction: clip(4*img - 4*blur(img, sigma) + 128), uint8.

    `sigma` defaults to a 60th of the image width (his 10 px at a 300 px disc radius).
    `circle` keeps a centred disc of that fraction of the half-width and paints the rest
    grey (128), hiding the bright ring the blur leaves at the disc's edge; None keeps all.
    """
    h, w = img.shape[:2]
    sigma = sigma if sigma is not None else max(w, h) / 60
    out = 4 * img.astype(np.float32) - 4 * gaussian_blur(img, sigma) + 128
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    if circle is not None:
        y, x = np.ogrid[:h, :w]
        r = circle * max(h, w) / 2
        outside = (y - (h - 1) / 2) ** 2 + (x - (w - 1) / 2) ** 2 > r * r
        out[outside] = 128
    return out


def load_fundus(
    path: str | os.PathLike, size: int, ben_graham: bool = False, tol: int = 7
) -> np.ndarray:
    """Read a fundus photograph as uint8 (size, size, 3): crop to the disc, square, resize."""
    try:
        if os.path.getsize(path) == 0:  # Pillow would only say "cannot identify image file"
            raise DlfError(f"{path}: file is empty (0 bytes); replace or remove it")
        with Image.open(path) as im:
            img = np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise DlfError(f"{path}: image not found; check the data folder") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise DlfError(f"{path}: not a readable image ({e}); replace or remove it") from None
    square = pad_to_square(crop_to_fundus(img, tol))
    resized = Image.fromarray(square).resize((size, size), Image.Resampling.BILINEAR)
    out = np.asarray(resized)
    return _ben_graham(out) if ben_graham else np.ascontiguousarray(out)


_ben_graham = ben_graham  # the flag argument of load_fundus shadows the function's name
