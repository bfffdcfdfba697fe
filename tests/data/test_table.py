"""The one competition-table reader, id check, alignment and writer (dlf.data.table).
References: hand-written files whose line numbers are counted here, and Python's csv module
for the round trip."""

import csv

import pytest

from dlf.core.errors import DlfError
from dlf.data.table import align, check_id, read_table, unique_ids, write_table


def write(path, text: str, encoding="utf-8"):
    path.write_text(text, encoding=encoding)
    return path


def test_bom_blank_lines_and_spaces_are_harmless_and_lines_are_counted(tmp_path):
    p = write(tmp_path / "t.csv", "\ufeffImageId, EncodedPixels\n\na, -1\n\nb,1 3\n\n")
    header, rows = read_table(p, ("ImageId", "EncodedPixels"))
    assert header == ("ImageId", "EncodedPixels")
    assert [(r.line, r["ImageId"], r["EncodedPixels"]) for r in rows] == [
        (3, "a", "-1"),
        (5, "b", "1 3"),
    ]


def test_a_second_layout_is_accepted_and_reported(tmp_path):
    """Open Images' validation boxes circulate in a 13-column and a 7-column layout."""
    long = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax")
    short = ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax", "IsGroupOf")
    p = write(tmp_path / "v.csv", ",".join(short) + "\nimg1,/m/01,0.1,0.5,0.2,0.6,0\n")
    header, rows = read_table(p, long, short)
    assert header == short and rows[0]["IsGroupOf"] == "0"
    bad = write(tmp_path / "w.csv", "ImageID,Label\nimg1,x\n")
    with pytest.raises(
        DlfError, match=r"w.csv line 1: .*exactly 'ImageID,Source.*' or 'ImageID,La"
    ):
        read_table(bad, long, short)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "the file is empty"),
        ("a,b\n", "a header but no rows"),
        ("a,b\n1,2\n\n3,4,5\n", "line 4 ('3,4,5'): 3 fields, expected 2"),
        ("x,b\n1,2\n", "line 1: header has columns ['x', 'b'], expected ['a', 'b']"),
    ],
)
def test_each_problem_is_one_line_naming_file_and_line(tmp_path, text, says):
    p = write(tmp_path / "t.csv", text)
    with pytest.raises(DlfError) as e:
        read_table(p, ("a", "b"))
    assert str(p) in str(e.value) and says in str(e.value) and "\n" not in str(e.value)


def test_not_utf8_and_missing_file(tmp_path):
    p = tmp_path / "latin.csv"
    p.write_bytes("a,b\nJos\xe9,1\n".encode("latin-1"))
    with pytest.raises(DlfError, match="not a readable UTF-8 CSV"):
        read_table(p, ("a", "b"))
    with pytest.raises(DlfError, match=r"nope\.csv: file not found; check the path"):
        read_table(tmp_path / "nope.csv", ("a", "b"))


@pytest.mark.parametrize("bad", ["../x", "a/b", "a\\b", "x..y", "", ".hidden"])
def test_ids_that_could_leave_a_folder_are_refused(bad):
    with pytest.raises(DlfError, match="not a plain file name"):
        check_id(bad, "f.csv line 2")
    assert check_id("1.2.276.0.7230010.3.1.4", "f.csv line 2") == "1.2.276.0.7230010.3.1.4"


def test_unique_ids_names_both_lines(tmp_path):
    p = write(tmp_path / "t.csv", "id,v\na,1\nb,2\na,3\n")
    _, rows = read_table(p, ("id", "v"))
    with pytest.raises(DlfError, match=r"line 4 \('a,3'\): id 'a' repeats line 2"):
        unique_ids(rows, "id", p)


def test_align_keeps_truth_order_and_names_missing_and_extra():
    truth, pred = {"a": 1, "b": 2, "c": 3}, {"c": 0, "a": 0, "b": 0}
    assert align(truth, pred, "t.csv", "p.csv") == ["a", "b", "c"]
    with pytest.raises(DlfError, match=r"p.csv: 1 id\(s\) of t.csv have no row, e.g. 'c'"):
        align(truth, {"a": 0, "b": 0}, "t.csv", "p.csv")
    with pytest.raises(DlfError, match=r"p.csv: 1 id\(s\) are not in t.csv, e.g. 'z'"):
        align(truth, {**pred, "z": 0}, "t.csv", "p.csv")


def test_write_table_round_trips_through_pythons_csv(tmp_path):
    rows = [("img1", "/m/01 0.9 0.1 0.2 0.3 0.4"), ("img2", ""), ("img,3", 'say "hi"')]
    p = write_table(tmp_path / "sub.csv", ("ImageId", "PredictionString"), rows)
    with open(p, newline="") as f:
        assert [tuple(r) for r in csv.reader(f)] == [("ImageId", "PredictionString"), *rows]
    assert [q.name for q in tmp_path.iterdir()] == ["sub.csv"]  # no temporary left behind
