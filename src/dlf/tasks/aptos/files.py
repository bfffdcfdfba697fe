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

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dlf.core import DlfError, atomic_write_text

GRADES = (0, 1, 2, 3, 4)  # 0 no DR, 1 mild, 2 moderate, 3 severe, 4 proliferative
LABEL_HEADER = ("id_code", "diagnosis")
TEST_HEADER = ("id_code",)

# Real ids are 12 hex digits; we accept any plain name, but never one that could be a path.
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


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
    rows = [",".join(LABEL_HEADER)] + [f"{i},{g}" for i, g in zip(id_codes, grades)]
    atomic_write_text(path, "\n".join(rows) + "\n")


def paired_labels(
    truth_csv: str | os.PathLike, pred_csv: str | os.PathLike
) -> tuple[list[int], list[int]]:
    """Grades of an answer key and a submission, aligned by id; both must list the same ids."""
    truth, pred = read_labels(truth_csv), read_labels(pred_csv)
    missing = [i for i in truth if i not in pred]
    if missing:
        raise DlfError(
            f"{pred_csv}: {len(missing)} id_code(s) of {truth_csv} have no row, e.g. "
            f"{missing[0]!r}; write one row per test image"
        )
    extra = [i for i in pred if i not in truth]
    if extra:
        raise DlfError(
            f"{pred_csv}: {len(extra)} id_code(s) are not in {truth_csv}, e.g. {extra[0]!r}; "
            "score the submission against the answer key of the same test set"
        )
    return list(truth.values()), [pred[i] for i in truth]


# ---- the checks behind the readers ------------------------------------------------------


def _read_rows(path: Path, header: tuple[str, ...]) -> list[tuple[str, int | None, int]]:
    """(id_code, grade or None, line number) of each data row, every row checked."""
    rows, seen = [], {}
    for line_no, fields, text in _csv_rows(path, header):
        id_code = _check_id(path, line_no, text, fields[0], seen)
        grade = _check_grade(path, line_no, text, fields[1]) if len(fields) > 1 else None
        seen[id_code] = line_no
        rows.append((id_code, grade, line_no))
    return rows


def _csv_rows(path: Path, header: tuple[str, ...]):
    """Yield (line number, fields, line text) of the data rows after checking the header."""
    if not path.is_file():
        raise DlfError(f"{path}: file not found; check the path")
    with open(path, newline="", encoding="utf-8-sig") as f:  # a BOM from Excel is harmless
        reader = csv.reader(f)
        try:
            first = next(reader, None)
            if first is None:
                raise DlfError(
                    f"{path}: the file is empty; expected a header line {','.join(header)!r} "
                    "followed by one row per image"
                )
            found = tuple(c.strip() for c in first)
            if found != header:
                raise DlfError(
                    f"{path} line 1: header has columns {list(found)}, expected "
                    f"{list(header)}; make the first line exactly {','.join(header)!r}"
                )
            n_rows = 0
            for row in reader:
                if not any(c.strip() for c in row):
                    continue  # blank lines (a trailing newline, say) carry nothing
                text = ",".join(row)
                if len(row) != len(header):
                    raise DlfError(
                        f"{path} line {reader.line_num} ({text!r}): {len(row)} fields, expected "
                        f"{len(header)} ({','.join(header)}); fix the row"
                    )
                n_rows += 1
                yield reader.line_num, [c.strip() for c in row], text
        except (UnicodeDecodeError, csv.Error) as e:
            raise DlfError(f"{path}: not a readable UTF-8 CSV ({e}); re-export it as CSV") from None
    if n_rows == 0:
        raise DlfError(f"{path}: a header but no rows; expected one row per image")


def _check_id(path, line_no: int, text: str, id_code: str, seen: dict[str, int]) -> str:
    if not _PLAIN_ID.fullmatch(id_code) or ".." in id_code:
        raise DlfError(
            f"{path} line {line_no} ({text!r}): id_code {id_code!r} is not a plain file name "
            "(letters, digits, '_', '-', '.'; no path separator, no '..'); fix the id"
        )
    if id_code in seen:
        raise DlfError(
            f"{path} line {line_no} ({text!r}): id_code {id_code!r} repeats line "
            f"{seen[id_code]}; keep one row per image"
        )
    return id_code


def _check_grade(path, line_no: int, text: str, value: str) -> int:
    try:
        grade = int(value)
    except ValueError:
        grade = None
    if grade not in GRADES:
        raise DlfError(
            f"{path} line {line_no} ({text!r}): diagnosis {value!r} is not an integer grade "
            "0-4; fix the row"
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
