"""Reading and writing the Open Images 2019 detection files, and every bad input a person
can make. Expected values are read off the small files written in each test."""

import json
from pathlib import Path

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.tasks.oid.files import (
    Detections,
    read_boxes,
    read_classes,
    read_hierarchy,
    read_image_labels,
    read_submission,
    write_submission,
)
from dlf.tasks.oid.hierarchy import Hierarchy

REAL = Path(__file__).resolve().parents[4] / "shared/real/oid-detection-2019"
REAL_CLASSES = REAL / "classes-description-500.from-labelmap.csv"

NAMES = ["/m/a", "/m/c", "/m/d", "/m/car"]  # Animal, Cat, Dog, Car
CLASSES_CSV = "/m/a,Animal\n/m/c,Cat\n/m/d,Dog\n/m/car,Car\n"
BOX13 = (
    "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
    "IsGroupOf,IsDepiction,IsInside\n"
)
BOX7 = "ImageID,LabelName,XMin,XMax,YMin,YMax,IsGroupOf\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# --- classes ---


def test_read_classes_keeps_file_order_and_quoted_names(tmp_path):
    f = write(tmp_path / "c.csv", '/m/b,"Bed, infant"\n/m/a,Apple\n\n')
    assert read_classes(f) == {"/m/b": "Bed, infant", "/m/a": "Apple"}
    assert list(read_classes(f)) == ["/m/b", "/m/a"]


def test_read_classes_refuses_duplicates_and_bad_rows(tmp_path):
    with pytest.raises(DlfError, match=r"line 2 .*listed twice"):
        read_classes(write(tmp_path / "c.csv", "/m/a,A\n/m/a,B\n"))
    with pytest.raises(DlfError, match=r"line 1 .*expected 2 fields"):
        read_classes(write(tmp_path / "c.csv", "/m/a,A,extra\n"))
    with pytest.raises(DlfError, match="no classes"):
        read_classes(write(tmp_path / "c.csv", "\n"))
    with pytest.raises(DlfError, match="not found"):
        read_classes(tmp_path / "missing.csv")


def test_read_classes_on_the_real_class_list():
    if not REAL_CLASSES.exists():
        pytest.skip("the real files are not here")
    classes = read_classes(REAL_CLASSES)
    assert len(classes) == 500
    assert next(iter(classes.items())) == ("/m/061hd_", "Infant bed")
    assert all(name.startswith("/m/") for name in classes)


# --- hierarchy ---


def tree_json(tmp_path, tree) -> Path:
    return write(tmp_path / "h.json", json.dumps(tree))


def node(label, *subs):
    return {"LabelName": label, "Subcategory": list(subs)} if subs else {"LabelName": label}


def test_hierarchy_ancestors_and_descendants_with_root_skipped(tmp_path):
    # root > Animal > {Cat, Dog}; root > Car. The root is not a class and is skipped.
    h = read_hierarchy(
        tree_json(
            tmp_path, node("/m/root", node("/m/a", node("/m/c"), node("/m/d")), node("/m/car"))
        ),
        NAMES,
    )
    a, c, d, _car = range(4)
    assert h.ancestors == (frozenset(), {a}, {a}, frozenset())
    assert h.descendants == ({c, d}, frozenset(), frozenset(), frozenset())


def test_hierarchy_label_under_two_parents_unites_both(tmp_path):
    # Dog under Animal and under Car (odd, but the real file has labels in two places): the
    # official code unites the ancestor sets of every place -> {Animal, Car}
    h = read_hierarchy(
        tree_json(
            tmp_path, node("/m/root", node("/m/a", node("/m/d")), node("/m/car", node("/m/d")))
        ),
        NAMES,
    )
    assert h.ancestors[2] == {0, 3}
    assert h.descendants[0] == {2} and h.descendants[3] == {2}


def test_hierarchy_deep_chain(tmp_path):
    # root > Animal > Cat > Dog: Dog's ancestors are Cat and Animal
    h = read_hierarchy(
        tree_json(tmp_path, node("/m/root", node("/m/a", node("/m/c", node("/m/d"))))), NAMES
    )
    assert h.ancestors[2] == {0, 1} and h.descendants[0] == {1, 2}


@pytest.mark.parametrize(
    "tree, message",
    [
        (node("/m/root", node("/m/a", node("/m/a"))), "below itself"),
        (node("/m/root", node("/m/a", node("/m/c", node("/m/a")))), "below itself"),
        (node("/m/root", node("/m/a", node("/m/c")), node("/m/c", node("/m/a"))), "cycle"),
        (node("/m/root", node("/m/zebra")), "not in the class list"),
        (node("/m/root", {"Subcategory": []}), "no LabelName"),
        (node("/m/root", [1, 2]), "no LabelName"),
        ({"LabelName": "/m/root", "Subcategory": {"LabelName": "/m/a"}}, "expected a list"),
        ([node("/m/a")], "no LabelName"),
    ],
)
def test_hierarchy_refuses_what_is_not_a_tree(tmp_path, tree, message):
    with pytest.raises(DlfError, match=message) as e:
        read_hierarchy(tree_json(tmp_path, tree), NAMES)
    assert "\n" not in str(e.value) and "h.json" in str(e.value)


def test_hierarchy_refuses_bad_json(tmp_path):
    with pytest.raises(DlfError, match=r"h.json line 2: not valid JSON"):
        read_hierarchy(write(tmp_path / "h.json", '{"LabelName": "/m/root",\n oops}'), NAMES)


def test_expand_boxes_and_labels_by_hand():
    # Animal(0) > Cat(1); Car(3) alone
    h = Hierarchy.from_ancestors([set(), {0}, {0}, set()])
    rows, labels = h.expand_boxes(np.array([1, 3, 0]))
    # row 0 (Cat) -> Cat, Animal; row 1 (Car) -> Car; row 2 (Animal) -> Animal
    assert rows.tolist() == [0, 0, 1, 2] and labels.tolist() == [1, 0, 3, 0]
    rows, labels = h.expand_labels(np.array([1, 0, 0]), np.array([1, 0, 1]))
    # Cat present -> Cat, Animal; Animal absent -> Animal, Cat, Dog; Animal present -> Animal
    assert rows.tolist() == [0, 0, 1, 1, 1, 2]
    assert labels.tolist() == [1, 0, 0, 1, 2, 0]


# --- boxes ---


def test_read_boxes_13_columns(tmp_path):
    f = write(
        tmp_path / "b.csv",
        BOX13 + "img1,xclick,/m/c,1,0.1,0.4,0.2,0.5,1,0,0,0,0\n"
        "img2,xclick,/m/car,1,0,1,0,1,0,1,1,0,1\n",
    )
    b = read_boxes(f, NAMES)
    assert b.image_ids.tolist() == ["img1", "img2"]
    assert b.labels.tolist() == [1, 3]
    # XMin,XMax,YMin,YMax in the file -> xmin, ymin, xmax, ymax
    np.testing.assert_array_equal(b.boxes, [[0.1, 0.2, 0.4, 0.5], [0, 0, 1, 1]])
    assert b.group_of.tolist() == [0, 1] and b.occluded.tolist() == [1, 0]
    assert b.truncated.tolist() == [0, 1] and b.lines.tolist() == [2, 3]


def test_read_boxes_7_columns_has_no_occlusion_flags(tmp_path):
    f = write(tmp_path / "b.csv", BOX7 + "img1,/m/d,0.1,0.4,0.2,0.5,-1\n")
    b = read_boxes(f, NAMES)
    np.testing.assert_array_equal(b.boxes, [[0.1, 0.2, 0.4, 0.5]])
    assert b.group_of.tolist() == [-1]
    assert b.occluded.tolist() == [-1] and b.truncated.tolist() == [-1]


@pytest.mark.parametrize(
    "row, message",
    [
        ("img1,/m/c,0.1,1.2,0.2,0.5,0", "outside"),
        ("img1,/m/c,-0.1,0.2,0.2,0.5,0", "outside"),
        ("img1,/m/c,0.5,0.4,0.2,0.5,0", "XMin > XMax"),
        ("img1,/m/c,0.1,0.4,0.6,0.5,0", "YMin > YMax"),
        ("img1,/m/zebra,0.1,0.4,0.2,0.5,0", "unknown LabelName '/m/zebra'"),
        ("img1,/m/c,abc,0.4,0.2,0.5,0", "XMin 'abc' is not a number"),
        ("img1,/m/c,nan,0.4,0.2,0.5,0", "not a number"),
        ("img1,/m/c,0.1,0.4,0.2,0.5,2", "IsGroupOf must be 0, 1 or -1"),
        ("../x,/m/c,0.1,0.4,0.2,0.5,0", "not a plain file name"),
    ],
)
def test_read_boxes_names_the_bad_line(tmp_path, row, message):
    f = write(tmp_path / "b.csv", BOX7 + "img0,/m/a,0,1,0,1,0\n" + row + "\n")
    with pytest.raises(DlfError, match=message) as e:
        read_boxes(f, NAMES)
    assert "b.csv line 3" in str(e.value) and "\n" not in str(e.value)


def test_read_boxes_refuses_an_unknown_header(tmp_path):
    with pytest.raises(DlfError, match="line 1: header"):
        read_boxes(write(tmp_path / "b.csv", "ImageID,XMin\nimg,0\n"), NAMES)


# --- image labels ---


def test_read_image_labels(tmp_path):
    f = write(
        tmp_path / "l.csv",
        "ImageID,Source,LabelName,Confidence\nimg1,verification,/m/c,1\nimg1,crowdsource,/m/d,0\n",
    )
    lab = read_image_labels(f, NAMES)
    assert lab.labels.tolist() == [1, 2] and lab.confidence.tolist() == [1, 0]
    assert lab.image_ids.tolist() == ["img1", "img1"]


def test_read_image_labels_refuses_other_confidences_and_labels(tmp_path):
    head = "ImageID,Source,LabelName,Confidence\n"
    with pytest.raises(DlfError, match=r"l.csv line 2 .*Confidence must be 1"):
        read_image_labels(write(tmp_path / "l.csv", head + "img1,v,/m/c,0.5\n"), NAMES)
    with pytest.raises(DlfError, match=r"l.csv line 2 .*unknown LabelName"):
        read_image_labels(write(tmp_path / "l.csv", head + "img1,v,/m/x,1\n"), NAMES)


# --- submissions ---

SUB = "ImageId,PredictionString\n"


def test_read_submission(tmp_path):
    f = write(
        tmp_path / "s.csv",
        SUB
        + "img1,/m/c 0.9 0.1 0.2 0.4 0.5 /m/car 0.25 0 0 1 1\nimg2,\nimg3, /m/d 1e-3 0 0 .5 .5 \n",
    )
    d = read_submission(f, NAMES)
    assert d.image_ids.tolist() == ["img1", "img2", "img3"]
    assert d.image.tolist() == [0, 0, 2] and d.labels.tolist() == [1, 3, 2]
    assert d.scores.tolist() == [0.9, 0.25, 0.001]
    # the submission's order is already XMin YMin XMax YMax
    np.testing.assert_array_equal(d.boxes, [[0.1, 0.2, 0.4, 0.5], [0, 0, 1, 1], [0, 0, 0.5, 0.5]])


@pytest.mark.parametrize(
    "row, message",
    [
        ("img2,/m/c 0.9 0.1 0.2 0.4", "has 5 values, not a multiple of 6"),
        ("img2,/m/c 0.9 0.1 0.2 0.4 0.5 /m/c", "has 7 values"),
        ("img2,/m/zebra 0.9 0.1 0.2 0.4 0.5", "unknown LabelName '/m/zebra'"),
        ("img2,/m/c 0.9 0.1 0.2 0.4 0.5 /m/c high 0 0 1 1", "'high' is not a number"),
        ("img2,/m/c 0.9 0.1 0.2 0.4 inf", "not a finite number"),
        ("img1,", "repeats line 2"),
    ],
)
def test_read_submission_names_the_bad_line(tmp_path, row, message):
    f = write(tmp_path / "s.csv", SUB + "img1,/m/c 0.9 0.1 0.2 0.4 0.5\n" + row + "\n")
    with pytest.raises(DlfError, match=message) as e:
        read_submission(f, NAMES)
    assert "s.csv line 3" in str(e.value) and "\n" not in str(e.value)


def test_write_then_read_submission_round_trip(tmp_path):
    dets = [
        (np.array([1, 3]), np.array([0.9, 0.125]), np.array([[0.1, 0.2, 0.4, 0.5], [0, 0, 1, 1]])),
        (np.zeros(0, int), np.zeros(0), np.zeros((0, 4))),
    ]
    f = write_submission(tmp_path / "s.csv", ["img1", "img2"], dets, NAMES)
    assert f.read_text().splitlines() == [
        "ImageId,PredictionString",
        "img1,/m/c 0.9 0.1 0.2 0.4 0.5 /m/car 0.125 0 0 1 1",
        "img2,",
    ]
    back = read_submission(f, NAMES)
    want = Detections.from_lists(["img1", "img2"], dets)
    for field in ("image_ids", "image", "labels", "scores", "boxes"):
        np.testing.assert_array_equal(getattr(back, field), getattr(want, field))


def test_write_submission_refuses_bad_ids_and_leaves_the_old_file(tmp_path):
    f = write(tmp_path / "s.csv", "old\n")
    empty = (np.zeros(0, int), np.zeros(0), np.zeros((0, 4)))
    with pytest.raises(DlfError, match="given twice"):
        write_submission(f, ["img1", "img1"], [empty, empty], NAMES)
    with pytest.raises(DlfError, match="not a plain file name"):
        write_submission(f, ["a/b"], [empty], NAMES)
    assert f.read_text() == "old\n"
