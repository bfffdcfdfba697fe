"""The synthetic Open Images data takes a detector to read: the default FCOS run beats, on
held-out test images, two rules that look at no pixel but are told which classes each image
contains (the answer key's verified labels): one whole-image box per class, and the class's
most typical training boxes (slow: a full default training run)."""

import csv

import pytest

from dlf.tasks.base import TrainConfig
from dlf.tasks.oid.metric import evaluate_oid
from dlf.tasks.oid.task import CLASSES, HIERARCHY, OidTask, box_file
from dlf.tasks.runner import predict, synth, train
from tasks.oid.trivial import prior_boxes_submission, trivial_submission


def _write(path, rows):
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows([["ImageId", "PredictionString"], *rows])
    return path


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_trained_detector_beats_the_pixel_blind_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = OidTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    train(task, TrainConfig(task="oid", data=str(data), out=str(run)), quiet=True)
    predict(task, run, data, run / "submission.csv", tta=task.defaults["tta"])
    truth = (data / "test-detection-bbox.csv", data / "test-detection-human-imagelabels.csv",
             data / HIERARCHY, data / CLASSES)  # fmt: skip
    model = evaluate_oid(run / "submission.csv", *truth).map
    labels = data / "test-detection-human-imagelabels.csv"
    whole = _write(tmp_path / "whole.csv", trivial_submission(data / "test", labels))
    prior = _write(tmp_path / "prior.csv",
                   prior_boxes_submission(data / "test", labels, data / box_file("train")))  # fmt: skip
    whole_map, prior_map = evaluate_oid(whole, *truth).map, evaluate_oid(prior, *truth).map
    print(f"test map: FCOS {model:.4f}, typical boxes of the verified classes {prior_map:.4f}, "
          f"whole-image boxes {whole_map:.4f}")  # fmt: skip
    assert model >= max(prior_map, whole_map) + 0.15
