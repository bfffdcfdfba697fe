"""Resume in-process, in milliseconds: a Learner stopped right after a checkpoint and rebuilt
from it ends exactly like an unbroken run, also when resumed twice or between the batches
of an accumulated step. (test_kill_resume.py does the same with real SIGKILLs through the
CLI; the reference here is the unbroken run of the same Learner.)"""

import pytest
import torch
import torch.nn.functional as F

from dlf import DataLoaders, Learner, accuracy, seed_everything
from dlf.train.callbacks import Checkpoint, GradientAccumulation
from tiny import TinyCNN, make_loaders


class Stopped(Exception):
    """Stands in for SIGKILL: the run stops between two events, nothing more is written."""


class StopAt:
    """Stop after the checkpoint of training batch `it` of `epoch` (it=None: of the epoch end)."""

    order = 99  # after Checkpoint (80)

    def __init__(self, epoch: int, it: int | None) -> None:
        self.epoch, self.it = epoch, it

    def after_batch(self, learn) -> None:
        if learn.training and (learn.epoch, learn.iter) == (self.epoch, self.it):
            raise Stopped

    def after_epoch(self, learn) -> None:
        if self.it is None and learn.epoch == self.epoch:
            raise Stopped


def learner(folder, extra=()) -> Learner:
    seed_everything(0)
    train, valid = make_loaders()  # a shuffling torch DataLoader: its order comes from the RNG
    cbs = [Checkpoint(folder, every_steps=1), *extra]
    return Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                   metrics=[accuracy], precision="fp32", cbs=cbs, logger=lambda s: None)  # fmt: skip


def run_with_stops(folder, stops, extra=lambda: []) -> Learner:
    """Stop at each of `stops` in turn, rebuilding the learner from the checkpoint each time."""
    for i, stop in enumerate([*stops, None]):
        learn = learner(folder, [*extra(), *([stop] if stop else [])])
        if i > 0:
            learn.load_checkpoint(folder / "checkpoint" / "state.pt")
        try:
            learn.fit_one_cycle(3, 1e-2)
        except Stopped:
            continue
    return learn


def result(learn: Learner) -> tuple[list[dict], dict]:
    rows = [{k: v for k, v in r.items() if k != "seconds"} for r in learn.recorder.values]
    return rows, learn.model.state_dict()


def assert_same(ref: tuple[list[dict], dict], learn: Learner) -> None:
    rows, weights = result(learn)
    assert rows == ref[0]
    for k, w in ref[1].items():
        assert torch.equal(w, weights[k]), k


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[list[dict], dict]:
    ref = learner(tmp_path_factory.mktemp("ref"))
    ref.fit_one_cycle(3, 1e-2)
    return result(ref)


@pytest.mark.parametrize(
    "stops",
    [
        [StopAt(0, None), StopAt(1, 1)],  # issue 12: the second resume redrew epoch 0's order
        [StopAt(0, 2), StopAt(1, None), StopAt(2, 2)],
    ],
    ids=["epoch-end-then-mid-epoch", "mid-end-mid"],
)
def test_resumed_several_times_matches_an_unbroken_run(tmp_path, reference, stops):
    assert_same(reference, run_with_stops(tmp_path / "run", stops))


def test_resumed_between_the_batches_of_an_accumulated_step_matches(tmp_path):
    """A checkpoint after the first batch of an accumulated step must keep its gradients."""
    extra = lambda: [GradientAccumulation(2)]  # noqa: E731
    ref = learner(tmp_path / "ref", extra())
    ref.fit_one_cycle(3, 1e-2)
    assert_same(result(ref), run_with_stops(tmp_path / "run", [StopAt(1, 0)], extra))
