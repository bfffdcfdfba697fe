"""APTOS 2019 Blindness Detection: the competition's real files, read strictly, written exactly.

The layout Kaggle ships (and `synth_aptos` writes):

    train.csv               id_code,diagnosis      grades 0-4
    test.csv                id_code
    sample_submission.csv   id_code,diagnosis
    train_images/<id_code>.png
    test_images/<id_code>.png

Every problem with these files is a `DlfError` whose one line names the file, the line
(the header is line 1) with its text, and what to do. An id_code becomes part of a path,
so it must be a plain file name: no separator and no `..` can lead outside the data folder.
"""

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dlf.core import DlfError
from dlf.data.table import Row, align, read_table, unique_ids, write_table

GRADES = (0, 1, 2, 3, 4)  # 0 no DR, 1 mild, 2 moderate, 3 severe, 4 proliferative
LABEL_HEADER = ("id_code", "diagnosis")
TEST_HEADER = ("id_code",)


@dataclass(frozen=True)
class AptosItem:
    """One fundus photograph: its id, its PNG, and its grade (None for test images)."""

    id_code: str
    path: Path
    diagnosis: int | None = None


def read_labels(csv_path: str | os.PathLike) -> dict[str, int]:
    """Read a `id_code,diagnosis` file (train.csv, a submission, an answer key), in file order."""
    return {id_code: grade for id_code, grade, _ in _read_rows(Path(csv_path), LABEL_HEADER)}


def read_train(folder: str | os.PathLike) -> list[AptosItem]:
    """train.csv + train_images/ -> items with grades; every listed image must exist."""
    return _read_split(Path(folder), "train", LABEL_HEADER)


def read_test(folder: str | os.PathLike) -> list[AptosItem]:
    """test.csv + test_images/ -> items without grades, in test.csv order."""
    return _read_split(Path(folder), "test", TEST_HEADER)


def _read_split(folder: Path, split: str, header: tuple[str, ...]) -> list[AptosItem]:
    csv_path = _need(folder / f"{split}.csv")
    rows = _read_rows(csv_path, header)
    images = _need_dir(folder / f"{split}_images")
    present = set(os.listdir(images))  # one listing beats thousands of stat calls
    for id_code, _, line_no in rows:
        if f"{id_code}.png" not in present:
            raise DlfError(
                f"{csv_path} line {line_no}: image {images / (id_code + '.png')} not found; "
                "add the image or remove the row"
            )
    return [AptosItem(i, images / f"{i}.png", g) for i, g, _ in rows]


def write_submission(
    path: str | os.PathLike, id_codes: Sequence[str], grades: Iterable[int]
) -> None:
    """Write `id_code,diagnosis`, one row per id in the given (test.csv) order, atomically."""
    grades = [int(g) for g in grades]
    if len(grades) != len(id_codes):
        raise ValueError(f"{len(id_codes)} id_codes but {len(grades)} grades")
    if len(set(id_codes)) != len(id_codes):
        raise ValueError("id_codes repeat; a submission has one row per test image")
    bad = [g for g in grades if g not in GRADES]
    if bad:
        raise ValueError(f"grades must be integers 0-4, got {bad[:5]}")
    write_table(path, LABEL_HEADER, zip(id_codes, grades))


def paired_labels(
    truth_csv: str | os.PathLike, pred_csv: str | os.PathLike
) -> tuple[list[int], list[int]]:
    """Grades of an answer key and a submission, aligned by id; both must list the same ids."""
    truth, pred = read_labels(truth_csv), read_labels(pred_csv)
    ids = align(truth, pred, truth_csv, pred_csv, column="id_code", what="test image")
    return [truth[i] for i in ids], [pred[i] for i in ids]


# ---- the checks behind the readers ------------------------------------------------------


def _read_rows(path: Path, header: tuple[str, ...]) -> list[tuple[str, int | None, int]]:
    """(id_code, grade or None, line number) of each data row, every row checked."""
    _, rows = read_table(path, header)
    by_id = unique_ids(rows, "id_code", path, what="image")
    return [
        (i, _check_grade(path, r) if "diagnosis" in r.fields else None, r.line)
        for i, r in by_id.items()
    ]


def _check_grade(path: Path, row: Row) -> int:
    value = row["diagnosis"]
    try:
        grade = int(value)
    except ValueError:
        grade = None
    if grade not in GRADES:
        raise DlfError(
            f"{row.where(path)}: diagnosis {value!r} is not an integer grade 0-4; fix the row"
        )
    return grade


def _need(path: Path) -> Path:
    if not path.is_file():
        raise DlfError(
            f"{path}: file not found; point --data at the APTOS folder (train.csv, test.csv, "
            "train_images/, test_images/) or write one with `dlf synth aptos DIR`"
        )
    return path


def _need_dir(path: Path) -> Path:
    if not path.is_dir():
        raise DlfError(f"{path}: folder not found; it must hold one <id_code>.png per CSV row")
    return path
