"""A checkpoint saved mid-epoch by N processes counts batches of N ranks: resumed by another
number of processes it would cover other rows, so it is refused; an epoch-end one resumes
with any number (its next epoch starts from the saved random state). Reference: the rows a
mid-epoch position stands for, worked by hand in the message."""

import pytest
import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.data.loaders import DataLoaders
from dlf.train.callbacks import Checkpoint
from dlf.train.checkpoint import load_checkpoint_state, save_checkpoint_state
from dlf.train.learner import Learner
from tiny import TinyCNN, make_loaders


def learner(tmp_path) -> Learner:
    torch.manual_seed(0)
    train, valid = make_loaders()
    return Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                   precision="fp32", cbs=[Checkpoint(tmp_path)],
                   logger=lambda m: None)  # fmt: skip


def saved_by_two(path, **changes) -> None:
    state = load_checkpoint_state(path)
    state.update(world_size=2, **changes)
    save_checkpoint_state(state, path)


def test_a_mid_epoch_checkpoint_of_two_processes_is_refused_by_one(tmp_path):
    learner(tmp_path).fit(1, 1e-2)
    path = tmp_path / "checkpoint" / "state.pt"
    state = load_checkpoint_state(path)
    assert state["world_size"] == 1 and state["iter"] == state["n_iter"] == 5  # 72 rows / 16
    saved_by_two(path, iter=2)  # as if saved after 2 of the 5 batches
    with pytest.raises(DlfError, match=r"saved mid-epoch by 2 process.*resume it with 2"):
        learner(tmp_path).load_checkpoint(path)


def test_an_epoch_end_checkpoint_of_two_processes_resumes_with_one(tmp_path):
    learner(tmp_path).fit(1, 1e-2)
    path = tmp_path / "checkpoint" / "state.pt"
    saved_by_two(path)
    resume = learner(tmp_path).load_checkpoint(path)
    assert (resume.epoch, resume.iter) == (1, 0)
