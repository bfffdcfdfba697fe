"""The Open Images 2019 Visual Relationship Detection files, read into numpy columns.

- `challenge-2019-{train,validation}-vrd.csv`: one relationship triplet per row,
  `ImageID,LabelName1,LabelName2,XMin1,XMax1,YMin1,YMax1,XMin2,XMax2,YMin2,YMax2,RelationshipLabel`
  (note the column order: both X, then both Y). `is` rows give an attribute as LabelName2
  and the same box twice.
- `challenge-2019-{train,validation}-vrd-labels.csv`: the verified image-level labels,
  `ImageID,LabelName,Confidence`.
- the description files (no header): `LabelName,DisplayName` for the 57 classes, the 5
  attributes and the 10 relationships.
- `challenge-2019-relationship-triplets.csv`: the 329 allowed
  `LabelName1,LabelName2,RelationshipLabel`.
- the submission, `ImageId,PredictionString`, where a PredictionString repeats
  `Confidence LabelName1 XMin1 YMin1 XMax1 YMax1 LabelName2 XMin2 YMin2 XMax2 YMax2
  RelationshipLabel` (here X and Y alternate, unlike the CSV).

Triplets are columns (`Triplets`): coded labels and image indices, float32 boxes
`xmin, ymin, xmax, ymax`, so ten million predicted triplets stay a few hundred MB and the
metric works on whole arrays. Every bad row is one `DlfError` naming the file and line.
"""

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from dlf.core.atomic import atomic_write
from dlf.core.errors import DlfError
from dlf.data.table import check_id, read_table

# The challenge's 10 relationships, in the order of challenge-2019-relationships-description.csv;
# a triplet's `relation` column indexes this tuple.
RELATIONSHIPS = (
    "at", "on", "holds", "plays", "interacts_with", "wears", "is", "inside_of", "under", "hits",
)  # fmt: skip
RELATION_INDEX = {name: i for i, name in enumerate(RELATIONSHIPS)}
IS = RELATION_INDEX["is"]

VRD_HEADER = (
    "ImageID", "LabelName1", "LabelName2", "XMin1", "XMax1", "YMin1", "YMax1",
    "XMin2", "XMax2", "YMin2", "YMax2", "RelationshipLabel",
)  # fmt: skip
LABELS_HEADER = ("ImageID", "LabelName", "Confidence")
TRIPLETS_HEADER = ("LabelName1", "LabelName2", "RelationshipLabel")
SUBMISSION_HEADER = ("ImageId", "PredictionString")
PREDICTION_FORMAT = (
    "Confidence LabelName1 XMin1 YMin1 XMax1 YMax1 LabelName2 XMin2 YMin2 XMax2 YMax2 "
    "RelationshipLabel"
)
# Positions of the numbers in one 12-value prediction: confidence, then box 1, then box 2.
_NUMBER_FIELDS = [0, 2, 3, 4, 5, 7, 8, 9, 10]
_CHUNK_TOKENS = 1_200_000  # the submission reader converts this many values at a time


@dataclass(frozen=True, eq=False)
class Triplets:
    """Relationship triplets as columns: truth (confidence None) or predictions.

    `image_ids` lists every image of the file (a submission row with an empty
    PredictionString is an image with no triplet); `image`, `label1`, `label2` and
    `relation` are per-triplet indices into `image_ids`, `label_names` and RELATIONSHIPS;
    `box1`/`box2` are float32 `xmin, ymin, xmax, ymax` in [0, 1]; `skipped` counts rows a
    reader skipped (disallowed triplets, when asked to skip them).
    """

    image_ids: np.ndarray
    image: np.ndarray
    label_names: np.ndarray
    label1: np.ndarray
    label2: np.ndarray
    relation: np.ndarray
    box1: np.ndarray
    box2: np.ndarray
    confidence: np.ndarray | None = None
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.image)

    @classmethod
    def build(
        cls,
        image: Sequence[str],
        label1: Sequence[str],
        label2: Sequence[str],
        relation: Sequence[str],
        box1: np.ndarray,
        box2: np.ndarray,
        confidence: np.ndarray | None = None,
        all_images: Iterable[str] = (),
    ) -> "Triplets":
        """Triplets from per-triplet strings and (N, 4) `xmin, ymin, xmax, ymax` boxes;
        `all_images` adds images that have no triplet (a submission's empty rows)."""
        image_ids, image_codes = _encode(list(all_images) + list(image))
        image_codes = image_codes[len(image_codes) - len(image) :]
        label_names, labels = _encode(list(label1) + list(label2))
        unknown = sorted(set(relation) - set(RELATION_INDEX))
        if unknown:
            raise ValueError(
                f"unknown relationship {unknown[0]!r}; expected one of {RELATIONSHIPS}"
            )
        n = len(image)
        return cls(
            image_ids=image_ids,
            image=image_codes.astype(np.int32),
            label_names=label_names,
            label1=labels[:n].astype(np.int32),
            label2=labels[n:].astype(np.int32),
            relation=np.array([RELATION_INDEX[r] for r in relation], np.int8).reshape(n),
            box1=np.asarray(box1, np.float32).reshape(n, 4),
            box2=np.asarray(box2, np.float32).reshape(n, 4),
            confidence=None if confidence is None else np.asarray(confidence, np.float64),
        )

    def take(self, index: np.ndarray) -> "Triplets":
        """A subset (or reordering) of the triplets; the images and label names stay."""
        conf = None if self.confidence is None else self.confidence[index]
        return replace(
            self, image=self.image[index], label1=self.label1[index], label2=self.label2[index],
            relation=self.relation[index], box1=self.box1[index], box2=self.box2[index],
            confidence=conf,
        )  # fmt: skip


@dataclass(frozen=True, eq=False)
class ImageLabels:
    """The image-level labels file as columns, one entry per row (strings, and Confidence)."""

    image: np.ndarray
    label: np.ndarray
    confidence: np.ndarray


def read_vrd(
    path: str | os.PathLike,
    allowed: set[tuple[str, str, str]] | None = None,
    skip_disallowed: bool = False,
) -> Triplets:
    """A `challenge-2019-*-vrd.csv` file (truth or training triplets). With `allowed`
    (read_allowed_triplets), a triplet outside it is an error naming its line, or, with
    `skip_disallowed`, is dropped and counted in `.skipped`."""
    path = Path(path)
    _, rows = read_table(path, VRD_HEADER, missing_hint="check the path to the VRD csv")
    lines = np.array([r.line for r in rows])
    for r in rows:
        check_id(r["ImageID"], r.where(path), "ImageID")
    col = {name: [r.fields[name] for r in rows] for name in VRD_HEADER}
    coords = _numbers(
        [col[c] for c in ("XMin1", "YMin1", "XMax1", "YMax1", "XMin2", "YMin2", "XMax2", "YMax2")],
        lambda i: f"{path} line {lines[i]}",
    )
    _check_boxes(coords[:, :4], coords[:, 4:], path, lines)
    box1, box2 = coords[:, :4].astype(np.float32), coords[:, 4:].astype(np.float32)
    relation = _relations(col["RelationshipLabel"], lambda i: f"{path} line {lines[i]}")
    differ = (relation == IS) & (box1 != box2).any(axis=1)
    if differ.any():
        i = int(np.argmax(differ))
        raise DlfError(
            f"{path} line {lines[i]}: an 'is' row whose two boxes differ (an attribute "
            "describes one box, so box 1 and box 2 must be the same); fix the row"
        )
    keep = np.ones(len(rows), bool)
    if allowed is not None:
        keep = np.array(
            [
                t in allowed
                for t in zip(col["LabelName1"], col["LabelName2"], col["RelationshipLabel"])
            ]
        )
        if not keep.all() and not skip_disallowed:
            i = int(np.argmin(keep))
            raise DlfError(
                f"{path} line {lines[i]}: triplet ({col['LabelName1'][i]}, {col['LabelName2'][i]}, "
                f"{col['RelationshipLabel'][i]}) is not in the allowed triplets; fix the row or "
                "choose to skip such rows (skip_disallowed)"
            )
    image_ids, image = _encode(col["ImageID"])
    label_names, labels = _encode(col["LabelName1"] + col["LabelName2"])
    n = len(rows)
    triplets = Triplets(
        image_ids=image_ids,
        image=image.astype(np.int32),
        label_names=label_names,
        label1=labels[:n].astype(np.int32),
        label2=labels[n:].astype(np.int32),
        relation=relation,
        box1=box1,
        box2=box2,
    )
    if keep.all():
        return triplets
    return replace(triplets.take(np.flatnonzero(keep)), skipped=int((~keep).sum()))


def read_image_labels(path: str | os.PathLike) -> ImageLabels:
    """A `*-vrd-labels.csv` file of verified image-level labels."""
    path = Path(path)
    _, rows = read_table(path, LABELS_HEADER, missing_hint="check the path to the labels csv")
    confidence = _numbers([[r["Confidence"] for r in rows]], lambda i: rows[i].where(path))[:, 0]
    return ImageLabels(
        image=np.array([check_id(r["ImageID"], r.where(path), "ImageID") for r in rows]),
        label=np.array([r["LabelName"] for r in rows]),
        confidence=confidence.astype(np.float64),
    )


def read_descriptions(path: str | os.PathLike) -> dict[str, str]:
    """A description file without a header (classes, attributes or relationships):
    {LabelName: DisplayName} in file order."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DlfError(f"{path}: file not found; check the path to the description csv") from None
    names: dict[str, str] = {}
    for line, fields in enumerate(csv.reader(text.splitlines()), start=1):
        if not any(f.strip() for f in fields):
            continue
        if len(fields) != 2:
            raise DlfError(
                f"{path} line {line} ({','.join(fields)!r}): {len(fields)} fields, expected 2 "
                "(LabelName,DisplayName, no header); fix the row"
            )
        names[fields[0].strip()] = fields[1].strip()
    if not names:
        raise DlfError(f"{path}: no rows; expected LabelName,DisplayName lines")
    return names


def read_allowed_triplets(path: str | os.PathLike) -> set[tuple[str, str, str]]:
    """`challenge-2019-relationship-triplets.csv`: the allowed (LabelName1, LabelName2,
    RelationshipLabel) triplets."""
    path = Path(path)
    _, rows = read_table(path, TRIPLETS_HEADER, missing_hint="check the path to the triplets csv")
    _relations([r["RelationshipLabel"] for r in rows], lambda i: rows[i].where(path))
    return {(r["LabelName1"], r["LabelName2"], r["RelationshipLabel"]) for r in rows}


def read_submission(path: str | os.PathLike) -> Triplets:
    """A submission, streamed (the test set's is about a GB): one row per image, the
    PredictionString holding 12 values per triplet (PREDICTION_FORMAT), possibly none."""
    path = Path(path)
    try:
        f = open(path, encoding="utf-8-sig", newline="")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise DlfError(f"{path}: file not found; check the path to the submission") from None
    except IsADirectoryError:
        raise DlfError(f"{path}: is a folder, expected a submission CSV file") from None
    with f:
        reader = csv.reader(f)
        try:
            header = tuple(c.strip() for c in next(reader, ()))
            if header not in (SUBMISSION_HEADER, ("ImageID", "PredictionString")):
                raise DlfError(
                    f"{path} line 1: header has columns {list(header)}, expected "
                    f"{list(SUBMISSION_HEADER)}; make the first line exactly "
                    f"{','.join(SUBMISSION_HEADER)!r}"
                )
            return _read_predictions(path, reader)
        except csv.Error as e:
            raise DlfError(f"{path}: not a readable CSV ({e}); re-export it as CSV") from None
        except UnicodeDecodeError as e:
            raise DlfError(f"{path}: not readable UTF-8 ({e}); re-export it as CSV") from None


def _read_predictions(path: Path, reader) -> Triplets:
    """The rows after the header: ids and token counts row by row, the values converted a
    chunk at a time (one numpy call per column), so memory stays bounded."""
    image_row: dict[str, int] = {}  # id -> its line, to name a repeat
    label_vocab: dict[str, int] = {}
    parts: list[tuple[np.ndarray, ...]] = []
    tokens: list[str] = []
    counts: list[int] = []
    lines: list[int] = []
    for fields in reader:
        if not any(c.strip() for c in fields):
            continue
        line = reader.line_num
        if len(fields) != 2:
            raise DlfError(
                f"{path} line {line}: {len(fields)} fields, expected 2 (ImageId,PredictionString); "
                "fix the row"
            )
        image_id = check_id(fields[0].strip(), f"{path} line {line}", "ImageId")
        if image_id in image_row:
            raise DlfError(
                f"{path} line {line}: ImageId {image_id!r} repeats line {image_row[image_id]}; "
                "write one row per image with all its triplets"
            )
        image_row[image_id] = line
        values = fields[1].split()
        if len(values) % 12:
            raise DlfError(
                f"{path} line {line}: the PredictionString has {len(values)} values, not a "
                f"multiple of 12 ({PREDICTION_FORMAT}, repeated); fix the row"
            )
        tokens += values
        counts.append(len(values) // 12)
        lines.append(line)
        if len(tokens) >= _CHUNK_TOKENS:
            parts.append(_convert_chunk(path, tokens, counts, lines, label_vocab))
            tokens, counts, lines = [], [], []
    if tokens or counts or not parts:
        parts.append(_convert_chunk(path, tokens, counts, lines, label_vocab))
    if not image_row:
        raise DlfError(f"{path}: a header but no rows; expected one row per test image")
    number, label1, label2, relation, counts_per_row = (np.concatenate(c) for c in zip(*parts))
    image = np.repeat(np.arange(len(image_row), dtype=np.int32), counts_per_row)
    return Triplets(
        image_ids=np.array(list(image_row)),
        image=image,
        label_names=np.array(list(label_vocab), dtype=str),  # in order of their codes
        label1=label1,
        label2=label2,
        relation=relation,
        box1=number[:, 1:5].astype(np.float32),
        box2=number[:, 5:9].astype(np.float32),
        confidence=number[:, 0].copy(),
    )


def _convert_chunk(
    path: Path, tokens: list[str], counts: list[int], lines: list[int], label_vocab: dict[str, int]
) -> tuple[np.ndarray, ...]:
    """(numbers (n, 9): confidence and both boxes, label1, label2, relation, triplets per row)
    for one chunk of rows; a bad value names its row's line."""
    triplet_line = np.repeat(np.asarray(lines, dtype=np.int64), counts)

    def where(i: int) -> str:
        return f"{path} line {triplet_line[i]}"

    # Field k of every triplet is tokens[k::12]: plain list slices, no per-token object.
    number = _numbers([tokens[k::12] for k in _NUMBER_FIELDS], where)
    bad = ~np.isfinite(number[:, 0])
    if bad.any():
        i = int(np.argmax(bad))
        raise DlfError(
            f"{where(i)}: confidence {tokens[12 * i]!r} is not a finite number; fix the row"
        )
    _check_boxes(number[:, 1:5], number[:, 5:9], path, triplet_line)
    relation = _relations(tokens[11::12], where)
    label1 = [label_vocab.setdefault(t, len(label_vocab)) for t in tokens[1::12]]
    label2 = [label_vocab.setdefault(t, len(label_vocab)) for t in tokens[6::12]]
    return (
        number,
        np.array(label1, np.int32),
        np.array(label2, np.int32),
        relation,
        np.asarray(counts, np.int64),
    )


def write_submission(path: str | os.PathLike, predictions: Triplets) -> Path:
    """Write a submission atomically: one row per image of `predictions.image_ids` (in that
    order, an image without triplets gets an empty PredictionString), its triplets in
    decreasing confidence. Confidences are written exactly (repr), coordinates to 6
    decimals like the competition's own files."""
    if predictions.confidence is None:
        raise ValueError("predictions need a confidence per triplet")
    path = Path(path)
    order = np.lexsort((-predictions.confidence, predictions.image))
    starts = np.searchsorted(predictions.image[order], np.arange(len(predictions.image_ids) + 1))
    names = predictions.label_names
    with atomic_write(path, "w", encoding="utf-8") as f:
        f.write(",".join(SUBMISSION_HEADER) + "\n")
        for i, image_id in enumerate(predictions.image_ids.tolist()):
            rows = order[starts[i] : starts[i + 1]]
            parts = [
                f"{c!r} {names[a]} {b1[0]:.6f} {b1[1]:.6f} {b1[2]:.6f} {b1[3]:.6f} "
                f"{names[b]} {b2[0]:.6f} {b2[1]:.6f} {b2[2]:.6f} {b2[3]:.6f} {RELATIONSHIPS[r]}"
                for c, a, b, r, b1, b2 in zip(
                    predictions.confidence[rows].tolist(),
                    predictions.label1[rows].tolist(),
                    predictions.label2[rows].tolist(),
                    predictions.relation[rows].tolist(),
                    predictions.box1[rows].tolist(),
                    predictions.box2[rows].tolist(),
                )
            ]
            f.write(f"{image_id},{' '.join(parts)}\n")
    return path


def _encode(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(the distinct strings in order of first appearance, each string's index)."""
    vocab: dict[str, int] = {}
    codes = np.fromiter((vocab.setdefault(s, len(vocab)) for s in strings), np.int64, len(strings))
    return np.array(list(vocab), dtype=str), codes


def _numbers(columns: list[list[str]], where) -> np.ndarray:
    """(n, len(columns)) float64 from text columns; a value that is not a number is an
    error naming `where(row)`."""
    out = np.empty((len(columns[0]) if columns else 0, len(columns)), np.float64)
    for j, column in enumerate(columns):
        try:
            out[:, j] = np.array(column, dtype=np.float64)
        except ValueError:
            for i, text in enumerate(column):
                try:
                    float(text)
                except ValueError:
                    raise DlfError(f"{where(i)}: {text!r} is not a number; fix the row") from None
            raise
    return out


def _check_boxes(box1: np.ndarray, box2: np.ndarray, path: Path, lines: np.ndarray) -> None:
    """Coordinates in [0, 1] (fractions of the image size) and min <= max, or one line."""
    boxes = np.concatenate([box1, box2], axis=1)
    outside = ~((boxes >= 0) & (boxes <= 1)).all(axis=1)  # NaN is outside too
    if outside.any():
        i = int(np.argmax(outside))
        raise DlfError(
            f"{path} line {lines[i]}: box coordinates {boxes[i].tolist()} outside [0, 1]; "
            "coordinates are fractions of the image width and height"
        )
    inverted = (boxes[:, [0, 1, 4, 5]] > boxes[:, [2, 3, 6, 7]]).any(axis=1)
    if inverted.any():
        i = int(np.argmax(inverted))
        raise DlfError(
            f"{path} line {lines[i]}: a box whose min is above its max ({boxes[i].tolist()} as "
            "xmin, ymin, xmax, ymax for box 1 then box 2); fix the row"
        )


def _relations(names: list[str], where) -> np.ndarray:
    """Relationship names as indices into RELATIONSHIPS; an unknown one names its row."""
    try:
        return np.array([RELATION_INDEX[n] for n in names], np.int8)
    except KeyError as e:
        i = names.index(e.args[0])
        raise DlfError(
            f"{where(i)}: unknown relationship label {names[i]!r}; expected one of "
            f"{', '.join(RELATIONSHIPS)}"
        ) from None


__all__ = [
    "LABELS_HEADER",
    "PREDICTION_FORMAT",
    "RELATIONSHIPS",
    "SUBMISSION_HEADER",
    "TRIPLETS_HEADER",
    "VRD_HEADER",
    "ImageLabels",
    "Triplets",
    "read_allowed_triplets",
    "read_descriptions",
    "read_image_labels",
    "read_submission",
    "read_vrd",
    "write_submission",
]
