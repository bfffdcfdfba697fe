"""The synthetic VRD dataset: the files read back with the task's own readers, the label ids
and triplets are the real challenge's (checked against the real files when present and
against the official label map always), every relationship is where its geometry says,
same seed gives the same bytes, and the frequency prior alone is far from perfect on it."""

import csv
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dlf.core import DlfError
from dlf.tasks.vrd.files import (
    RELATIONSHIPS,
    read_allowed_triplets,
    read_descriptions,
    read_image_labels,
    read_submission,
    read_vrd,
)
from dlf.tasks.vrd.labelmap import OFFICIAL_LABEL_IDS
from dlf.tasks.vrd.metric import vrd_score
from dlf.tasks.vrd.prior import prior_predictions, read_frequency_prior, truth_boxes
from dlf.tasks.vrd.synth import ALLOWED_TRIPLETS, ATTRIBUTES, CLASSES, FILES, synth_vrd

REAL = Path(__file__).resolve().parents[4] / "shared" / "real" / "oid-vrd-2019"
SPLITS = {
    "train": ("train_vrd", "train_labels"),
    "validation": ("validation_vrd", "validation_labels"),
    "test": ("test_vrd", "test_labels"),
}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return synth_vrd(tmp_path_factory.mktemp("vrd") / "data", n=60, n_test=12, seed=3)


def rows_of(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def boxes_of(row: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    b1 = np.array([float(row[k]) for k in ("XMin1", "YMin1", "XMax1", "YMax1")])
    b2 = np.array([float(row[k]) for k in ("XMin2", "YMin2", "XMax2", "YMax2")])
    return b1, b2


def test_files_read_back_with_the_task_readers(data):
    allowed = read_allowed_triplets(data / FILES["triplets"])
    classes = read_descriptions(data / FILES["classes"])
    attributes = read_descriptions(data / FILES["attributes"])
    relationships = read_descriptions(data / FILES["relationships"])
    assert classes == {i: name for name, i in CLASSES.items()}
    assert attributes == {i: name for name, i in ATTRIBUTES.items()}
    assert list(relationships) == list(RELATIONSHIPS)
    total = 0
    for split, (vrd_key, labels_key) in SPLITS.items():
        triplets = read_vrd(data / FILES[vrd_key], allowed=allowed)  # raises on a bad one
        labels = read_image_labels(data / FILES[labels_key])
        jpgs = sorted(p.stem for p in (data / split).glob("*.jpg"))
        assert set(triplets.image_ids.tolist()) <= set(jpgs)
        assert set(labels.image.tolist()) == set(jpgs)
        assert set(labels.label.tolist()) <= set(classes) | set(attributes)
        assert set(labels.confidence.tolist()) <= {0.0, 1.0}
        assert len(triplets) >= 2 * len(jpgs)  # several triplets per picture
        total += len(jpgs)
        for stem in jpgs[:3]:
            with Image.open(data / split / f"{stem}.jpg") as im:
                assert im.format == "JPEG" and im.mode == "RGB" and min(im.size) >= 180
    assert total == 72
    sample = read_submission(data / FILES["sample_submission"])
    assert sorted(sample.image_ids.tolist()) == sorted(p.stem for p in (data / "test").glob("*"))
    assert len(sample) == 0


def test_ids_and_triplets_are_the_real_challenges():
    # Always: the embedded ids are in the official VRD label map (labelmap.py).
    assert set(CLASSES.values()) | set(ATTRIBUTES.values()) <= set(OFFICIAL_LABEL_IDS)
    assert len(set(ALLOWED_TRIPLETS)) == len(ALLOWED_TRIPLETS)
    if not REAL.is_dir():
        pytest.skip(f"{REAL} absent")
    real_classes = read_descriptions(REAL / "challenge-2019-classes-vrd.csv")
    real_attributes = read_descriptions(REAL / "challenge-2019-attributes-description.csv")
    for name, label in CLASSES.items():
        assert real_classes[label] == name
    for name, label in ATTRIBUTES.items():
        assert real_attributes[label] == name
    real = read_allowed_triplets(REAL / "challenge-2019-relationship-triplets.csv")
    ids = CLASSES | ATTRIBUTES
    assert {(ids[s], ids[o], r) for s, o, r in ALLOWED_TRIPLETS} <= real


def test_every_triplet_is_allowed_and_every_is_row_has_one_box(data):
    ids = CLASSES | ATTRIBUTES
    allowed = {(ids[s], ids[o], r) for s, o, r in ALLOWED_TRIPLETS}
    seen = set()
    for vrd_key, _ in SPLITS.values():
        for row in rows_of(data / FILES[vrd_key]):
            triplet = (row["LabelName1"], row["LabelName2"], row["RelationshipLabel"])
            assert triplet in allowed
            seen.add(row["RelationshipLabel"])
            if row["RelationshipLabel"] == "is":
                for a, b in (("XMin1", "XMin2"), ("XMax1", "XMax2"), ("YMin1", "YMin2"), ("YMax1", "YMax2")):  # fmt: skip
                    assert row[a] == row[b]
    assert seen == {"on", "under", "holds", "wears", "inside_of", "at", "is"}


def overlap_x(b1, b2) -> float:
    return min(b1[2], b2[2]) - max(b1[0], b2[0])


def intersection(b1, b2) -> float:
    return max(0.0, overlap_x(b1, b2)) * max(0.0, min(b1[3], b2[3]) - max(b1[1], b2[1]))


def test_relationships_are_where_the_geometry_says(data):
    """Each relationship's own rule, worked on the written boxes (xmin, ymin, xmax, ymax)."""
    counts: dict[str, int] = {}
    for vrd_key, _ in SPLITS.values():
        for row in rows_of(data / FILES[vrd_key]):
            b1, b2 = boxes_of(row)
            r = row["RelationshipLabel"]
            counts[r] = counts.get(r, 0) + 1
            h2 = b2[3] - b2[1]
            where = f"{row['ImageID']} {r}"
            if r == "on":  # resting on the object's top part, over it
                assert b2[1] - 0.02 <= b1[3] <= b2[1] + 0.6 * h2, where
                assert overlap_x(b1, b2) > 0, where
            elif r == "under":  # lower than its top, standing on the floor below it
                assert b1[1] > b2[1] and abs(b1[3] - b2[3]) < 0.03, where
                assert b2[0] <= (b1[0] + b1[2]) / 2 <= b2[2], where
            elif r == "holds":  # the thing covers the hand: the boxes meet
                assert intersection(b1, b2) > 0, where
            elif r == "wears":  # mostly on the body
                assert intersection(b1, b2) >= 0.5 * np.prod(b2[2:] - b2[:2]), where
            elif r == "inside_of":
                assert (b1[:2] >= b2[:2] - 1e-6).all() and (b1[2:] <= b2[2:] + 1e-6).all(), where
            elif r == "at":  # beside it on the same floor, close
                assert abs(b1[3] - b2[3]) < 0.02, where
                assert overlap_x(b1, b2) > -0.05, where
    assert min(counts.values()) >= 2


def test_distractors_have_labels_but_no_triplets(data):
    """Some pictures show a class that no triplet of theirs mentions (a lone object)."""
    lone = 0
    for vrd_key, labels_key in SPLITS.values():
        mentioned: dict[str, set[str]] = {}
        for row in rows_of(data / FILES[vrd_key]):
            mentioned.setdefault(row["ImageID"], set()).update(
                (row["LabelName1"], row["LabelName2"])
            )
        for row in rows_of(data / FILES[labels_key]):
            if row["Confidence"] == "1" and row["LabelName"] not in mentioned.get(
                row["ImageID"], set()
            ):
                lone += 1
    assert lone >= 5


def tree_digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(tmp_path):
    a = synth_vrd(tmp_path / "a", n=12, n_test=3, seed=5)
    b = synth_vrd(tmp_path / "b", n=12, n_test=3, seed=5)
    c = synth_vrd(tmp_path / "c", n=12, n_test=3, seed=6)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)


def test_refuses_a_folder_with_files(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(DlfError, match="not an empty folder"):
        synth_vrd(tmp_path / "x", n=4, n_test=1)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_frequency_prior_alone_is_far_from_perfect(tmp_path):
    """The prior fitted on the synthetic train file, given validation's true boxes, scores
    clearly below 1: the class pair does not decide the relationship (Cat on / under a
    Table, Man holds / wears a Backpack, a Table with or without a Man at it). Measured
    0.626 with n=300, seed 0 (0.627 at the default n=600); the reference is the official
    metric (metric.py) against the truth, which scores the truth itself 1."""
    data = synth_vrd(tmp_path / "d", n=300, n_test=1, seed=0)
    prior = read_frequency_prior(data / FILES["train_vrd"], data / FILES["triplets"])
    truth = read_vrd(data / FILES["validation_vrd"])
    labels = read_image_labels(data / FILES["validation_labels"])
    preds = prior_predictions(truth_boxes(truth), prior)
    perfect = replace(truth, confidence=np.ones(len(truth)))
    assert vrd_score(truth, labels, perfect).score == pytest.approx(1.0)
    score = vrd_score(truth, labels, preds).score
    assert 0.3 < score < 0.75, score
