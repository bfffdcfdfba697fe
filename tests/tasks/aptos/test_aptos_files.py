"""The APTOS file format: round trips, and one clear DlfError line for every kind of bad input.

Reference: the competition's data page (train.csv `id_code,diagnosis` with grades 0-4,
test.csv `id_code`, images at train_images/<id_code>.png) and its sample_submission.csv.
"""

import numpy as np
import pytest
from PIL import Image

from dlf.core import DlfError
from dlf.tasks.aptos import paired_labels, read_labels, read_test, read_train, write_submission


def _png(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((4, 6, 3), 90, np.uint8)).save(path)


def _folder(tmp_path, train_csv="id_code,diagnosis\naa01,0\nbb02,4\ncc03,2\n", images=None):
    (tmp_path / "train.csv").write_text(train_csv)
    (tmp_path / "test.csv").write_text("id_code\nzz09\nyy08\n")
    for i in images if images is not None else ["aa01", "bb02", "cc03"]:
        _png(tmp_path / "train_images" / f"{i}.png")
    for i in ["zz09", "yy08"]:
        _png(tmp_path / "test_images" / f"{i}.png")
    return tmp_path


def test_read_train_and_test(tmp_path):
    folder = _folder(tmp_path)
    train = read_train(folder)
    assert [(t.id_code, t.diagnosis) for t in train] == [("aa01", 0), ("bb02", 4), ("cc03", 2)]
    assert train[1].path == folder / "train_images" / "bb02.png"
    test = read_test(folder)
    assert [t.id_code for t in test] == ["zz09", "yy08"]  # test.csv order, not sorted
    assert all(t.diagnosis is None and t.path.is_file() for t in test)


def test_tolerates_bom_crlf_spaces_and_blank_lines(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_bytes(b"\xef\xbb\xbfid_code, diagnosis\r\nab12, 3\r\n\r\ncd34,0\r\n")
    assert read_labels(p) == {"ab12": 3, "cd34": 0}


def test_submission_round_trip_keeps_order(tmp_path):
    p = tmp_path / "out" / "submission.csv"
    ids, grades = ["zz09", "aa01", "mm05"], np.array([4, 0, 2])  # numpy ints are fine
    write_submission(p, ids, grades)
    assert p.read_text() == "id_code,diagnosis\nzz09,4\naa01,0\nmm05,2\n"
    assert list(read_labels(p).items()) == [("zz09", 4), ("aa01", 0), ("mm05", 2)]
    assert [q.name for q in p.parent.iterdir()] == ["submission.csv"]  # no temporary left


@pytest.mark.parametrize(
    ("ids", "grades"),
    [(["a", "b"], [1]), (["a", "a"], [1, 2]), (["a"], [5]), (["a"], [-1])],
)
def test_write_submission_refuses_inconsistent_input(tmp_path, ids, grades):
    with pytest.raises(ValueError):
        write_submission(tmp_path / "s.csv", ids, grades)
    assert not (tmp_path / "s.csv").exists()


BAD_TRAIN_CSV = [
    # (train.csv text, fragments the one-line message must contain)
    ("", ["empty", "id_code,diagnosis"]),
    ("id,diagnosis\naa01,0\n", ["line 1", "['id', 'diagnosis']", "['id_code', 'diagnosis']"]),
    ("id_code\naa01\n", ["line 1", "['id_code']", "['id_code', 'diagnosis']"]),
    ("id_code,diagnosis,extra\naa01,0,1\n", ["line 1", "'extra'"]),
    ("id_code,diagnosis\n", ["no rows"]),
    ("id_code,diagnosis\naa01,0\nbb02\n", ["line 3", "'bb02'", "1 fields"]),
    ("id_code,diagnosis\naa01,0\naa01,2\n", ["line 3", "'aa01'", "repeats line 2"]),
    ("id_code,diagnosis\naa01,5\n", ["line 2", "'5'", "0-4"]),
    ("id_code,diagnosis\naa01,-1\n", ["line 2", "'-1'", "0-4"]),
    ("id_code,diagnosis\naa01,2.0\n", ["line 2", "'2.0'", "integer"]),
    ("id_code,diagnosis\naa01,two\n", ["line 2", "'two'", "integer"]),
    ("id_code,diagnosis\naa01,\n", ["line 2", "integer"]),
    ("id_code,diagnosis\n../aa01,1\n", ["line 2", "'../aa01'", "path separator"]),
    ("id_code,diagnosis\nsub/aa01,1\n", ["line 2", "'sub/aa01'"]),
    ("id_code,diagnosis\nsub\\aa01,1\n", ["line 2", "plain file name"]),
    ("id_code,diagnosis\n..,1\n", ["line 2", "'..'"]),
    ("id_code,diagnosis\na..b,1\n", ["line 2", "'a..b'"]),
    ("id_code,diagnosis\n/etc/passwd,1\n", ["line 2", "'/etc/passwd'"]),
    ("id_code,diagnosis\n,1\n", ["line 2", "''"]),
    ("id_code,diagnosis\naa01,0\ndd04,1\n", ["line 3", "dd04.png", "not found"]),
]


@pytest.mark.parametrize(("text", "fragments"), BAD_TRAIN_CSV)
def test_bad_train_csv_is_one_line_naming_file_and_row(tmp_path, text, fragments):
    folder = _folder(tmp_path, train_csv=text, images=["aa01"])
    with pytest.raises(DlfError) as e:
        read_train(folder)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(folder / "train.csv") in msg
    for fragment in fragments:
        assert fragment in msg, (fragment, msg)


def test_id_cannot_reach_a_file_outside_the_data_folder(tmp_path):
    # The file the id points at really exists: only the id check stands in the way.
    folder = tmp_path / "data"
    (folder / "train_images").mkdir(parents=True)
    _folder(folder, train_csv="id_code,diagnosis\n../../secret,1\n", images=[])
    _png(tmp_path / "secret.png")
    with pytest.raises(DlfError, match="not a plain file name"):
        read_train(folder)


def test_bad_test_csv(tmp_path):
    folder = _folder(tmp_path)
    (folder / "test.csv").write_text("id_code,diagnosis\nzz09,0\n")  # a labels file by mistake
    with pytest.raises(DlfError, match=r"test\.csv line 1: header has columns"):
        read_test(folder)
    (folder / "test.csv").write_text("id_code\nzz09\nqq00\n")
    with pytest.raises(DlfError, match=r"test\.csv line 3: image .*qq00\.png not found"):
        read_test(folder)


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DlfError, match=r"train\.csv: file not found.*dlf synth aptos"):
        read_train(tmp_path)
    with pytest.raises(DlfError, match="file not found"):
        read_labels(tmp_path / "nope.csv")
    (tmp_path / "train.csv").write_text("id_code,diagnosis\naa01,0\n")
    with pytest.raises(DlfError, match="train_images: folder not found"):
        read_train(tmp_path)


def test_not_utf8(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_bytes(b"id_code,diagnosis\n\xff\xfe\x00,1\n")
    with pytest.raises(DlfError, match="not a readable UTF-8 CSV"):
        read_labels(p)


def test_paired_labels_aligns_by_id_and_refuses_mismatches(tmp_path):
    truth, pred = tmp_path / "truth.csv", tmp_path / "pred.csv"
    write_submission(truth, ["a", "b", "c"], [0, 2, 4])
    write_submission(pred, ["c", "a", "b"], [3, 0, 1])
    assert paired_labels(truth, pred) == ([0, 2, 4], [0, 1, 3])
    write_submission(pred, ["a", "b"], [0, 1])
    with pytest.raises(DlfError, match=r"pred\.csv: 1 id_code\(s\) of .*truth\.csv have no row"):
        paired_labels(truth, pred)
    write_submission(pred, ["a", "b", "c", "d"], [0, 1, 2, 3])
    with pytest.raises(DlfError, match=r"1 id_code\(s\) are not in .*'d'"):
        paired_labels(truth, pred)
