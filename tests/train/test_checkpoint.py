"""Resumable checkpoints: a run stopped anywhere and resumed ends exactly like an unbroken one."""

import pickle

import pytest
import torch
import torch.nn.functional as F

from dlf import DataLoaders, DlfError, Learner, accuracy, seed_everything
from dlf.train.callbacks import EMA, Checkpoint
from dlf.train.checkpoint import load_checkpoint_state
from tiny import TinyCNN, make_loaders


class Killed(Exception):
    """Stands in for SIGKILL: the run stops between two events, nothing more is written."""


class KillAt:
    order = 99  # after the checkpoint callback, as a real kill could come at any time later

    def __init__(self, epoch, it):
        self.epoch, self.it = epoch, it

    def after_batch(self, learn):
        if learn.training and learn.epoch == self.epoch and learn.iter == self.it:
            raise Killed


def make_learner(folder, extra=()):
    seed_everything(0)
    train, valid = make_loaders()
    cbs = [Checkpoint(folder, every_steps=2), EMA(decay=0.9), *extra]
    return Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                   metrics=[accuracy], precision="fp32", cbs=cbs, logger=lambda s: None)  # fmt: skip


def strip_time(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.mark.parametrize("kill_epoch,kill_iter", [(0, 2), (1, 4), (2, 0), (1, 1)])
def test_resume_matches_an_unbroken_run(tmp_path, kill_epoch, kill_iter):
    ref = make_learner(tmp_path / "ref")
    ref.fit_one_cycle(3, 1e-2)

    broken = make_learner(tmp_path / "run", [KillAt(kill_epoch, kill_iter)])
    with pytest.raises(Killed):
        broken.fit_one_cycle(3, 1e-2)

    resumed = make_learner(tmp_path / "run")
    resumed.load_checkpoint(tmp_path / "run" / "checkpoint" / "state.pt")
    resumed.fit_one_cycle(3, 1e-2)

    assert strip_time(resumed.recorder.values) == strip_time(ref.recorder.values)
    for (k, a), b in zip(ref.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(a, b), k


class Evil:
    def __reduce__(self):
        return (print, ("this would have run code",))


def test_checkpoint_loading_refuses_pickled_code(tmp_path):
    p = tmp_path / "state.pt"
    p.write_bytes(pickle.dumps({"model": Evil()}))
    with pytest.raises(DlfError, match="refused to load"):
        load_checkpoint_state(p)


def test_weights_are_safetensors_and_round_trip(tmp_path):
    learn = make_learner(tmp_path / "w")
    learn.fit(1, 1e-2)
    path = learn.save(tmp_path / "model.safetensors")
    assert path.read_bytes()[8:9] == b"{"  # safetensors: 8-byte header length, then JSON
    other = make_learner(tmp_path / "w2")
    other.load(path)
    for a, b in zip(learn.model.state_dict().values(), other.model.state_dict().values()):
        assert torch.equal(a, b)


def test_two_emas_each_get_their_own_average_back(tmp_path):
    """Callback states were keyed by class name, so the second EMA's average overwrote the
    first's in the checkpoint and both resumed with it. Two EMAs (keep_ema off: the model
    stays the raw one) resumed mid-run end with the averages of an unbroken run."""

    def learner(folder, extra=()):
        seed_everything(0)
        train, valid = make_loaders()
        emas = [EMA(decay=0.5, validate_ema=False, keep_ema=False),
                EMA(decay=0.99, validate_ema=False, keep_ema=False)]  # fmt: skip
        cbs = [Checkpoint(folder, every_steps=2), *emas, *extra]
        learn = Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                        precision="fp32", cbs=cbs, logger=lambda s: None)  # fmt: skip
        return learn, emas

    ref, ref_emas = learner(tmp_path / "ref")
    ref.fit_one_cycle(2, 1e-2)
    broken, _ = learner(tmp_path / "run", [KillAt(1, 2)])
    with pytest.raises(Killed):
        broken.fit_one_cycle(2, 1e-2)
    state = load_checkpoint_state(tmp_path / "run" / "checkpoint" / "state.pt")
    assert {"EMA", "EMA#2"} <= set(state["callbacks"])
    resumed, emas = learner(tmp_path / "run")
    resumed.load_checkpoint(tmp_path / "run" / "checkpoint" / "state.pt")
    resumed.fit_one_cycle(2, 1e-2)
    for got, want in zip(emas, ref_emas):
        for (k, a), b in zip(want.ema.state_dict().items(), got.ema.state_dict().values()):
            assert torch.equal(a, b), k
    assert not torch.equal(emas[0].ema.body[0].weight, emas[1].ema.body[0].weight)


def test_a_callback_that_needs_the_recorder_says_so_before_training(tmp_path):
    from dlf.train.callbacks import CSVLogger, EarlyStopping

    train, valid = make_loaders()
    for cb, who in (
        (CSVLogger(tmp_path / "m.csv"), "CSVLogger"),
        (EarlyStopping(), "EarlyStopping"),
    ):
        learn = Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                        default_cbs=False, cbs=[cb])  # fmt: skip
        with pytest.raises(DlfError, match=f"{who} reads the epoch figures of the Recorder"):
            learn.fit(1, 1e-2)
        assert learn.epoch == 0 and not (tmp_path / "m.csv").exists()
