"""The oid task's own refusals and its prediction-side helpers. References: the files as
written by the generator; the metric of metric.py for the ancestor copies."""

import numpy as np
import torch

from dlf.cli import main
from dlf.tasks.oid.predict import PAD, expand_to_ancestors, merge_passes, pad_detections
from dlf.tasks.oid.synth import synth_oid


def test_an_image_named_in_the_csv_but_missing_is_refused_in_one_line(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    data, run = tmp_path / "data", tmp_path / "run"
    synth_oid(data, n=12, n_test=2, seed=0)
    victim = sorted((data / "train").glob("*.jpg"))[3]
    victim.unlink()
    rc = main(["train", "oid", "--data", str(data), "--out", str(run), "--epochs", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1
    assert str(victim) in err[0] and "challenge-2019-train-detection-bbox.csv" in err[0]
    assert sorted(p.name for p in run.iterdir()) == ["log.txt"]  # nothing but the log


def test_a_box_outside_the_image_is_refused_with_its_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    data = tmp_path / "data"
    synth_oid(data, n=12, n_test=2, seed=0)
    csv = data / "challenge-2019-train-detection-bbox.csv"
    lines = csv.read_text().splitlines()
    fields = lines[2].split(",")
    fields[5] = "1.25"  # XMax
    lines[2] = ",".join(fields)
    csv.write_text("\n".join(lines) + "\n")
    rc = main(
        ["train", "oid", "--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "line 3" in err[0] and csv.name in err[0]


def test_ancestor_copies_keep_the_box_and_score_and_are_suppressed_per_class():
    """Classes 0 and 1 are children of 2: an Apple and a Lemon on one object become ONE
    Fruit (the better-scoring copy); a far-away Apple gives a second Fruit."""
    ancestors = [[2], [2], []]
    rows = np.array([[0.1, 0.1, 0.5, 0.5, 0.9, 0], [0.1, 0.1, 0.5, 0.52, 0.6, 1],
                     [0.6, 0.6, 0.9, 0.9, 0.4, 0]])  # fmt: skip
    out = expand_to_ancestors(rows, ancestors, iou=0.5)
    fruit = out[out[:, 5] == 2]
    assert len(out) == 5 and len(fruit) == 2
    np.testing.assert_allclose(fruit[:, :5], rows[[0, 2], :5])
    assert list(out[:, 4]) == sorted(out[:, 4], reverse=True)  # best first


def test_tta_passes_are_merged_by_per_class_nms_and_padding_is_dropped():
    a = pad_detections([(torch.tensor([[0.0, 0, 10, 10]]), torch.tensor([0.9]), torch.tensor([1])),
                        (torch.zeros(0, 4), torch.zeros(0), torch.zeros(0))])  # fmt: skip
    b = pad_detections([(torch.tensor([[1.0, 0, 10, 10], [0, 0, 10, 10]]), torch.tensor([0.8, 0.7]), torch.tensor([1, 2])),
                        (torch.tensor([[5.0, 5, 9, 9]]), torch.tensor([0.5]), torch.tensor([3]))])  # fmt: skip
    merged = merge_passes([a, b], iou=0.5, top_k=10)
    first = merged[0][merged[0][:, 4] > PAD]
    # class 1: the 0.8 box overlaps the 0.9 one (IoU 0.9) and goes; class 2 stays
    assert first[:, 4].tolist() == [0.8999999761581421, 0.699999988079071]
    assert first[:, 5].tolist() == [1.0, 2.0]
    second = merged[1][merged[1][:, 4] > PAD]
    assert second[:, 5].tolist() == [3.0]
