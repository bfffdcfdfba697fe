"""The synthetic VRD data takes pixels to read relationships (slow: a training run, run B
of docs/tasks/vrd.md). Reference: the frequency prior alone (prior.py, checked against its
counts) on the same boxes, both scored by metric.py:

- on the validation images' truth boxes, the trained heads score far above the prior;
- on the held-out test pictures, the model's submission scores above
  `submission-prior-only.csv`, which `dlf predict` writes from the very same detections."""

import pytest

from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import predict, synth, train
from dlf.tasks.vrd.metric import evaluate_vrd
from dlf.tasks.vrd.task import VrdTask
from dlf.tasks.vrd.truth_boxes import heads_on_truth_boxes


@pytest.mark.slow
@pytest.mark.timeout(3600)
def test_model_beats_the_prior_on_the_same_detections(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = VrdTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    cfg = TrainConfig(task="vrd", data=str(data), out=str(run), epochs=8, size=128, seed=0)
    train(task, cfg, quiet=True)  # run B of docs/tasks/vrd.md
    heads, prior_on_truth = heads_on_truth_boxes(run)
    print(f"validation, truth boxes: heads {heads.score:.4f}, prior {prior_on_truth.score:.4f}")
    assert heads.score >= prior_on_truth.score + 0.15  # 8 epochs at 128 px: 0.9656 vs 0.6266
    predict(task, run, data, run / "submission.csv")
    truth = (data / "test-vrd.csv", data / "test-vrd-labels.csv")
    model = evaluate_vrd(run / "submission.csv", *truth)
    prior = evaluate_vrd(run / "submission-prior-only.csv", *truth)
    print(
        f"test score: model {model.score:.4f}, prior alone on the same detections {prior.score:.4f}"
    )
    assert model.score >= prior.score + 0.05  # 8 epochs at 128 px: 0.2345 vs 0.1392
    assert model.map_relationships > prior.map_relationships
