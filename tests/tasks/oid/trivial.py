"""The trivial rule a detector must beat by far: for every class verified present in an
image (an image-level label with Confidence 1), one box covering the whole image.

It reads the answer key's image labels, so it knows which classes are there; it only
does not know where. A dataset on which this scores well would not need a detector.
"""

import csv
from collections.abc import Iterable
from pathlib import Path


def trivial_submission(images: Path | str | Iterable[str], labels: Path | str) -> list[list[str]]:
    """Submission rows [ImageId, PredictionString], one per image (sorted by id).

    images: a folder of <ImageID>.jpg, or the ImageIDs themselves.
    labels: a human-imagelabels CSV (ImageID,Source,LabelName,Confidence).
    PredictionString: `LabelName Confidence XMin YMin XMax YMax` per detection (the
    submission's order, not the CSV's), here `LABEL 1.0 0.0 0.0 1.0 1.0`.
    """
    if isinstance(images, str | Path):
        ids = sorted(p.stem for p in Path(images).glob("*.jpg"))
    else:
        ids = sorted(images)
    present: dict[str, list[str]] = {i: [] for i in ids}
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            if row["ImageID"] in present and float(row["Confidence"]) == 1:
                present[row["ImageID"]].append(row["LabelName"])
    return [
        [i, " ".join(f"{label} 1.0 0.0 0.0 1.0 1.0" for label in sorted(present[i]))] for i in ids
    ]
