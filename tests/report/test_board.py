"""The board's logic on hand-made runs (no training): per-class scores against scikit-learn,
the disputed items against brute force, box agreement worked by hand, the item files, the
ranking direction, and masks and boxes drawn for every run."""

import itertools
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from dlf.core.errors import DlfError
from dlf.report.board import disagreements, per_class_f1, ranked, render_board, settings_diff
from dlf.report.items import ValidItems, box_agreement, distance, load_items, save_items
from dlf.report.runs import RunRecord, open_runs, pack_run


def record(name, items=None, score=0.5, higher=True, config=None, defaults=None):
    saved = {"valid": {"m": score}}
    board = {"higher_is_better": higher, "defaults": defaults or {}}
    return RunRecord(name, Path(name), {"task": "t", **(config or {})}, saved, [], board, items)


def label_items(true, pred, classes):
    ids = [f"i{k}" for k in range(len(true))]
    return ValidItems("label", ids, list(true), list(pred), classes=classes)


def test_per_class_f1_matches_sklearn():
    rng = np.random.default_rng(0)
    classes = ["a", "b", "c", "d"]
    true = rng.choice(classes[:3], 200).tolist()  # "d" never true
    pred = rng.choice(classes, 200).tolist()
    ours = per_class_f1(label_items(true, pred, classes))
    ref = f1_score(true, pred, labels=classes, average=None, zero_division=0)
    for o, r in zip(ours, ref):
        assert o == pytest.approx(r)
    # a class neither true nor predicted has no F1 (sklearn's 0 would read as a failure)
    assert per_class_f1(label_items(["a"], ["a"], ["a", "b"])) == [1.0, None]


def test_disputed_items_match_brute_force():
    rng = np.random.default_rng(1)
    n, classes = 60, ["0", "1", "2"]
    truth = rng.choice(classes, n).tolist()
    preds = [rng.choice(classes, n).tolist() for _ in range(3)]
    runs = [record(f"r{k}", label_items(truth, p, classes)) for k, p in enumerate(preds)]
    ids = runs[0].items.ids
    got = disagreements(runs, ids, top=n)
    # brute force: the share of the 3 pairs of runs that differ on the item
    want = {}
    for k, i in enumerate(ids):
        pairs = [a[k] != b[k] for a, b in itertools.combinations(preds, 2)]
        if any(pairs):
            want[i] = sum(pairs) / 3
    assert {i: s for i, s in got} == pytest.approx(want)
    assert [s for _, s in got] == sorted((s for _, s in got), reverse=True)  # most disputed first
    assert len(disagreements(runs, ids, top=5)) == 5


def test_box_agreement_by_hand():
    cat = [0, 0, 0.5, 0.5, "cat"]
    dog = [0.5, 0.5, 1, 1, "dog"]
    assert box_agreement([cat], [cat, dog]) == pytest.approx(2 / 3)  # 1 match of 3 boxes
    assert box_agreement([cat], [[0, 0, 0.5, 0.5, "dog"]]) == 0  # same place, another name
    # IoU of [0,0,.5,.5] and [.25,0,.75,.5]: overlap .125, union .375 -> 1/3 < 0.5
    assert box_agreement([cat], [[0.25, 0, 0.75, 0.5, "cat"]]) == 0
    assert box_agreement([], []) == 1.0
    assert distance("tags", ["a", "b"], ["b", "c"]) == pytest.approx(1 - 1 / 3)  # Jaccard
    a, b = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    a[:2], b[1:3] = True, True  # IoU: 4 shared of 12 pixels
    assert distance("mask", a, b) == pytest.approx(1 - 4 / 12)


def test_items_round_trip_through_the_run_folder(tmp_path):
    rng = np.random.default_rng(2)
    masks = rng.random((3, 5, 13)) > 0.5  # a width that is not a multiple of 8 (packbits)
    items = ValidItems("mask", ["a", "b", "c"], [None] * 3, [None] * 3, true_masks=masks,
                       pred_masks=~masks, images={"b": rng.integers(0, 255, (5, 13, 3), np.uint8)},
                       note=["x", "y", "z"])  # fmt: skip
    save_items(tmp_path, items)
    back = load_items(tmp_path)
    assert back.kind == "mask" and back.ids == items.ids and back.note == items.note
    assert np.array_equal(back.true_masks, masks) and np.array_equal(back.pred_masks, ~masks)
    assert np.array_equal(back.images["b"], items.images["b"]) and list(back.images) == ["b"]
    with pytest.raises(DlfError, match="one of each per item"):
        ValidItems("label", ["a"], [], ["x"])


def test_ranking_respects_the_metric_direction():
    runs = [record("a", score=0.3), record("b", score=0.9), record("c", score=float("nan"))]
    assert [r.name for r in ranked(runs)] == ["b", "a", "c"]
    errors = [record(n, score=s, higher=False) for n, s in (("a", 0.3), ("b", 0.9))]
    assert [r.name for r in ranked(errors)] == ["a", "b"]


def test_settings_diff_names_defaults_and_own_parts():
    defaults = {"lr": 0.001, "size": 128, "options": {"head": "regression"}}
    a = record(
        "a", config={"lr": 0.001, "size": 64, "options": {"head": "regression"}}, defaults=defaults
    )
    b = record("b", config={"lr": 0.003, "size": 64, "options": {"head": "ordinal"},
                            "use": ["loss=/home/ben/week4/mine.py:Focal", "week2.py:Data"]}, defaults=defaults)  # fmt: skip
    head, rows = settings_diff([a, b])
    assert head == ["setting", "a", "b"]
    assert rows == [["peak learning rate", "0.001 (default)", "0.003"],
                    ["option head", "regression (default)", "ordinal"],
                    ["member's own parts", "dlf's own", "loss: mine.py:Focal; week2.py:Data"]]  # fmt: skip


def test_masks_and_boxes_are_drawn_for_every_run():
    """No task here at all: two kinds of items, each run's prediction drawn once per item."""
    rng = np.random.default_rng(3)
    img = {f"i{k}": rng.integers(0, 255, (24, 24), np.uint8) for k in range(4)}
    true = np.zeros((4, 24, 24), bool)
    true[:, 4:12, 4:12] = True
    runs = []
    for k in range(3):
        pred = true.copy()
        pred[k, :, :] = ~pred[k]  # run k gets item k badly wrong
        items = ValidItems(
            "mask", list(img), [None] * 4, [None] * 4, images=img, true_masks=true, pred_masks=pred
        )
        runs.append(record(f"seg{k}", items))
    boxes_truth = [[[0.1, 0.1, 0.5, 0.5, "cat"]]] * 4
    boxes_runs = []
    for k in range(2):
        pred = [list(b) for b in boxes_truth]
        pred[3] = [[0.5, 0.5, 0.9, 0.9, "dog"]] if k else pred[3]  # the runs differ on i3 only
        items = ValidItems("boxes", list(img), boxes_truth, pred, images=img)
        boxes_runs.append(record(f"det{k}", items, config={"task": "det"}))
    page, md, _ = render_board([*runs, *boxes_runs])
    seg, det = page.split("det: leaderboard")
    # masks: the three items one run got wrong, nothing else; boxes: i3 only
    assert sorted(seg.split('<div class="item"><b>')[k][:2] for k in range(1, 4)) == [
        "i0",
        "i1",
        "i2",
    ]
    assert det.count('<div class="item">') == 1 and '<div class="item"><b>i3</b>' in det
    assert "seg0" in page and "det1" in page and "## det: leaderboard" in md


def test_pack_and_read_back(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoint").mkdir(parents=True)
    (run / "checkpoint" / "state.pt").write_bytes(b"x" * 100)
    (run / "config.json").write_text(
        json.dumps({"config": {"task": "t", "who": "ana"}, "valid": {"m": 1.0}})
    )
    (run / "metrics.csv").write_text("epoch,train_loss,valid_loss,m,seconds\n0,1.0,0.9,1.0,2.0\n")
    (run / ".config.json.tmp").write_text("half")  # an interrupted write is not packed
    z = pack_run(run, tmp_path / "ana.zip")
    assert sorted(zipfile.ZipFile(z).namelist()) == ["run/config.json", "run/metrics.csv"]
    with open_runs([z, run]) as (packed, folder):
        assert packed.who == folder.who == "ana" and packed.rows == folder.rows
    with pytest.raises(DlfError, match="inside the run"):
        pack_run(run, run / "x.zip")
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    (unfinished / "config.json").write_text(json.dumps({"config": {"task": "t"}}))
    with pytest.raises(DlfError, match="did not finish"):
        pack_run(unfinished)
