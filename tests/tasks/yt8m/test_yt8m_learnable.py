"""The synthetic YouTube-8M data takes a model to read: the default run beats both trivial
rules (per-video prior, segment mean feature against the class centroid) by far on the same
held-out validate videos, and scores on the test labels it never saw (slow: a full default
run, about a minute on 2 cores)."""

import pytest

from dlf.tasks.base import TrainConfig
from dlf.tasks.compose import context
from dlf.tasks.runner import evaluate, predict, synth, train
from dlf.tasks.yt8m.task import Yt8mTask
from tasks.yt8m.trivial import trivial_maps


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_trained_model_beats_the_trivial_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = Yt8mTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    result = train(task, TrainConfig(task="yt8m", data=str(data), out=str(run)), quiet=True)
    model_map = result["valid"]["map"]
    cfg = TrainConfig(task="yt8m", data=str(data)).fill_defaults(task.defaults)
    trivial = trivial_maps(task, context(task, cfg, data, lambda *a: None))
    sub = predict(task, run, None, None)
    test_map = evaluate(task, sub, truth=data / "test_labels.csv")
    print(f"validation MAP: model {model_map:.4f}, trivial {trivial}; test MAP {test_map:.4f}")
    assert max(trivial.values()) < 0.5
    assert model_map > max(trivial.values()) + 0.2
    assert test_map > max(trivial.values()) + 0.15
