"""`dlf train|predict|evaluate recursion` end to end on a tiny synthetic set (one short epoch):
the submission has one row per test.csv well in its order, each siRNA at most once per plate
(the plate assignment), and the report has the per-cell-type table and false-colour sites."""

import csv

from dlf.cli import main
from dlf.tasks.recursion import read_split


def test_train_predict_evaluate(tiny_rxrx, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    run = tmp_path / "run"
    argv = ["train", "recursion", "--data", str(tiny_rxrx), "--out", str(run), "--epochs", "1",
            "--size", "32", "--bs", "16", "--tta", "2", "--precision", "fp32"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "held-out experiments" in out and "assignment=group" in out
    report = (run / "report.html").read_text()
    assert "Validation accuracy per cell type" in report and "false colour" in report
    assert main(["predict", "recursion", "--run", str(run)]) == 0
    with open(run / "submission.csv") as f:
        rows = list(csv.DictReader(f))
    test = [w for w in read_split(tiny_rxrx, "test") if not w.control]
    assert [r["id_code"] for r in rows] == [w.id_code for w in test]
    per_plate = {}
    for r, w in zip(rows, test):
        per_plate.setdefault((w.experiment, w.plate), []).append(r["sirna"])
    assert all(len(set(v)) == len(v) for v in per_plate.values())
    capsys.readouterr()
    assert main(["evaluate", "recursion", "--truth", str(tiny_rxrx / "test_labels.csv"),
                 "--pred", str(run / "submission.csv")]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("accuracy ")
