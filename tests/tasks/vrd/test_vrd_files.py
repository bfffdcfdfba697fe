"""The VRD files: columns read right (the CSV's XMin,XMax,YMin,YMax order and the
submission's XMin YMin XMax YMax order both become xmin, ymin, xmax, ymax), the submission
round trip, the real description/triplet/validation files, and one DlfError line naming
the file and line for each kind of bad input."""

from pathlib import Path

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.vrd import files
from dlf.tasks.vrd.files import (
    RELATIONSHIPS,
    VRD_HEADER,
    Triplets,
    read_allowed_triplets,
    read_descriptions,
    read_image_labels,
    read_submission,
    read_vrd,
    write_submission,
)

# The real files sit beside the repository: ../shared/real/oid-vrd-2019 (read-only, not copied).
REAL = Path(__file__).resolve().parents[4] / "shared" / "real" / "oid-vrd-2019"
HEADER = ",".join(VRD_HEADER)
ROW_AT = "img1,/m/man,/m/table,0.1,0.4,0.2,0.9,0.3,0.9,0.5,0.8,at"
ROW_IS = "img2,/m/table,/m/wood,0.5,0.6,0.1,0.2,0.5,0.6,0.1,0.2,is"


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def one_line_error(call, *parts):
    with pytest.raises(DlfError) as e:
        call()
    message = str(e.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message
    return message


def test_read_vrd_columns(tmp_path):
    t = read_vrd(write(tmp_path / "v.csv", HEADER, ROW_AT, ROW_IS))
    assert t.image_ids.tolist() == ["img1", "img2"] and t.image.tolist() == [0, 1]
    assert t.label_names[t.label1].tolist() == ["/m/man", "/m/table"]
    assert t.label_names[t.label2].tolist() == ["/m/table", "/m/wood"]
    assert [RELATIONSHIPS[r] for r in t.relation] == ["at", "is"]
    # XMin1,XMax1,YMin1,YMax1 = .1,.4,.2,.9 -> xmin, ymin, xmax, ymax = .1,.2,.4,.9
    np.testing.assert_array_equal(t.box1[0], np.float32([0.1, 0.2, 0.4, 0.9]))
    np.testing.assert_array_equal(t.box2[0], np.float32([0.3, 0.5, 0.9, 0.8]))
    assert t.box1.dtype == np.float32 and t.confidence is None and t.skipped == 0


def test_disallowed_triplet_is_an_error_or_skipped_with_a_count(tmp_path):
    path = write(tmp_path / "train.csv", HEADER, ROW_AT, ROW_IS, ROW_AT.replace("img1", "img3"))
    allowed = {("/m/man", "/m/table", "at")}
    one_line_error(lambda: read_vrd(path, allowed), str(path), "line 3", "not in the allowed")
    t = read_vrd(path, allowed, skip_disallowed=True)
    assert len(t) == 2 and t.skipped == 1
    assert t.image_ids[t.image].tolist() == ["img1", "img3"]


@pytest.mark.parametrize(
    "row, what",
    [
        (ROW_AT.replace("0.9,0.5", "1.2,0.5"), "outside [0, 1]"),
        (ROW_AT.replace(",0.1,0.4,", ",-0.1,0.4,"), "outside [0, 1]"),
        (ROW_AT.replace(",0.1,0.4,", ",0.5,0.4,"), "min is above its max"),
        (
            ROW_IS.replace("0.5,0.6,0.1,0.2,is", "0.5,0.6,0.1,0.3,is"),
            "'is' row whose two boxes differ",
        ),
        (ROW_AT.replace(",at", ",near"), "unknown relationship label 'near'"),
        (ROW_AT.replace(",0.3,", ",x,"), "'x' is not a number"),
    ],
)
def test_bad_vrd_rows(tmp_path, row, what):
    path = write(tmp_path / "v.csv", HEADER, ROW_AT, row)
    one_line_error(lambda: read_vrd(path), str(path), "line 3", what)


def test_bad_vrd_header_and_missing_file(tmp_path):
    path = write(tmp_path / "v.csv", HEADER.replace("XMin1,XMax1", "XMin1,YMin1"), ROW_AT)
    one_line_error(lambda: read_vrd(path), "line 1", "header")
    one_line_error(lambda: read_vrd(tmp_path / "nope.csv"), "file not found")


def predictions() -> Triplets:
    return Triplets.build(
        ["a", "a", "b"],
        ["/m/man", "/m/cup", "/m/man"],
        ["/m/table", "/m/table", "/m/wood"],
        ["at", "on", "is"],
        np.array([[0.1, 0.2, 0.4, 0.9], [0.5, 0.5, 0.6, 0.6], [0.0, 0.0, 1.0, 1.0]]),
        np.array([[0.3, 0.5, 0.9, 0.8], [0.3, 0.5, 0.9, 0.8], [0.0, 0.0, 1.0, 1.0]]),
        np.array([0.25, 0.75, 1 / 3]),
        all_images=["empty"],
    )


def test_submission_round_trip(tmp_path):
    path = write_submission(tmp_path / "sub.csv", predictions())
    lines = path.read_text().splitlines()
    assert lines[0] == "ImageId,PredictionString" and lines[1] == "empty,"
    # image a: the .75 triplet first; X and Y alternate in a PredictionString.
    assert lines[2].startswith("a,0.75 /m/cup 0.500000 0.500000 0.600000 0.600000 /m/table ")
    back = read_submission(path)
    assert back.image_ids.tolist() == ["empty", "a", "b"]
    assert back.image_ids[back.image].tolist() == ["a", "a", "b"]
    assert back.confidence.tolist() == [0.75, 0.25, 1 / 3]  # exact (repr)
    np.testing.assert_array_equal(back.box1[1], np.float32([0.1, 0.2, 0.4, 0.9]))
    np.testing.assert_array_equal(back.box2[1], np.float32([0.3, 0.5, 0.9, 0.8]))
    assert back.label_names[back.label2].tolist() == ["/m/table", "/m/table", "/m/wood"]
    assert [RELATIONSHIPS[r] for r in back.relation] == ["on", "at", "is"]


def test_submission_read_in_chunks_equals_read_at_once(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    n = 300
    box = np.sort(rng.random((n, 2, 2)), axis=1).reshape(n, 4)  # xmin, ymin <= xmax, ymax
    many = Triplets.build(
        [f"i{k % 37}" for k in range(n)], [f"/m/{k % 5}" for k in range(n)],
        [f"/m/{k % 7}" for k in range(n)], [RELATIONSHIPS[k % 10] for k in range(n)],
        box, box[::-1], rng.random(n), all_images=["none1", "none2"],
    )  # fmt: skip
    path = write_submission(tmp_path / "sub.csv", many)
    whole = read_submission(path)
    monkeypatch.setattr(files, "_CHUNK_TOKENS", 30)  # a chunk every few rows
    chunked = read_submission(path)
    assert len(whole) == n and len(chunked.image_ids) == 39
    for name in (
        "image_ids",
        "image",
        "label1",
        "label2",
        "relation",
        "box1",
        "box2",
        "confidence",
    ):
        np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))
    np.testing.assert_array_equal(whole.label_names, chunked.label_names)


GOOD = "0.5 /m/man 0.1 0.2 0.4 0.9 /m/table 0.3 0.5 0.9 0.8 at"


@pytest.mark.parametrize(
    "row, what",
    [
        ("b," + GOOD + " 0.4", "13 values, not a multiple of 12"),
        ("b," + GOOD.replace(" at", " near"), "unknown relationship label 'near'"),
        ("b," + GOOD.replace("0.9 0.8", "1.5 0.8"), "outside [0, 1]"),
        ("b," + GOOD.replace("0.5 /m/man", "high /m/man"), "'high' is not a number"),
        ("b," + GOOD.replace("0.5 /m/man", "nan /m/man"), "not a finite number"),
        ("a," + GOOD, "repeats line 2"),
        ("../x," + GOOD, "not a plain file name"),
    ],
)
def test_bad_submission_rows(tmp_path, row, what):
    path = write(tmp_path / "sub.csv", "ImageId,PredictionString", "a," + GOOD + " " + GOOD, row)
    one_line_error(lambda: read_submission(path), str(path), "line 3", what)


def test_bad_submission_header(tmp_path):
    path = write(tmp_path / "sub.csv", "ImageId,Prediction", "a," + GOOD)
    one_line_error(lambda: read_submission(path), "line 1", "ImageId,PredictionString")


def test_image_labels_and_descriptions(tmp_path):
    labels = read_image_labels(
        write(tmp_path / "l.csv", "ImageID,LabelName,Confidence", "a,/m/man,1", "a,/m/dog,0")
    )
    assert labels.label.tolist() == ["/m/man", "/m/dog"] and labels.confidence.tolist() == [1, 0]
    bad = write(tmp_path / "l2.csv", "ImageID,LabelName,Confidence", "a,/m/man,yes")
    one_line_error(lambda: read_image_labels(bad), "line 2", "'yes' is not a number")
    names = read_descriptions(write(tmp_path / "d.csv", "/m/a,Apple", '/m/b,"Bee, honey"'))
    assert names == {"/m/a": "Apple", "/m/b": "Bee, honey"}
    one_line_error(lambda: read_descriptions(write(tmp_path / "d2.csv", "/m/a")), "line 1", "2")
    triplets = write(
        tmp_path / "t.csv", "LabelName1,LabelName2,RelationshipLabel", "/m/a,/m/b,nearby"
    )
    one_line_error(lambda: read_allowed_triplets(triplets), "line 2", "'nearby'")


@pytest.mark.skipif(not REAL.is_dir(), reason="the real VRD files are absent")
def test_real_files():
    classes = read_descriptions(REAL / "challenge-2019-classes-vrd.csv")
    attributes = read_descriptions(REAL / "challenge-2019-attributes-description.csv")
    relationships = read_descriptions(REAL / "challenge-2019-relationships-description.csv")
    allowed = read_allowed_triplets(REAL / "challenge-2019-relationship-triplets.csv")
    assert (len(classes), len(attributes), len(allowed)) == (57, 5, 329)
    assert tuple(relationships) == RELATIONSHIPS
    assert {t[0] for t in allowed} <= set(classes)
    assert {t[1] for t in allowed} <= set(classes) | set(attributes)
    valid = read_vrd(REAL / "challenge-2019-validation-vrd.csv", allowed)
    assert (len(valid), len(valid.image_ids), valid.skipped) == (3991, 1537, 0)
    is_rows = valid.relation == RELATIONSHIPS.index("is")
    assert set(valid.label_names[valid.label2[is_rows]]) <= set(attributes)
