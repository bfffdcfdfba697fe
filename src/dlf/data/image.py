"""Reading images: PNG/JPEG (8 or 16 bit, gray or RGB) with Pillow, DICOM with pydicom.

Every reader returns a numpy array in HWC layout (height, width, channels), uint8 or
uint16 as stored in the file, so nothing is lost before the cache decides how to scale.
A file that cannot be read raises `DlfError` naming the file; callers that know the item
index add it (see `ImageCache`).

How many channels a dataset gets is decided once, from every file (`channel_count`): 1 when
every image is single-channel (gray, 16-bit gray, 1-bit, gray + alpha), 3 otherwise (the gray
ones are then repeated to RGB). A gray dataset stays gray because a 1-channel model is
cheaper and loses nothing: pretrained RGB stems are adapted by summing their filters
(timm's rule, see dlf.models.weights). Deciding from one file instead would let a single odd
image (the first one in sort order, say) change the whole dataset.

Orientation: a camera that was held sideways stores the pixels as the sensor saw them and
writes an EXIF Orientation tag (1-8) saying how to turn them for display. `read_image` and
`read_pillow` return the stored pixels, as they always have (masks and pixel labels of
segmentation competitions refer to those). `read_oriented` returns the picture as a viewer
shows it, which is what box annotators saw (Open Images), and `oriented_size` gives that
picture's (width, height) from the header alone.
"""

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dlf.core.errors import DlfError

DICOM_SUFFIXES = (".dcm", ".dicom")
# Pillow modes read as one channel; every other mode (RGB, RGBA, CMYK, P, ...) is read as RGB.
GRAY_MODES = ("1", "L", "LA", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
EXIF_ORIENTATION = 0x0112  # the EXIF tag number of Orientation


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file into an HWC uint8/uint16 array (DICOM by suffix, else Pillow)."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return read_dicom(path)
    return read_pillow(path)


def read_pillow(path: str | os.PathLike) -> np.ndarray:
    """PNG/JPEG/... via Pillow. Gray -> HxWx1, RGB(A) -> HxWx3; 16-bit gray stays uint16."""
    path = Path(path)
    _check_not_empty(path)
    try:
        with Image.open(path) as im:
            im.load()  # decode now: a truncated file fails here, not later
            return _pil_to_array(im)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DlfError(f"{path}: cannot read image ({e}); replace or remove the file") from e


def read_oriented(path: str | os.PathLike) -> np.ndarray:
    """`read_pillow`, turned as the EXIF Orientation tag says (the picture a viewer shows).

    Transposing never changes the mode, so the header-only channel count still holds."""
    path = Path(path)
    _check_not_empty(path)
    try:
        with Image.open(path) as im:
            im.load()
            return _pil_to_array(ImageOps.exif_transpose(im))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DlfError(f"{path}: cannot read image ({e}); replace or remove the file") from e


def oriented_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the picture `read_oriented` returns, from the header only."""
    path = Path(path)
    _check_not_empty(path)
    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(EXIF_ORIENTATION, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DlfError(f"{path}: cannot read image ({e}); replace or remove the file") from e
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)  # 5-8 turn by a quarter


def _pil_to_array(im: Image.Image) -> np.ndarray:
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit PNGs open as "I;16" (or "I" in older Pillow); values fit uint16.
        arr = np.asarray(im).astype(np.uint16)
    elif im.mode in ("L", "RGB", "F"):
        arr = np.asarray(im)  # float images ("F") are scaled by their own range later
    elif im.mode in GRAY_MODES:  # "1", "LA"
        arr = np.asarray(im.convert("L"))
    else:  # RGBA, CMYK, YCbCr, palette, ...: what a model expects is RGB
        arr = np.asarray(im.convert("RGB"))
    return arr[..., None] if arr.ndim == 2 else arr


def file_channels(path: str | os.PathLike) -> int | None:
    """The channels `read_image` will return for `path`, from the file's header only (no pixel
    decoding); None when the header cannot be read (the decode will report that file)."""
    path = Path(path)
    try:
        if path.suffix.lower() in DICOM_SUFFIXES:
            import pydicom

            ds = pydicom.dcmread(path, stop_before_pixels=True)
            return int(ds.get("SamplesPerPixel", 1))
        with Image.open(path) as im:
            return 1 if im.mode in GRAY_MODES else 3
    except Exception:  # any unreadable header: decoding it later names the file and the reason
        return None


def channel_count(items: Sequence) -> int:
    """One channel count for a whole dataset (see the module docstring for the rule).

    items: file paths, or tuples of single-channel files stacked as channels (`read_stack`).
    """
    counts: dict[int, str] = {}  # channel count -> one file that has it
    for item in items:
        if isinstance(item, str | os.PathLike):
            c = file_channels(item)
            if c is not None:
                counts.setdefault(c, str(item))
        else:
            counts.setdefault(len(item), str(next(iter(item), "")))
    if not counts:
        return 3  # nothing readable: the decode reports why; RGB is the usual model input
    if len(counts) == 1:
        return next(iter(counts))
    if set(counts) <= {1, 3}:
        return 3
    seen = ", ".join(f"{c} ({f})" for c, f in sorted(counts.items()))
    raise DlfError(f"images have different channel counts: {seen}; pass channels=... to choose")


def header_channels(items: Sequence, reader) -> int | None:
    """`channel_count(items)` when `reader` is one of dlf's readers, whose output channels the
    file headers tell without decoding; None for a reader of your own (its output decides)."""
    dlf_readers = (read_image, read_pillow, read_oriented, read_stack)
    return channel_count(items) if reader in dlf_readers else None


def read_dicom(path: str | os.PathLike) -> np.ndarray:
    """A DICOM file's pixel array as HWC (uint8/uint16, or int16 for signed CT data)."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    path = Path(path)
    _check_not_empty(path)
    try:
        ds = pydicom.dcmread(path)
    except (InvalidDicomError, OSError, EOFError, ValueError) as e:
        raise DlfError(f"{path}: not a readable DICOM file ({e}); replace or remove it") from e
    if "PixelData" not in ds:
        raise DlfError(f"{path}: the DICOM file has no pixel data; replace or remove it")
    try:
        arr = ds.pixel_array
    except Exception as e:  # pydicom raises many kinds (missing codec, bad length, ...)
        raise DlfError(f"{path}: cannot decode the DICOM pixel data ({e})") from e
    if ds.get("PhotometricInterpretation") == "MONOCHROME1" and arr.dtype.kind == "u":
        arr = np.iinfo(arr.dtype).max - arr  # MONOCHROME1 means bright is air: flip it
    if arr.ndim == 2:
        arr = arr[..., None]
    elif arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise DlfError(f"{path}: DICOM pixel array of shape {arr.shape} is not one 2-D image")
    return arr


def read_stack(paths: Sequence[str | os.PathLike]) -> np.ndarray:
    """Several single-channel files (e.g. one per fluorescence stain) as one HxWxC image."""
    planes = []
    for p in paths:
        arr = read_image(p)
        if arr.shape[-1] != 1:
            raise DlfError(f"{p}: expected a single-channel image to stack, got {arr.shape[-1]}")
        planes.append(arr[..., 0])
    shapes = {a.shape for a in planes}
    if len(shapes) != 1:
        raise DlfError(f"{paths[0]}: stacked channel files differ in size: {sorted(shapes)}")
    return np.stack(planes, axis=-1)


def to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale an image to uint8: uint16 by 255/65535, other types by their own min..max."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        # round(v * 255 / 65535) == (v + 128) // 257 exactly, without floats
        return ((arr.astype(np.uint32) + 128) // 257).astype(np.uint8)
    arr = arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.rint((arr - lo) * scale).astype(np.uint8)


def resize(arr: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    """Resize an HWC uint8 array to (height, width) with Pillow, channel by channel if needed.

    Bilinear with antialiasing for images; `nearest=True` for masks (label values survive).
    """
    h, w = size
    if arr.shape[:2] == (h, w):
        return arr
    method = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    if arr.shape[-1] == 3:
        return np.asarray(Image.fromarray(arr).resize((w, h), method))
    planes = [
        np.asarray(Image.fromarray(arr[..., c]).resize((w, h), method))
        for c in range(arr.shape[-1])
    ]
    return np.stack(planes, axis=-1)


def _check_not_empty(path: Path) -> None:
    try:
        n = path.stat().st_size
    except FileNotFoundError as e:
        raise DlfError(f"{path}: file not found; check the path or the CSV that names it") from e
    if n == 0:
        raise DlfError(f"{path}: file is empty (0 bytes); replace or remove it")
