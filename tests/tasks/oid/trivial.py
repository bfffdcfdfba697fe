"""The trivial rule a detector must beat by far: for every class verified present in an
image (an image-level label with Confidence 1), one box covering the whole image.

It reads the answer key's image labels, so it knows which classes are there; it only
does not know where. A dataset on which this scores well would not need a detector.
"""

import csv
from collections.abc import Iterable
from pathlib import Path

import numpy as np


def verified_present(
    images: Path | str | Iterable[str], labels: Path | str
) -> dict[str, list[str]]:
    """{ImageID: LabelNames verified present (Confidence 1)}, images sorted by id.

    images: a folder of <ImageID>.jpg, or the ImageIDs themselves."""
    if isinstance(images, str | Path):
        ids = sorted(p.stem for p in Path(images).glob("*.jpg"))
    else:
        ids = sorted(images)
    present: dict[str, list[str]] = {i: [] for i in ids}
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            if row["ImageID"] in present and float(row["Confidence"]) == 1:
                present[row["ImageID"]].append(row["LabelName"])
    return present


def trivial_submission(images: Path | str | Iterable[str], labels: Path | str) -> list[list[str]]:
    """Submission rows [ImageId, PredictionString], one per image (sorted by id).

    images: a folder of <ImageID>.jpg, or the ImageIDs themselves.
    labels: a human-imagelabels CSV (ImageID,Source,LabelName,Confidence).
    PredictionString: `LabelName Confidence XMin YMin XMax YMax` per detection (the
    submission's order, not the CSV's), here `LABEL 1.0 0.0 0.0 1.0 1.0`.
    """
    present = verified_present(images, labels)
    return [
        [i, " ".join(f"{label} 1.0 0.0 0.0 1.0 1.0" for label in sorted(labels_))]
        for i, labels_ in present.items()
    ]


def prior_boxes_submission(
    images: Path | str | Iterable[str], labels: Path | str, train_boxes: Path | str, k: int = 30
) -> list[list[str]]:
    """A stronger rule that still learns nothing from pixels: for every class verified
    present in an image, the `k` training boxes of that class nearest its typical box
    (median centre and size), each as a guess, the most typical first. It knows which
    classes are there (from the answer key) and where such objects usually are (from the
    training boxes), only not where they are in this image."""
    per_class: dict[str, list[tuple[float, ...]]] = {}
    with open(train_boxes, newline="") as f:
        for row in csv.DictReader(f):
            box = tuple(float(row[c]) for c in ("XMin", "YMin", "XMax", "YMax"))
            per_class.setdefault(row["LabelName"], []).append(box)
    guesses: dict[str, str] = {}
    for label, boxes in per_class.items():
        b = np.array(boxes)
        shape = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2,
                          b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)  # fmt: skip
        typical = np.median(shape, 0)
        nearest = np.argsort(np.abs(shape - typical).sum(1), kind="stable")[:k]
        guesses[label] = " ".join(
            f"{label} {1 - j / (k + 1):.4f} {x1:.6f} {y1:.6f} {x2:.6f} {y2:.6f}"
            for j, (x1, y1, x2, y2) in enumerate(b[nearest])
        )
    present = verified_present(images, labels)
    return [
        [i, " ".join(guesses[c] for c in sorted(cs) if c in guesses)] for i, cs in present.items()
    ]
