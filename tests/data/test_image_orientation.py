"""EXIF Orientation: `read_oriented` shows the picture a viewer shows, the other readers keep
the stored pixels.

Reference: the EXIF 2.3 definition of tag 0x0112, which says where the stored image's first
row and first column end up in the displayed picture, written here as numpy index
operations on the stored pixels (not Pillow's transpose, which is what we test):
  1 row 0 top,    col 0 left     as stored
  2 row 0 top,    col 0 right    mirrored left-right
  3 row 0 bottom, col 0 right    turned 180 degrees
  4 row 0 bottom, col 0 left     mirrored top-bottom
  5 row 0 left,   col 0 top      transposed
  6 row 0 right,  col 0 top      turned 90 degrees clockwise
  7 row 0 right,  col 0 bottom   transposed across the other diagonal
  8 row 0 left,   col 0 bottom   turned 90 degrees counter-clockwise
"""

import numpy as np
import pytest
from PIL import Image

from dlf.data.image import (
    channel_count,
    header_channels,
    oriented_size,
    read_image,
    read_oriented,
    read_pillow,
)

DISPLAYED = {  # stored pixels -> displayed picture, from the table above
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: a.transpose(1, 0, 2)[:, ::-1],
    7: lambda a: a.transpose(1, 0, 2)[::-1, ::-1],
    8: lambda a: a.transpose(1, 0, 2)[::-1, :],
}


def picture(h=48, w=80) -> np.ndarray:
    """Four flat quadrants of distinct colours (JPEG keeps flat 8x8 blocks nearly exact), so
    any turn or mirror moves a colour to another corner."""
    a = np.zeros((h, w, 3), np.uint8)
    a[: h // 2, : w // 2] = (230, 30, 30)
    a[: h // 2, w // 2 :] = (30, 220, 30)
    a[h // 2 :, : w // 2] = (30, 30, 230)
    a[h // 2 :, w // 2 :] = (240, 240, 40)
    return a


def write_jpeg(path, stored: np.ndarray, orientation: int):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=95, subsampling=0, exif=exif.tobytes())
    return path


def stored_for(displayed: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels that display as `displayed`: every operation of the table undoes
    itself except the two quarter turns, which undo each other."""
    undo = {6: 8, 8: 6}.get(orientation, orientation)
    stored = np.ascontiguousarray(DISPLAYED[undo](displayed))
    assert np.array_equal(DISPLAYED[orientation](stored), displayed)
    return stored


@pytest.mark.parametrize("orientation", range(1, 9))
def test_read_oriented_turns_each_orientation_as_exif_defines_it(tmp_path, orientation):
    want = picture()
    path = write_jpeg(tmp_path / "a.jpg", stored_for(want, orientation), orientation)
    stored = read_pillow(path)  # what is in the file, decoded
    shown = read_oriented(path)
    # exact: the same decoded pixels, moved as the table says
    assert np.array_equal(shown, DISPLAYED[orientation](stored))
    # and that is the picture we meant (JPEG: close, the quadrants are flat)
    assert shown.shape == want.shape
    assert np.abs(shown.astype(int) - want).mean() < 2
    assert oriented_size(path) == (want.shape[1], want.shape[0])
    # the other readers keep the stored pixels, as before
    assert np.array_equal(read_image(path), stored)
    if orientation in (5, 6, 7, 8):
        assert stored.shape[:2] == want.shape[1::-1]


def test_without_a_tag_nothing_turns_and_gray_stays_gray(tmp_path):
    a = picture()[..., :1].copy()
    Image.fromarray(a[..., 0]).save(tmp_path / "g.jpg", quality=95)
    out = read_oriented(tmp_path / "g.jpg")
    assert out.shape == a.shape and np.array_equal(out, read_pillow(tmp_path / "g.jpg"))
    assert oriented_size(tmp_path / "g.jpg") == (80, 48)
    gray = write_jpeg(tmp_path / "g6.jpg", np.repeat(a, 3, -1)[..., 0], 6)
    assert read_oriented(gray).shape == (80, 48, 1)
    # the channel count is still decided from headers alone for this reader
    assert header_channels([tmp_path / "g.jpg", gray], read_oriented) == 1
    assert channel_count([gray]) == 1
