"""The Open Images 2019 detection files, read into numpy columns.

    challenge-2019-classes-description-500.csv   no header: LabelName,DisplayName
    challenge-2019-label500-hierarchy.json       nested {"LabelName", "Subcategory": [...]}
    *-detection-bbox.csv     ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,
                             IsOccluded,IsTruncated,IsGroupOf,IsDepiction,IsInside
                             or ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf
    *-human-imagelabels.csv  ImageID,Source,LabelName,Confidence   (1 present, 0 absent)
    submission.csv           ImageId,PredictionString
                             PredictionString: "LabelName Confidence XMin YMin XMax YMax" repeated
                             (note: the box CSVs order XMin,XMax,YMin,YMax; submissions do not)

Boxes are float64 (N, 4) in **xmin, ymin, xmax, ymax** order, normalised to [0, 1];
labels are indices into the class list's file order. Every problem a person can make is
one DlfError line naming the file and line. Submissions of ~2 million detections parse in
a few seconds: one `split` per row, then whole-column numpy conversions.
"""

import csv
import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.table import Row, check_id, read_table, unique_ids
from dlf.tasks.oid.hierarchy import Hierarchy

__all__ = [
    "BOX_HEADER",
    "BOX_HEADER_SHORT",
    "LABEL_HEADER",
    "SUBMISSION_HEADER",
    "Boxes",
    "Detections",
    "ImageLabels",
    "read_boxes",
    "read_classes",
    "read_hierarchy",
    "read_image_labels",
    "read_submission",
    "write_submission",
]

BOX_HEADER = (
    "ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
    "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside",
)  # fmt: skip
BOX_HEADER_SHORT = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")
LABEL_HEADER = ("ImageID", "Source", "LabelName", "Confidence")
SUBMISSION_HEADER = ("ImageId", "PredictionString")


@dataclass(frozen=True)
class Boxes:
    """Ground-truth boxes, one entry per CSV row in file order."""

    image_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64, index into the class list
    boxes: np.ndarray  # (N, 4) float64, xmin, ymin, xmax, ymax
    group_of: np.ndarray  # (N,) int8: 1, 0 (or -1 as the file says: read as group-of)
    occluded: np.ndarray  # (N,) int8; -1 where the layout lacks the column
    truncated: np.ndarray  # (N,) int8; -1 where the layout lacks the column
    lines: np.ndarray  # (N,) int64, the CSV line of each row (header = line 1)

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class ImageLabels:
    """Human-verified image-level labels: confidence 1 present, 0 verified absent."""

    image_ids: np.ndarray  # (N,) str
    labels: np.ndarray  # (N,) int64
    confidence: np.ndarray  # (N,) int8, 0 or 1
    lines: np.ndarray  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Detections:
    """Predictions: `image_ids` one per image (submission rows), and per detection the
    index of its image, its class index, score and box (xmin, ymin, xmax, ymax). Within an
    image the detections keep their submission order (it decides ties, as officially)."""

    image_ids: np.ndarray  # (M,) str
    image: np.ndarray  # (N,) int64 index into image_ids
    labels: np.ndarray  # (N,) int64
    scores: np.ndarray  # (N,) float64
    boxes: np.ndarray  # (N, 4) float64

    def __len__(self) -> int:
        return len(self.labels)

    @classmethod
    def from_lists(cls, image_ids: Sequence[str], dets: Sequence[tuple]) -> "Detections":
        """From per-image `(labels (k,), scores (k,), boxes (k, 4) xmin,ymin,xmax,ymax)`."""
        counts = [len(np.asarray(d[0]).reshape(-1)) for d in dets]
        if len(dets) != len(image_ids):
            raise ValueError(f"{len(image_ids)} image ids for {len(dets)} detection lists")

        def cat(i: int, shape: tuple, dtype) -> np.ndarray:
            parts = [np.asarray(d[i], dtype=dtype).reshape(shape) for d in dets]
            return np.concatenate(parts) if parts else np.zeros((0, *shape[1:]), dtype)

        return cls(
            image_ids=np.asarray(list(image_ids), dtype=str),
            image=np.repeat(np.arange(len(dets), dtype=np.int64), counts),
            labels=cat(0, (-1,), np.int64),
            scores=cat(1, (-1,), np.float64),
            boxes=cat(2, (-1, 4), np.float64),
        )


def read_classes(path: str | os.PathLike) -> dict[str, str]:
    """`LabelName,DisplayName` rows (no header) -> {LabelName: DisplayName}, file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DlfError(f"{path}: file not found; give the class description CSV") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise DlfError(f"{path}: not a readable CSV file ({e})") from None
    classes: dict[str, str] = {}
    reader = csv.reader(io.StringIO(text))
    for fields in reader:
        if not any(f.strip() for f in fields):
            continue
        line = reader.line_num
        where = f"{path} line {line} ({','.join(fields)!r})"
        if len(fields) != 2 or not fields[0].strip():
            raise DlfError(
                f"{where}: expected 2 fields LabelName,DisplayName (no header line); fix the row"
            )
        name, display = fields[0].strip(), fields[1].strip()
        if line == 1 and (name, display) == ("LabelName", "DisplayName"):
            continue  # a header someone added: harmless
        if name in classes:
            raise DlfError(f"{where}: LabelName {name} is listed twice; keep one row per class")
        classes[name] = display
    if not classes:
        raise DlfError(f"{path}: no classes; expected rows LabelName,DisplayName")
    return classes


def read_hierarchy(path: str | os.PathLike, classes: Sequence[str] | dict) -> Hierarchy:
    """The hierarchy JSON -> `Hierarchy` over `classes` (LabelNames, in class order). See
    `Hierarchy.from_tree` for what is refused; a label under two parents is allowed (its
    ancestor sets are united, as the official code does)."""
    path = Path(path)
    try:
        tree = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise DlfError(f"{path}: file not found; give the hierarchy JSON") from None
    except json.JSONDecodeError as e:
        raise DlfError(f"{path} line {e.lineno}: not valid JSON ({e.msg}); fix the file") from None
    except (IsADirectoryError, UnicodeDecodeError) as e:
        raise DlfError(f"{path}: not a readable JSON file ({e})") from None
    index = {name: i for i, name in enumerate(classes)}
    return Hierarchy.from_tree(tree, index, str(path))


def read_boxes(path: str | os.PathLike, classes: Sequence[str] | dict) -> Boxes:
    """A box CSV in either layout (13 or 7 columns) -> `Boxes`. Refused: a coordinate
    outside [0, 1] or not a number, XMin > XMax or YMin > YMax, an unknown LabelName,
    a flag other than -1/0/1, an ImageID that is not a plain file name."""
    header, rows = read_table(path, BOX_HEADER, BOX_HEADER_SHORT, allow_empty=True)
    index = {name: i for i, name in enumerate(classes)}
    image_ids = _image_ids(rows, "ImageID", path)
    labels = _labels(rows, "LabelName", index, path)
    xmin, xmax, ymin, ymax = (_floats(rows, c, path) for c in ("XMin", "XMax", "YMin", "YMax"))
    boxes = np.stack([xmin, ymin, xmax, ymax], axis=1).reshape(-1, 4)
    bad = np.flatnonzero(~((boxes >= 0) & (boxes <= 1)).all(axis=1))
    if len(bad):
        raise DlfError(
            f"{rows[bad[0]].where(path)}: a coordinate outside [0, 1]; coordinates are "
            "fractions of the image width and height"
        )
    for lo, hi, axis in ((xmin, xmax, "X"), (ymin, ymax, "Y")):
        bad = np.flatnonzero(lo > hi)
        if len(bad):
            raise DlfError(
                f"{rows[bad[0]].where(path)}: {axis}Min > {axis}Max; the columns are "
                "XMin,XMax,YMin,YMax in that order"
            )

    def flag(column: str) -> np.ndarray:
        if column not in header:
            return np.full(len(rows), -1, dtype=np.int8)
        return _flags(rows, column, path)

    return Boxes(
        image_ids=image_ids,
        labels=labels,
        boxes=boxes,
        group_of=flag("IsGroupOf"),
        occluded=flag("IsOccluded"),
        truncated=flag("IsTruncated"),
        lines=np.array([r.line for r in rows], dtype=np.int64),
    )


def read_image_labels(path: str | os.PathLike, classes: Sequence[str] | dict) -> ImageLabels:
    """`ImageID,Source,LabelName,Confidence` -> `ImageLabels`; confidence must be 0 or 1."""
    _, rows = read_table(path, LABEL_HEADER, allow_empty=True)
    index = {name: i for i, name in enumerate(classes)}
    confidence = _floats(rows, "Confidence", path)
    bad = np.flatnonzero((confidence != 0) & (confidence != 1))
    if len(bad):
        raise DlfError(
            f"{rows[bad[0]].where(path)}: Confidence must be 1 (verified present) or 0 "
            "(verified absent)"
        )
    return ImageLabels(
        image_ids=_image_ids(rows, "ImageID", path),
        labels=_labels(rows, "LabelName", index, path),
        confidence=confidence.astype(np.int8),
        lines=np.array([r.line for r in rows], dtype=np.int64),
    )


def read_submission(path: str | os.PathLike, classes: Sequence[str] | dict) -> Detections:
    """`ImageId,PredictionString` -> `Detections` (one row per image; an empty string is an
    image without detections). Refused: a string whose token count is not a multiple of 6,
    an unknown LabelName, a number that is not finite, a repeated ImageId."""
    _, rows = read_table(path, SUBMISSION_HEADER)
    image_ids = np.array(list(unique_ids(rows, "ImageId", path, what="image")), dtype=str)
    index = {name: i for i, name in enumerate(classes)}
    names: list[str] = []
    numbers: list[str] = []  # score, xmin, ymin, xmax, ymax of each detection in turn
    counts = np.zeros(len(rows), dtype=np.int64)
    for i, row in enumerate(rows):
        tokens = row.fields["PredictionString"].split()
        if len(tokens) % 6:
            raise DlfError(
                f"{path} line {row.line} (ImageId {row['ImageId']}): PredictionString has "
                f"{len(tokens)} values, not a multiple of 6; each detection is 'LabelName "
                "Confidence XMin YMin XMax YMax'"
            )
        counts[i] = len(tokens) // 6
        names.extend(tokens[0::6])
        del tokens[0::6]  # what is left are the numbers, five per detection
        numbers.extend(tokens)
    image = np.repeat(np.arange(len(rows), dtype=np.int64), counts)
    try:
        labels = np.array([index[n] for n in names], dtype=np.int64)
    except KeyError as e:
        at = _row_of(image, names.index(e.args[0]), rows)
        raise DlfError(
            f"{path} line {at.line} (ImageId {at['ImageId']}): unknown LabelName "
            f"{e.args[0]!r}, not in the class list; use the challenge's LabelNames (/m/...)"
        ) from None
    try:
        values = np.array(numbers, dtype=np.float64)
    except ValueError:
        bad = next(j for j, t in enumerate(numbers) if not _is_float(t))
        at = _row_of(image, bad // 5, rows)
        raise DlfError(
            f"{path} line {at.line} (ImageId {at['ImageId']}): {numbers[bad]!r} is not a "
            "number; each detection is 'LabelName Confidence XMin YMin XMax YMax'"
        ) from None
    values = values.reshape(-1, 5)
    bad = np.flatnonzero(~np.isfinite(values).all(axis=1))
    if len(bad):
        at = _row_of(image, bad[0], rows)
        nth = bad[0] + 1 - int(np.searchsorted(image, image[bad[0]]))
        raise DlfError(
            f"{path} line {at.line} (ImageId {at['ImageId']}): detection {nth} has a value "
            "that is not a finite number; write plain decimals"
        )
    return Detections(
        image_ids=image_ids,
        image=image,
        labels=labels,
        scores=values[:, 0].copy(),
        boxes=values[:, 1:].copy(),
    )


def write_submission(
    path: str | os.PathLike,
    image_ids: Sequence[str],
    dets: Sequence[tuple],
    classes: Sequence[str] | dict,
) -> Path:
    """Write `ImageId,PredictionString` atomically, one row per image. `dets[i]` is
    `(labels (k,) class indices, scores (k,), boxes (k, 4) xmin,ymin,xmax,ymax)` for
    `image_ids[i]`; an image without detections gets an empty string. Scores and
    coordinates are written with 6 significant digits."""
    names = list(classes)
    if len(dets) != len(image_ids):
        raise ValueError(f"{len(image_ids)} image ids for {len(dets)} detection lists")
    seen: set[str] = set()
    out = io.StringIO()
    out.write(",".join(SUBMISSION_HEADER) + "\n")
    for image_id, (labels, scores, boxes) in zip(image_ids, dets):
        check_id(image_id, f"{path}: row for {image_id!r}", "ImageId")
        if image_id in seen:
            raise DlfError(f"{path}: ImageId {image_id} given twice; a submission has one row each")
        seen.add(image_id)
        labels = np.asarray(labels, dtype=np.int64).reshape(-1)
        table = np.column_stack(
            [np.asarray(scores, dtype=np.float64).reshape(-1, 1),
             np.asarray(boxes, dtype=np.float64).reshape(-1, 4)]
        )  # fmt: skip
        if len(labels) != len(table):
            raise ValueError(f"{image_id}: {len(labels)} labels for {len(table)} scores/boxes")
        parts = [
            f"{names[c]} {s:.6g} {x0:.6g} {y0:.6g} {x1:.6g} {y1:.6g}"
            for c, (s, x0, y0, x1, y1) in zip(labels.tolist(), table.tolist())
        ]
        out.write(f"{image_id},{' '.join(parts)}\n")
    atomic_write_text(path, out.getvalue())
    return Path(path)


# --- column helpers: convert whole columns at once, find the bad row only on failure ---


def _image_ids(rows: list[Row], column: str, path) -> np.ndarray:
    ids = [r.fields[column] for r in rows]
    for value in dict.fromkeys(ids):  # each distinct id once
        try:
            check_id(value, "", column)
        except DlfError:  # only now spend the time on naming the row
            check_id(value, rows[ids.index(value)].where(path), column)
    return np.array(ids, dtype=str)


def _labels(rows: list[Row], column: str, index: dict[str, int], path) -> np.ndarray:
    try:
        return np.array([index[r.fields[column]] for r in rows], dtype=np.int64)
    except KeyError as e:
        bad = next(r for r in rows if r[column] not in index)
        raise DlfError(
            f"{bad.where(path)}: unknown {column} {e.args[0]!r}, not in the class list; use "
            "the class list that belongs to this file"
        ) from None


def _floats(rows: list[Row], column: str, path) -> np.ndarray:
    values = [r.fields[column] for r in rows]
    try:
        out = np.array(values, dtype=np.float64)
    except ValueError:
        out = None
    if out is None or not np.isfinite(out).all():
        bad = next(
            r for r in rows if not _is_float(r[column]) or not math.isfinite(float(r[column]))
        )
        raise DlfError(f"{bad.where(path)}: {column} {bad[column]!r} is not a number; fix the row")
    return out


def _flags(rows: list[Row], column: str, path) -> np.ndarray:
    values = _floats(rows, column, path)
    bad = np.flatnonzero((values != 0) & (values != 1) & (values != -1))
    if len(bad):
        raise DlfError(f"{rows[bad[0]].where(path)}: {column} must be 0, 1 or -1 (unknown)")
    return values.astype(np.int8)


def _is_float(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _row_of(image: np.ndarray, detection: int, rows: list[Row]) -> Row:
    return rows[int(image[detection])]
