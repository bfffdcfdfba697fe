"""docs/tasks/your-own-project.md, run as a member would: the example competition in
examples/dots_task.py goes through synth, train, predict and evaluate from its own folder
with no edit of dlf (the task named as MODULE:CLASS), and its metric is checked against a
hand computation of the RMSE."""

import math
import os
from pathlib import Path

import pytest

from dlf.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TASK = "dots_task:DotsTask"
TINY = ["--size", "32", "--bs", "16", "--arch", "lenet", "--epochs", "2", "--seed", "0"]


@pytest.fixture
def in_examples(monkeypatch, tmp_path):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(EXAMPLES)


def test_the_example_task_runs_end_to_end_from_its_folder(in_examples, tmp_path, capsys):
    data, run = tmp_path / "dots", tmp_path / "run"
    assert main(["synth", TASK, str(data), "--n", "64"]) == 0
    assert main(["train", TASK, "--data", str(data), "--out", str(run), *TINY]) == 0
    assert main(["predict", TASK, "--run", str(run)]) == 0
    sub = (run / "submission.csv").read_text().splitlines()
    test_ids = (data / "test.csv").read_text().splitlines()[1:]
    assert sub[0] == "image_id,count" and [r.split(",")[0] for r in sub[1:]] == test_ids
    capsys.readouterr()
    truth = data / "test_labels.csv"
    assert (
        main(["evaluate", TASK, "--truth", str(truth), "--pred", str(run / "submission.csv")]) == 0
    )
    printed = float(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    t = dict(r.split(",") for r in truth.read_text().splitlines()[1:])
    p = dict(r.split(",") for r in sub[1:])
    hand = math.sqrt(sum((int(t[k]) - int(p[k])) ** 2 for k in t) / len(t))
    assert printed == pytest.approx(hand, abs=1e-6)


def test_a_task_that_is_not_there_is_one_line(in_examples, capsys):
    assert main(["synth", "no_such_module:Task", os.devnull]) == 2
    assert "no module 'no_such_module'" in capsys.readouterr().err
    assert main(["synth", "dots_task:Nope", os.devnull]) == 2
    assert "dots_task has no Task subclass named 'Nope'" in capsys.readouterr().err
