"""Recursion Cellular Image Classification (RxRx1): the competition's files, read strictly.

The layout Kaggle ships (and `synth_recursion` writes):

    train.csv            id_code,experiment,plate,well,sirna            siRNA 0-1107
    train_controls.csv   id_code,experiment,plate,well,sirna,well_type  siRNA 1108-1138
    test.csv             id_code,experiment,plate,well
    test_controls.csv    id_code,experiment,plate,well,sirna,well_type
    train/<experiment>/Plate<p>/<well>_s<site>_w<channel>.png   (test/... alike)

id_code is `<experiment>_<plate>_<well>` (e.g. `HEPG2-01_1_B03`); a well has two sites (s1,
s2), each six single-channel 8-bit PNGs (w1..w6, 512 x 512 in the real data). A submission is
`id_code,sirna`, one row per test.csv well. Every problem is one `DlfError` line naming the
file, the line and what to do.
"""

import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlf.core import DlfError
from dlf.data.image import read_image
from dlf.data.table import Row, align, read_table, unique_ids, write_table

N_SIRNAS = 1108  # treatment classes 0..1107, the only answers a submission may give
N_CLASSES = 1139  # plus the 31 controls 1108..1138 (1138 is the negative control)
CHANNELS = 6
SITES = (1, 2)
PLATES = (1, 2, 3, 4)
CELL_TYPES = ("HEPG2", "HUVEC", "RPE", "U2OS")

WELL_COLUMNS = ("id_code", "experiment", "plate", "well")
TRAIN_HEADER = (*WELL_COLUMNS, "sirna")
TEST_HEADER = WELL_COLUMNS
CONTROL_HEADER = (*WELL_COLUMNS, "sirna", "well_type")
SUBMISSION_HEADER = ("id_code", "sirna")
WELL_TYPES = ("negative_control", "positive_control")

_EXPERIMENT = re.compile(r"([A-Z0-9]+)-(\d+)")
_WELL = re.compile(
    r"[B-O](0[2-9]|1[0-9]|2[0-3])"
)  # rows B-O, columns 2-23 (the plate's edge is empty)


@dataclass(frozen=True)
class Well:
    """One well: where it is, its siRNA (None for test.csv wells) and whether it is a control."""

    id_code: str
    experiment: str
    plate: int
    well: str
    sirna: int | None = None
    control: bool = False

    @property
    def cell_type(self) -> str:
        return self.experiment.split("-")[0]

    def site_files(self, folder: Path, split: str, site: int) -> list[Path]:
        """The six channel PNGs of one site, w1..w6."""
        base = Path(folder) / split / self.experiment / f"Plate{self.plate}"
        return [base / f"{self.well}_s{site}_w{c}.png" for c in range(1, CHANNELS + 1)]


def _well(row: Row, path: Path, sirna: int | None, control: bool) -> Well:
    where = row.where(path)
    exp, plate, well = row["experiment"], row["plate"], row["well"]
    if not _EXPERIMENT.fullmatch(exp):
        raise DlfError(
            f"{where}: experiment {exp!r} is not CELLTYPE-NN (e.g. HEPG2-01); fix the row"
        )
    if plate not in {str(p) for p in PLATES}:
        raise DlfError(f"{where}: plate {plate!r} is not one of 1-4; fix the row")
    if not _WELL.fullmatch(well):
        raise DlfError(f"{where}: well {well!r} is not B02..O23; fix the row")
    expected = f"{exp}_{plate}_{well}"
    if row["id_code"] != expected:
        raise DlfError(
            f"{where}: id_code {row['id_code']!r} does not match experiment/plate/well "
            f"({expected!r}); fix the id_code or the columns"
        )
    return Well(expected, exp, int(plate), well, sirna, control)


def _sirna(row: Row, path: Path, lo: int, hi: int, column: str = "sirna") -> int:
    value = row[column]
    if not re.fullmatch(r"\d+", value) or not lo <= int(value) <= hi:
        raise DlfError(
            f"{row.where(path)}: {column} {value!r} is not an integer in {lo}..{hi}; fix the row"
        )
    return int(value)


def read_wells(path: str | os.PathLike, kind: str) -> list[Well]:
    """One of the competition's well tables, checked, in file order.

    kind: "train" (train.csv), "test" (test.csv) or "controls" (train_/test_controls.csv)."""
    path = Path(path)
    header = {"train": TRAIN_HEADER, "test": TEST_HEADER, "controls": CONTROL_HEADER}[kind]
    _, rows = read_table(path, header, missing_hint="pass the competition's data folder as --data")
    unique_ids(rows, "id_code", path, what="well")  # a well listed twice is an error
    wells = []
    for row in rows:
        if kind == "train":
            wells.append(_well(row, path, _sirna(row, path, 0, N_SIRNAS - 1), False))
        elif kind == "test":
            wells.append(_well(row, path, None, False))
        else:
            if row["well_type"] not in WELL_TYPES:
                raise DlfError(
                    f"{row.where(path)}: well_type {row['well_type']!r} is not one of "
                    f"{', '.join(WELL_TYPES)}; fix the row"
                )
            wells.append(_well(row, path, _sirna(row, path, N_SIRNAS, N_CLASSES - 1), True))
    return wells


def read_split(folder: str | os.PathLike, split: str) -> list[Well]:
    """`split`.csv then `split`_controls.csv (optional) of a data folder: every well of that
    split, controls last. A well in both files is an error."""
    folder = Path(folder)
    wells = read_wells(folder / f"{split}.csv", split)
    controls_path = folder / f"{split}_controls.csv"
    if controls_path.is_file():
        seen = {w.id_code for w in wells}
        controls = read_wells(controls_path, "controls")
        for w in controls:
            if w.id_code in seen:
                raise DlfError(
                    f"{controls_path}: well {w.id_code} is also in {split}.csv; a well is "
                    "either a treatment or a control, keep it in one file"
                )
        wells += controls
    return wells


def read_site(files: Sequence[Path]) -> np.ndarray:
    """Six single-channel PNGs -> one H x W x 6 uint8 image; a missing file, a file that is
    not one 8-bit channel, or one of another size than w1 is named in the error."""
    planes = []
    for f in files:
        if not os.path.isfile(f):
            raise DlfError(f"{f}: channel image not found; every site needs w1..w6")
        arr = read_image(f)
        if arr.ndim != 3 or arr.shape[-1] != 1 or arr.dtype != np.uint8:
            raise DlfError(f"{f}: expected one 8-bit channel, got {arr.dtype} {arr.shape}")
        if planes and arr.shape[:2] != planes[0].shape:
            raise DlfError(
                f"{f}: {arr.shape[1]}x{arr.shape[0]} px, but {Path(files[0]).name} of the same "
                f"site is {planes[0].shape[1]}x{planes[0].shape[0]}; all six channels of a site "
                "must have one size"
            )
        planes.append(arr[..., 0])
    return np.stack(planes, axis=-1)


def read_submission(path: str | os.PathLike) -> dict[str, int]:
    """A submission `id_code,sirna` (or an answer key in train.csv's layout): {id_code: sirna}."""
    path = Path(path)
    _, rows = read_table(path, SUBMISSION_HEADER, TRAIN_HEADER)
    out = {}
    for id_code, row in unique_ids(rows, "id_code", path, what="test well").items():
        out[id_code] = _sirna(row, path, 0, N_SIRNAS - 1)
    return out


def write_submission(
    path: str | os.PathLike, id_codes: Sequence[str], sirnas: Iterable[int]
) -> Path:
    """`id_code,sirna`, one row per well in the given (test.csv) order, written atomically."""
    sirnas = [int(s) for s in sirnas]
    if len(sirnas) != len(id_codes):
        raise DlfError(f"{path}: {len(sirnas)} predictions for {len(id_codes)} test wells")
    return write_table(path, SUBMISSION_HEADER, zip(id_codes, sirnas))


def accuracy_of_files(truth: str | os.PathLike, pred: str | os.PathLike) -> float:
    """The competition's metric: the share of test wells whose siRNA is right. The submission
    must have exactly the answer key's wells."""
    t, p = read_submission(truth), read_submission(pred)
    keys = align(t, p, truth, pred, column="id_code", what="test well")
    return sum(t[k] == p[k] for k in keys) / len(keys)


__all__ = [
    "CELL_TYPES",
    "CHANNELS",
    "N_CLASSES",
    "N_SIRNAS",
    "PLATES",
    "SITES",
    "Well",
    "accuracy_of_files",
    "read_site",
    "read_split",
    "read_submission",
    "read_wells",
    "write_submission",
]
