"""Competition tables (CSV files): one strict reader, one id check, one truth/prediction
alignment and one atomic writer, for every task.

Every problem is one `DlfError` line that names the file, the line (the header is line 1)
with its text, and what to do. A BOM (Excel's UTF-8 export) and blank lines (a trailing
newline, say) are harmless; spaces around fields are stripped, so SIIM's
`ImageId, EncodedPixels` header reads like `ImageId,EncodedPixels`.
"""

import csv
import io
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError

# Ids become file names: a plain name only, never one that could step outside a folder.
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


@dataclass(frozen=True)
class Row:
    """One data row: its line number, its stripped fields by column name, its text."""

    line: int
    fields: dict[str, str]
    text: str

    def __getitem__(self, column: str) -> str:
        return self.fields[column]

    def where(self, path: str | os.PathLike) -> str:
        """'FILE line N ('text')': the start of an error message about this row."""
        return f"{path} line {self.line} ({self.text!r})"


def read_table(
    path: str | os.PathLike,
    header: Sequence[str],
    *alternatives: Sequence[str],
    allow_empty: bool = False,
    missing_hint: str = "check the path",
) -> tuple[tuple[str, ...], list[Row]]:
    """The header found (`header` or one of the `alternatives`, e.g. a competition file
    that circulates in two layouts) and the data rows, every row with that many fields."""
    path = Path(path)
    accepted = [tuple(header), *(tuple(a) for a in alternatives)]
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DlfError(f"{path}: file not found; {missing_hint}") from None
    except IsADirectoryError:
        raise DlfError(f"{path}: is a folder, expected a CSV file") from None
    except UnicodeDecodeError as e:
        raise DlfError(f"{path}: not a readable UTF-8 CSV ({e}); re-export it as CSV") from None
    reader = csv.reader(io.StringIO(text))
    try:
        first = next(reader, None)
        if first is None:
            raise DlfError(
                f"{path}: the file is empty; expected a header line {','.join(header)!r} "
                "followed by the rows"
            )
        found = tuple(c.strip() for c in first)
        if found not in accepted:
            layouts = " or ".join(repr(",".join(h)) for h in accepted)
            raise DlfError(
                f"{path} line 1: header has columns {list(found)}, expected {list(header)}; "
                f"make the first line exactly {layouts}"
            )
        rows = []
        for fields in reader:
            if not any(c.strip() for c in fields):
                continue
            line = ",".join(fields)
            if len(fields) != len(found):
                raise DlfError(
                    f"{path} line {reader.line_num} ({line!r}): {len(fields)} fields, expected "
                    f"{len(found)} ({','.join(found)}); fix the row"
                )
            values = dict(zip(found, map(str.strip, fields)))
            rows.append(Row(reader.line_num, values, line))
    except csv.Error as e:
        raise DlfError(f"{path}: not a readable CSV ({e}); re-export it as CSV") from None
    if not rows and not allow_empty:
        raise DlfError(f"{path}: a header but no rows; expected one row per item")
    return found, rows


def check_id(value: str, where: str, column: str = "id") -> str:
    """`value` if it is a plain file name (it becomes part of a path), else one error line."""
    if not _PLAIN_ID.fullmatch(value) or ".." in value:
        raise DlfError(
            f"{where}: {column} {value!r} is not a plain file name (letters, digits, '_', '-', "
            "'.'; no path separator, no '..'); fix the id"
        )
    return value


def unique_ids(
    rows: Iterable[Row], column: str, path: str | os.PathLike, what: str = "item"
) -> dict[str, Row]:
    """{id: row} in file order; each id checked, a repeated id is an error naming both lines."""
    seen: dict[str, Row] = {}
    for row in rows:
        key = check_id(row[column], row.where(path), column)
        if key in seen:
            raise DlfError(
                f"{row.where(path)}: {column} {key!r} repeats line {seen[key].line}; "
                f"keep one row per {what}"
            )
        seen[key] = row
    return seen


def align(
    truth: dict, pred: dict, truth_path: str | os.PathLike, pred_path: str | os.PathLike,
    column: str = "id", what: str = "test item",
) -> list:  # fmt: skip
    """The keys of `truth` in its order, after checking that `pred` has exactly those keys:
    a submission scored against an answer key must have one row for each, and no other."""
    missing = [k for k in truth if k not in pred]
    if missing:
        raise DlfError(
            f"{pred_path}: {len(missing)} {column}(s) of {truth_path} have no row, e.g. "
            f"{missing[0]!r}; write one row per {what}"
        )
    extra = [k for k in pred if k not in truth]
    if extra:
        raise DlfError(
            f"{pred_path}: {len(extra)} {column}(s) are not in {truth_path}, e.g. {extra[0]!r}; "
            "score the submission against the answer key of the same test set"
        )
    return list(truth)


def write_table(
    path: str | os.PathLike, header: Sequence[str], rows: Iterable[Sequence[object]]
) -> Path:
    """Write a CSV atomically (a temporary file, then a rename): a reader never sees half a
    file, and a write that fails leaves the previous file whole."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        if len(row) != len(header):
            raise ValueError(f"{path}: a row of {len(row)} fields for {len(header)} columns")
        writer.writerow(row)
    atomic_write_text(path, out.getvalue())
    return Path(path)


__all__ = ["Row", "align", "check_id", "read_table", "unique_ids", "write_table"]
