"""`TimeBudget` and `--time-budget`: training stops early enough for what follows it.

No real timing: the budget reads a pretend clock that a test callback advances by one
second per batch (training and validation alike), so every stop is worked out by hand from
the batch counts."""

import csv
import json

import pytest

from dlf import Learner
from dlf.cli import _duration, main
from dlf.tasks.base import TrainConfig
from dlf.tasks.registry import get_task
from dlf.tasks.runner import predict, train
from dlf.train import cross_entropy
from dlf.train.callbacks import Phase, TimeBudget
from tiny import TinyCNN


class PretendClock:
    """Seconds that pass only when a batch says so (one per batch)."""

    order = Phase.DATA  # ticks before TimeBudget looks at the clock

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def after_batch(self, learn) -> None:
        self.now += 1.0


def fit_with_budget(dls, seconds: float, epochs: int = 5) -> tuple[Learner, TimeBudget]:
    clock = PretendClock()
    budget = TimeBudget(seconds, reserve_passes=2.0, clock=clock)
    learn = Learner(TinyCNN(), dls, cross_entropy, cbs=[clock, budget], default_cbs=False)
    learn.fit(epochs, 1e-3)
    return learn, budget


def test_stops_at_the_epoch_whose_successor_would_not_fit(dls):
    t, v = len(dls.train), len(dls.valid)
    epoch = t + v  # seconds per epoch on the pretend clock
    # by hand: after epoch 1, left = 2.5 epochs - 1 epoch = 1.5 epochs >= one more: go on;
    # after epoch 2, 0.5 epoch left < one epoch: stop. 2 x v is the reserve for predictions.
    learn, budget = fit_with_budget(dls, 2.5 * epoch + 2 * v)
    assert budget.stopped_after == "epoch 2"
    assert learn.epoch == 1  # 0-based: the second epoch was the last
    unbounded, budget = fit_with_budget(dls, 1e9)
    assert budget.stopped_after is None and unbounded.epoch == 4


def test_stops_mid_epoch_when_the_clock_runs_out(dls):
    # no validation pass measured yet, so no reserve: step 3 ends at second 3 = the budget
    learn, budget = fit_with_budget(dls, 3.0)
    assert budget.stopped_after == "epoch 1 step 3 (mid-epoch)"
    assert learn.epoch == 0 and learn.iter == 2


@pytest.mark.parametrize(
    "text, seconds", [("8h", 28800), ("1h30m", 5400), ("90m", 5400), ("45s", 45), ("600", 600)]
)
def test_durations(text, seconds):
    assert _duration(text) == seconds


@pytest.mark.parametrize("bad", ["8x", "", "h", "0h", "-5"])
def test_a_bad_duration_is_one_line_and_status_2(bad, capsys):
    assert main(["train", "aptos", "--time-budget", bad]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--time-budget" in err


def test_a_run_stopped_by_its_budget_still_predicts_a_valid_submission(tmp_path, monkeypatch):
    """A kernel killed at its limit loses everything; a budgeted run stops after one step and
    still writes config.json, the weights and a submission with every test id."""
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task = get_task("aptos")
    main(["synth", "aptos", str(tmp_path / "data"), "--n", "40", "--seed", "1"])
    ticks = iter(range(10**6))  # a clock that moves one second per reading

    def clock():
        return float(next(ticks))

    cfg = TrainConfig(task="aptos", data=str(tmp_path / "data"), out=str(tmp_path / "run"),
                      epochs=3, size=32, bs=8, seed=0)  # fmt: skip
    # by hand: start reads 0, the epoch's start 1, the first step's check 2 > 1 s: stop there
    result = train(task, cfg, quiet=True, time_budget=1.0, clock=clock)
    assert result["time_budget"] == {"seconds": 1.0, "stopped_after": "epoch 1 step 1 (mid-epoch)"}
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["time_budget"]["stopped_after"].startswith("epoch 1")
    assert "postprocess" in saved and (tmp_path / "run" / "model.safetensors").is_file()
    out = predict(task, tmp_path / "run", None, None)
    with open(out) as f:
        rows = list(csv.reader(f))
    with open(tmp_path / "data" / "test.csv") as f:
        test_ids = [r[0] for r in list(csv.reader(f))[1:]]
    assert rows[0] == ["id_code", "diagnosis"] and [r[0] for r in rows[1:]] == test_ids
    assert {r[1] for r in rows[1:]} <= set("01234")
