"""The default recipe on the embedded synthetic RxRx1 (slow: two `dlf train recursion` runs):
on the held-out test experiments the trained model beats the trivial rule (nearest class mean
of per-channel statistics, raw or normalised per experiment) by far, and the same recipe
without per-experiment normalisation (`normalize=off`) falls far behind: the batch effect of
a new experiment is what the normalisation removes."""

import pytest

from dlf.cli import main
from dlf.tasks.recursion.files import accuracy_of_files
from dlf.tasks.registry import get_task
from dlf.tasks.runner import synth
from tasks.recursion.trivial import trivial_test_accuracy


@pytest.mark.slow
def test_trained_model_beats_the_trivial_rule_and_needs_normalisation(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task = get_task("recursion")
    data = tmp_path / "data"
    synth(task, data, task.synth_n, seed=0)
    trivial = max(trivial_test_accuracy(data, False), trivial_test_accuracy(data, True))
    scores = {}
    for normalize in ("experiment", "off"):
        run = tmp_path / normalize
        argv = ["train", "recursion", "--data", str(data), "--out", str(run), "--option",
                f"normalize={normalize}"]  # fmt: skip
        assert main(argv) == 0
        assert main(["predict", "recursion", "--run", str(run)]) == 0
        scores[normalize] = accuracy_of_files(data / "test_labels.csv", run / "submission.csv")
    assert scores["experiment"] > max(3 * trivial, trivial + 0.15)
    assert scores["experiment"] > scores["off"] + 0.1
