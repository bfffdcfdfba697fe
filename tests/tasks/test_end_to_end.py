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
    assert (
        main(
            ["evaluate", task, "--truth", str(data / truth), "--pred", str(run / "submission.csv")]
        )
        == 0
    )
    last = capsys.readouterr().out.strip().splitlines()[-1]
    name, value = last.split()
    assert name in ("qwk", "dice", "accuracy")  # printed as NAME VALUE
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
