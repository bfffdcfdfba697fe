"""Every task from `dlf synth` to `dlf evaluate` through the real command line, on tiny data."""

import csv
import json

import pytest

from dlf.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))


def run_flow(tmp_path, capsys, task, n, train_args, truth, tta="2"):
    data, run = tmp_path / "data", tmp_path / "run"
    assert main(["synth", task, str(data), "--n", str(n), "--seed", "1"]) == 0
    assert (
        main(
            [
                "train",
                task,
                "--data",
                str(data),
                "--out",
                str(run),
                "--epochs",
                "1",
                "--seed",
                "0",
                *train_args,
            ]
        )
        == 0
    )
    for name in ("config.json", "metrics.csv", "model.safetensors", "report.html", "log.txt"):
        assert (run / name).is_file(), name
    assert (run / "checkpoint" / "state.pt").is_file()
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["config"]["task"] == task and "postprocess" in cfg
    assert main(["predict", task, "--run", str(run), "--tta", tta]) == 0
    capsys.readouterr()
    # the task's truth inputs: one answer key (--truth FILE) or several {option: file}
    truth = {"truth": truth} if isinstance(truth, str) else truth
    truth_args = [a for k, f in truth.items() for a in (f"--{k}", str(data / f))]
    assert main(["evaluate", task, *truth_args, "--pred", str(run / "submission.csv")]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    name, value = last.split()
    assert name in ("qwk", "dice", "accuracy", "map", "score")  # printed as NAME VALUE
    assert len(value.split(".")[1]) >= 6
    return data, run, float(value)


def test_aptos_flow(tmp_path, capsys):
    data, run, qwk = run_flow(
        tmp_path,
        capsys,
        "aptos",
        40,
        ["--size", "32", "--bs", "8", "--arch", "resnet18"],
        "test_labels.csv",
    )
    assert -1 <= qwk <= 1
    with open(run / "submission.csv") as f:
        rows = list(csv.reader(f))
    with open(data / "test.csv") as f:
        test_ids = [r[0] for r in list(csv.reader(f))[1:]]
    assert rows[0] == ["id_code", "diagnosis"]
    assert [r[0] for r in rows[1:]] == test_ids  # one row per test id, in test.csv order
    assert {r[1] for r in rows[1:]} <= set("01234")


def test_siim_flow(tmp_path, capsys):
    _, run, dice = run_flow(
        tmp_path,
        capsys,
        "siim",
        12,
        ["--size", "64", "--bs", "4", "--arch", "unet_resnet18"],
        "test-rle-truth.csv",
    )
    assert 0 <= dice <= 1
    header = (run / "submission.csv").read_text().splitlines()[0]
    assert header == "ImageId,EncodedPixels"


def test_folder_flow(tmp_path, capsys):
    _, _, acc = run_flow(
        tmp_path,
        capsys,
        "folder",
        30,
        ["--size", "32", "--bs", "8", "--arch", "resnet18"],
        "test_labels.csv",
        tta="1",
    )
    assert 0 <= acc <= 1


def test_oid_flow(tmp_path, capsys):
    truth = {"truth-boxes": "test-detection-bbox.csv", "truth-labels": "test-detection-human-imagelabels.csv",
             "hierarchy": "challenge-2019-label500-hierarchy.json",
             "classes": "challenge-2019-classes-description-500.csv"}  # fmt: skip
    data, run, mAP = run_flow(tmp_path, capsys, "oid", 40, ["--size", "64", "--bs", "8"], truth)
    assert 0 <= mAP <= 1
    with open(run / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "PredictionString"]
    assert [r[0] for r in rows[1:]] == sorted(p.stem for p in (data / "test").glob("*.jpg"))
    for _, text in rows[1:]:  # LabelName Confidence XMin YMin XMax YMax, repeated
        fields = text.split()
        assert len(fields) % 6 == 0
        for j in range(0, len(fields), 6):
            x1, y1, x2, y2 = map(float, fields[j + 2 : j + 6])
            assert fields[j].startswith("/m/") and 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1


def test_vrd_flow(tmp_path, capsys):
    truth = {"truth": "test-vrd.csv", "truth-labels": "test-vrd-labels.csv"}
    data, run, score = run_flow(tmp_path, capsys, "vrd", 24, ["--size", "64", "--bs", "8"], truth)
    assert 0 <= score <= 1
    with open(run / "submission.csv") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["ImageId", "PredictionString"]
    assert [r[0] for r in rows[1:]] == sorted(p.stem for p in (data / "test").glob("*.jpg"))
    relationships = {"at", "on", "holds", "plays", "interacts_with", "wears", "is", "inside_of",
                     "under", "hits"}  # fmt: skip
    for _, text in rows[1:]:  # Confidence L1 box1 L2 box2 Relationship, repeated; <= 100
        fields = text.split()
        assert len(fields) % 12 == 0 and len(fields) // 12 <= 100
        for j in range(0, len(fields), 12):
            t = fields[j : j + 12]
            assert t[1].startswith("/m/") and t[6].startswith("/m/") and t[11] in relationships
            for x1, y1, x2, y2 in (map(float, t[2:6]), map(float, t[7:11])):
                assert 0 <= x1 <= x2 <= 1 and 0 <= y1 <= y2 <= 1
            if t[11] == "is":
                assert t[2:6] == t[7:11]  # an attribute describes one box


def test_vrd_disallowed_training_triplet(tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["synth", "vrd", str(data), "--n", "6", "--seed", "1"]) == 0
    train_csv = data / "challenge-2019-train-vrd.csv"
    lines = train_csv.read_text().splitlines()
    fields = lines[1].split(",")
    fields[11] = "hits" if fields[11] != "hits" else "plays"  # no synth triplet is (.., hits/plays)
    lines[1] = ",".join(fields)
    train_csv.write_text("\n".join(lines) + "\n")
    capsys.readouterr()
    args = ["train", "vrd", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert main([*args, "--size", "32"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "line 2" in err[0] and "allowed triplets" in err[0]
    assert not (tmp_path / "run" / "model.safetensors").exists()
