"""The RxRx1 files: the layout the competition's data page describes (train.csv
`id_code,experiment,plate,well,sirna`, the controls files with `well_type`, images at
`<split>/<experiment>/Plate<p>/<well>_s<site>_w<channel>.png`), read back from the synthetic
set, and one DlfError line (exit status 2 through the CLI) for each kind of bad input."""

import shutil

import numpy as np
import pytest
from PIL import Image

from dlf.cli import main
from dlf.core import DlfError
from dlf.tasks.recursion import (
    accuracy_of_files,
    read_site,
    read_split,
    read_submission,
    write_submission,
)
from dlf.tasks.recursion.files import N_SIRNAS


def test_read_split_finds_treatments_controls_and_their_files(tiny_rxrx):
    train = read_split(tiny_rxrx, "train")
    treat = [w for w in train if not w.control]
    controls = [w for w in train if w.control]
    # 2 cell types x 3 experiments x 4 plates x (2 siRNAs + 3 controls)
    assert (len(treat), len(controls)) == (48, 72)
    assert all(w.sirna < N_SIRNAS for w in treat) and all(w.sirna >= N_SIRNAS for w in controls)
    w = treat[0]
    assert w.id_code == f"{w.experiment}_{w.plate}_{w.well}"
    files = w.site_files(tiny_rxrx, "train", 2)
    assert [f.name for f in files] == [f"{w.well}_s2_w{c}.png" for c in range(1, 7)]
    assert files[0].parent == tiny_rxrx / "train" / w.experiment / f"Plate{w.plate}"
    assert read_site(files).shape == (32, 32, 6)
    test = read_split(tiny_rxrx, "test")
    assert all(w.sirna is None for w in test if not w.control)


def test_submission_round_trip_and_accuracy(tmp_path):
    p = tmp_path / "sub.csv"
    write_submission(p, ["A-01_1_B02", "A-01_2_C03"], np.array([5, 1107]))
    assert p.read_text() == "id_code,sirna\nA-01_1_B02,5\nA-01_2_C03,1107\n"
    truth = tmp_path / "truth.csv"  # an answer key in train.csv's layout is accepted too
    truth.write_text("id_code,experiment,plate,well,sirna\nA-01_1_B02,A-01,1,B02,5\n"
                     "A-01_2_C03,A-01,2,C03,7\n")  # fmt: skip
    assert read_submission(truth) == {"A-01_1_B02": 5, "A-01_2_C03": 7}
    assert accuracy_of_files(truth, p) == 0.5


def _copy(tiny_rxrx, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(tiny_rxrx, folder)
    return folder


def _edit_line(path, line_no, new):
    lines = path.read_text().splitlines()
    lines[line_no - 1] = new
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (
            lambda f: _edit_line(f / "train.csv", 2, "HUVEC-01_1_B02,HUVEC-01,2,B02,1"),
            "does not match experiment/plate/well",
        ),
        (
            lambda f: _edit_line(f / "train.csv", 2, "HUVEC-01_1_B02,HUVEC-01,1,B02,1108"),
            "sirna '1108' is not an integer in 0..1107",
        ),
        (
            lambda f: _edit_line(
                f / "train_controls.csv", 2, "HUVEC-01_1_B02,HUVEC-01,1,B02,12,negative_control"
            ),
            "sirna '12' is not an integer in 1108..1138",
        ),
        (
            lambda f: _edit_line(f / "train.csv", 2, "HUVEC-01_1_A01,HUVEC-01,1,A01,1"),
            "is not B02..O23",
        ),
    ],
    ids=["id_code-vs-columns", "sirna-range", "control-range", "well-name"],
)
def test_bad_train_tables_fail_in_one_line_through_dlf_train(tiny_rxrx, tmp_path, capsys, monkeypatch,
                                                            edit, expected):  # fmt: skip
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    folder = _copy(tiny_rxrx, tmp_path)
    edit(folder)
    rc = main(["train", "recursion", "--data", str(folder), "--out", str(tmp_path / "run"),
               "--epochs", "1", "--size", "32"])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1
    assert expected in err and "line 2" in err


def test_a_test_well_listed_twice(tiny_rxrx, tmp_path):
    folder = _copy(tiny_rxrx, tmp_path)
    lines = (folder / "test.csv").read_text().splitlines()
    (folder / "test.csv").write_text("\n".join([*lines, lines[1]]) + "\n")
    with pytest.raises(
        DlfError, match=r"test.csv line \d+ .*repeats line 2; keep one row per well"
    ):
        read_split(folder, "test")


def test_missing_or_missized_channel_file_is_named(tiny_rxrx, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    folder = _copy(tiny_rxrx, tmp_path)
    w = read_split(folder, "train")[3]
    files = w.site_files(folder, "train", 1)
    Image.fromarray(np.zeros((30, 32), np.uint8)).save(files[4])
    argv = ["train", "recursion", "--data", str(folder), "--out", str(tmp_path / "run"),
            "--epochs", "1", "--size", "32"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{files[4]}: 32x30 px" in err
    files[4].unlink()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{files[4]}: channel image not found" in err


def test_evaluate_refuses_a_submission_with_a_well_missing(tiny_rxrx, tmp_path, capsys):
    truth = tiny_rxrx / "test_labels.csv"
    lines = truth.read_text().splitlines()
    pred = tmp_path / "sub.csv"
    pred.write_text("id_code,sirna\n" + "".join(f"{ln.split(',')[0]},0\n" for ln in lines[2:]))
    rc = main(["evaluate", "recursion", "--truth", str(truth), "--pred", str(pred)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "1 id_code(s)" in err and "have no row" in err
    pred.write_text("id_code,sirna\n" + "".join(f"{ln.split(',')[0]},{ln.split(',')[-1]}\n"
                                                 for ln in lines[1:]))  # fmt: skip
    assert main(["evaluate", "recursion", "--truth", str(truth), "--pred", str(pred)]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "accuracy 1.000000"
