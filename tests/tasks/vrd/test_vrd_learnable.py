"""The synthetic VRD data takes pixels to read relationships: the trained model (detector
plus pair and attribute heads) scores clearly above the frequency prior alone given the
very same detections, on the held-out test pictures (slow: a training run).

Reference: `submission-prior-only.csv`, which `dlf predict` writes beside the submission
from the same detections, ranked by the prior alone (prior.py, itself checked against
the counts it is made of); both scored by the metric of metric.py."""

import pytest

from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import predict, synth, train
from dlf.tasks.vrd.metric import evaluate_vrd
from dlf.tasks.vrd.task import VrdTask


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_model_beats_the_prior_on_the_same_detections(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = VrdTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    cfg = TrainConfig(task="vrd", data=str(data), out=str(run), epochs=8, size=128, seed=0)
    train(task, cfg, quiet=True)
    predict(task, run, data, run / "submission.csv")
    truth = (data / "test-vrd.csv", data / "test-vrd-labels.csv")
    model = evaluate_vrd(run / "submission.csv", *truth)
    prior = evaluate_vrd(run / "submission-prior-only.csv", *truth)
    print(
        f"test score: model {model.score:.4f}, prior alone on the same detections {prior.score:.4f}"
    )
    assert model.score >= prior.score + 0.05
    assert model.map_relationships > prior.map_relationships
