"""The SIIM-ACR competition files: label CSVs, nested DICOM folders, the submission.

    dicom-images-train/<study>/<series>/<ImageId>.dcm    (the same for dicom-images-test)
    train-rle.csv        ImageId, EncodedPixels          (yes, a space after the comma)
                         <id>, -1                        no pneumothorax
                         <id>, 175349 7 1013 12 ...      one row per instance; their union is the mask
    submission.csv       ImageId,EncodedPixels           one row per test image, -1 when empty

Readers check everything a person could get wrong (header, ids, RLE syntax) and name the
file and line; RLEs are kept as strings and decoded later, image by image.
"""

import csv
import io
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dlf.core import DlfError, atomic_write_text
from dlf.data.image import read_dicom as read_dicom_hwc
from dlf.tasks.siim.rle import EMPTY, rle_runs

HEADER = ("ImageId", "EncodedPixels")


def read_train_rle(
    csv_path: str | Path, height: int = 1024, width: int = 1024
) -> dict[str, list[str]]:
    """`train-rle.csv` -> {ImageId: [RLE of each instance]}; an image without one maps to []."""
    labels: dict[str, list[str]] = {}
    for _line, image_id, rle in _read_rows(csv_path, height * width):
        instances = labels.setdefault(image_id, [])
        if rle != EMPTY:  # a -1 row adds nothing to the union
            instances.append(rle)
    return labels


def read_submission(csv_path: str | Path, height: int = 1024, width: int = 1024) -> dict[str, str]:
    """A submission-style CSV -> {ImageId: RLE}; one row per image, `-1` for empty."""
    rows: dict[str, str] = {}
    seen_at: dict[str, int] = {}
    for line, image_id, rle in _read_rows(csv_path, height * width):
        if image_id in rows:
            raise DlfError(
                f"{csv_path} line {line}: ImageId {image_id} already appeared on line "
                f"{seen_at[image_id]}; a submission has one row per image (merge the instances "
                "into one mask)"
            )
        rows[image_id], seen_at[image_id] = rle, line
    return rows


def write_submission(path: str | Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write `ImageId,EncodedPixels` with one row per image (`-1`, or "", for an empty mask)."""
    out = io.StringIO()
    out.write(",".join(HEADER) + "\n")
    seen: set[str] = set()
    for image_id, rle in rows:
        _check_id(image_id, f"{path}: row for {image_id!r}")
        if image_id in seen:
            raise DlfError(f"{path}: ImageId {image_id} given twice; a submission has one row each")
        seen.add(image_id)
        rle = rle.strip() or EMPTY
        rle_runs(rle, 2**62, f"{path}: RLE for {image_id}")  # syntax only; size is unknown here
        out.write(f"{image_id},{rle}\n")
    atomic_write_text(path, out.getvalue())


def find_dicoms(folder: str | Path) -> dict[str, Path]:
    """{ImageId: path} for every `.dcm` below `folder` (any nesting, e.g. study/series/)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DlfError(f"{folder}: no such folder; point to the dicom-images-train/test folder")
    found: dict[str, Path] = {}
    for path in sorted(folder.rglob("*.dcm")):
        if path.stem in found:
            raise DlfError(
                f"{path}: ImageId {path.stem} also at {found[path.stem]}; each ImageId must be "
                "one file"
            )
        found[path.stem] = path
    if not found:
        raise DlfError(f"{folder}: no .dcm files found below this folder")
    return found


def match_dicoms(ids: Iterable[str], dicoms: dict[str, Path], csv_path: str | Path) -> list[Path]:
    """The DICOM path of each id, in order; a missing one is an error naming it."""
    paths = []
    for image_id in ids:
        if image_id not in dicoms:
            raise DlfError(
                f"{csv_path}: ImageId {image_id} has no {image_id}.dcm in the image folder; "
                "check that the CSV and the DICOM folder belong together"
            )
        paths.append(dicoms[image_id])
    return paths


def read_dicom(path: str | Path) -> np.ndarray:
    """The pixels of a single-frame greyscale DICOM: a (H, W) uint8 or uint16 array
    (dlf.data's DICOM reader, which also flips MONOCHROME1, with the SIIM shape checks)."""
    pixels = read_dicom_hwc(path)
    if pixels.shape[-1] != 1 or pixels.dtype not in (np.uint8, np.uint16):
        raise DlfError(
            f"{path}: expected one greyscale frame of uint8/uint16, got shape {pixels.shape} "
            f"{pixels.dtype}"
        )
    return pixels[..., 0]


def _read_rows(csv_path: str | Path, n_pixels: int) -> Iterable[tuple[int, str, str]]:
    """(line number, ImageId, stripped RLE) for each data row, every field checked."""
    csv_path = Path(csv_path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DlfError(f"{csv_path}: no such file") from None
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(h.strip() for h in header) != HEADER:
        raise DlfError(
            f"{csv_path}: header has columns {header or []}, expected {list(HEADER)} "
            "(as 'ImageId, EncodedPixels' or 'ImageId,EncodedPixels')"
        )
    for row in reader:
        line = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank lines (a trailing newline, say) carry nothing
        if len(row) != 2:
            raise DlfError(
                f"{csv_path} line {line}: {len(row)} fields, expected 2 (ImageId, EncodedPixels)"
            )
        image_id, rle = row[0].strip(), row[1].strip() or EMPTY
        _check_id(image_id, f"{csv_path} line {line}")
        rle_runs(rle, n_pixels, f"{csv_path} line {line}")
        yield line, image_id, rle


def _check_id(image_id: str, where: str) -> None:
    # An ImageId becomes a file name: nothing that could step outside the image folder.
    if not image_id or "/" in image_id or "\\" in image_id or ".." in image_id:
        raise DlfError(
            f"{where}: ImageId {image_id!r} is empty or contains a path separator or '..'; "
            "an ImageId is a DICOM UID such as 1.2.276.0.7230010.3.1.4.8323329.1000.1517875165.878"
        )
