"""The default recipe on the embedded synthetic RxRx1 (slow: the `dlf train recursion` run):
the trained model beats the trivial rule (nearest class mean of per-channel statistics) by
far on the held-out test experiments, and per-experiment normalisation helps even the
trivial rule there (the batch effect is what it removes)."""

import pytest

from dlf.cli import main
from dlf.tasks.recursion.files import accuracy_of_files
from dlf.tasks.registry import get_task
from dlf.tasks.runner import synth
from tasks.recursion.trivial import trivial_test_accuracy


@pytest.mark.slow
def test_trained_model_beats_the_trivial_rule_by_far(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task = get_task("recursion")
    data = tmp_path / "data"
    synth(task, data, task.synth_n, seed=0)
    raw, normalised = trivial_test_accuracy(data, False), trivial_test_accuracy(data, True)
    chance = 1 / 40  # 40 siRNAs
    assert normalised > raw + 0.04  # normalisation per experiment matters on new experiments
    run = tmp_path / "run"
    assert main(["train", "recursion", "--data", str(data), "--out", str(run)]) == 0
    assert main(["predict", "recursion", "--run", str(run)]) == 0
    model = accuracy_of_files(data / "test_labels.csv", run / "submission.csv")
    assert model > max(2 * normalised, normalised + 0.25, 10 * chance)
