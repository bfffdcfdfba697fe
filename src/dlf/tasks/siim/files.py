"""The SIIM-ACR competition files: label CSVs, nested DICOM folders, the submission.

    dicom-images-train/<study>/<series>/<ImageId>.dcm    (the same for dicom-images-test)
    train-rle.csv        ImageId, EncodedPixels          (yes, a space after the comma)
                         <id>, -1                        no pneumothorax
                         <id>, 175349 7 1013 12 ...      one row per instance; their union is the mask
    submission.csv       ImageId,EncodedPixels           one row per test image, -1 when empty

Readers check everything a person could get wrong (header, ids, RLE syntax) and name the
file and line; RLEs are kept as strings and decoded later, image by image.
"""

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from dlf.core import DlfError
from dlf.data.image import read_dicom as read_dicom_hwc
from dlf.data.table import Row, check_id, read_table, unique_ids, write_table
from dlf.tasks.siim.rle import EMPTY, rle_runs

HEADER = ("ImageId", "EncodedPixels")


def read_train_rle(
    csv_path: str | Path, height: int = 1024, width: int = 1024
) -> dict[str, list[str]]:
    """`train-rle.csv` -> {ImageId: [RLE of each instance]}; an image without one maps to []."""
    labels: dict[str, list[str]] = {}
    for row, rle in _read_rows(csv_path, height * width):
        instances = labels.setdefault(row["ImageId"], [])
        if rle != EMPTY:  # a -1 row adds nothing to the union
            instances.append(rle)
    return labels


def read_submission(csv_path: str | Path, height: int = 1024, width: int = 1024) -> dict[str, str]:
    """A submission-style CSV -> {ImageId: RLE}; one row per image, `-1` for empty."""
    rows = _read_rows(csv_path, height * width)
    by_id = unique_ids((r for r, _ in rows), "ImageId", csv_path, what="image")
    return {image_id: rle for image_id, (_, rle) in zip(by_id, rows)}


def write_submission(path: str | Path, rows: Iterable[tuple[str, str]]) -> None:
    """Write `ImageId,EncodedPixels` with one row per image (`-1`, or "", for an empty mask)."""
    out, seen = [], set()
    for image_id, rle in rows:
        check_id(image_id, f"{path}: row for {image_id!r}", "ImageId")
        if image_id in seen:
            raise DlfError(f"{path}: ImageId {image_id} given twice; a submission has one row each")
        seen.add(image_id)
        rle = rle.strip() or EMPTY
        rle_runs(rle, 2**62, f"{path}: RLE for {image_id}")  # syntax only; size is unknown here
        out.append((image_id, rle))
    write_table(path, HEADER, out)


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


def _read_rows(csv_path: str | Path, n_pixels: int) -> list[tuple[Row, str]]:
    """(row, stripped RLE) for each data row, every field checked."""
    _, rows = read_table(csv_path, HEADER, allow_empty=True)
    out = []
    for row in rows:
        check_id(row["ImageId"], f"{csv_path} line {row.line}", "ImageId")
        rle = row["EncodedPixels"] or EMPTY
        rle_runs(rle, n_pixels, f"{csv_path} line {row.line}")
        out.append((row, rle))
    return out
