"""Readers against the arrays written with Pillow / pydicom (the reference is what we wrote)."""

import numpy as np
import pytest
from PIL import Image

from dlf.core import DlfError
from dlf.data.image import read_image, read_stack, resize, to_uint8


def rgb(h=8, w=10, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_png_rgb_and_gray_8bit_roundtrip(tmp_path, write_png):
    a = rgb()
    assert np.array_equal(read_image(write_png(tmp_path / "a.png", a)), a)
    g = a[..., 0]
    out = read_image(write_png(tmp_path / "g.png", g))
    assert out.shape == (8, 10, 1) and out.dtype == np.uint8 and np.array_equal(out[..., 0], g)


def test_png_16bit_keeps_full_range(tmp_path, write_png):
    a = np.random.default_rng(1).integers(0, 65536, (6, 7), dtype=np.uint16)
    out = read_image(write_png(tmp_path / "a.png", a))
    assert out.dtype == np.uint16 and np.array_equal(out[..., 0], a)
    # reference: round(v * 255 / 65535) in float64
    assert np.array_equal(to_uint8(out)[..., 0], np.rint(a / 65535 * 255).astype(np.uint8))


def test_jpeg_reads_close_to_source(tmp_path):
    a = np.full((16, 16, 3), (200, 50, 90), np.uint8)
    Image.fromarray(a).save(tmp_path / "a.jpg", quality=95)
    out = read_image(tmp_path / "a.jpg")
    assert out.shape == (16, 16, 3) and np.abs(out.astype(int) - a).max() <= 3


def test_stack_single_channel_files(tmp_path, write_png):
    planes = [rgb(seed=s)[..., 0] for s in range(4)]
    paths = [write_png(tmp_path / f"c{i}.png", p) for i, p in enumerate(planes)]
    assert np.array_equal(read_stack(paths), np.stack(planes, -1))
    write_png(tmp_path / "small.png", planes[0][:4])
    with pytest.raises(DlfError, match="differ in size"):
        read_stack([paths[0], tmp_path / "small.png"])


def _dicom(path, pixels=None):
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = (
        meta.MediaStorageSOPClassUID,
        meta.MediaStorageSOPInstanceUID,
    )
    if pixels is not None:
        ds.Rows, ds.Columns = pixels.shape
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_dicom_pixels_and_missing_pixel_data(tmp_path):
    px = np.random.default_rng(2).integers(0, 4096, (5, 6)).astype(np.uint16)
    out = read_image(_dicom(tmp_path / "a.dcm", px))
    assert out.shape == (5, 6, 1) and np.array_equal(out[..., 0], px)
    # min-max scaling for non-8/16-bit-range data is checked on a float copy
    u8 = to_uint8(out.astype(np.int32))
    assert u8.min() == 0 and u8.max() == 255
    with pytest.raises(DlfError, match="no pixel data"):
        read_image(_dicom(tmp_path / "empty.dcm"))


@pytest.mark.parametrize("content", [b"", b"not an image at all", "truncated"])
def test_bad_files_raise_dlf_error_naming_the_file(tmp_path, write_png, content):
    p = tmp_path / "bad.png"
    if content == "truncated":
        write_png(p, rgb(64, 64))
        p.write_bytes(p.read_bytes()[:100])
    else:
        p.write_bytes(content)
    with pytest.raises(DlfError, match=r"bad\.png"):
        read_image(p)
    with pytest.raises(DlfError, match=r"bad\.dcm"):
        (tmp_path / "bad.dcm").write_bytes(b"garbage" if content else b"")
        read_image(tmp_path / "bad.dcm")


def test_missing_file(tmp_path):
    with pytest.raises(DlfError, match="not found"):
        read_image(tmp_path / "nope.png")


def test_resize_matches_pillow_and_nearest_keeps_labels():
    a = rgb(20, 30)
    ref = np.asarray(Image.fromarray(a).resize((15, 10), Image.Resampling.BILINEAR))
    assert np.array_equal(resize(a, (10, 15)), ref)
    m = np.random.default_rng(3).integers(0, 3, (20, 30, 1)).astype(np.uint8)
    assert set(np.unique(resize(m, (7, 9), nearest=True))) <= {0, 1, 2}
