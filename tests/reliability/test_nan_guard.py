"""NanGuard at the Learner level: a NaN injected at a known step is reported with that epoch
and step, the run stops, and the checkpoint on disk is the last one before the NaN."""

import pytest
import torch.nn.functional as F

from dlf import DataLoaders, DlfError, Learner, seed_everything
from dlf.train.callbacks import Checkpoint, NanGuard
from dlf.train.checkpoint import load_checkpoint_state
from tiny import TinyCNN, make_loaders


def nan_at(epoch: int, step: int, value: float):
    """cross_entropy, except that batch `step` of epoch `epoch` gives `value` (training only)."""

    def loss(pred, target):
        out = F.cross_entropy(pred, target)
        learn = loss.learn
        if learn.training and (learn.epoch, learn.iter) == (epoch, step):
            out = out * value
        return out

    return loss


@pytest.mark.parametrize("epoch,step,value", [(0, 3, float("nan")), (1, 4, float("inf"))])
def test_nan_loss_is_named_and_the_checkpoint_before_it_is_kept(tmp_path, epoch, step, value):
    seed_everything(0)
    train, valid = make_loaders()  # 6 training batches an epoch
    loss = nan_at(epoch, step, value)
    ckpt = Checkpoint(tmp_path, every_steps=2)
    learn = Learner(TinyCNN(), DataLoaders(train, valid, device="cpu"), loss, precision="fp32",
                    cbs=[ckpt, NanGuard(ckpt.state_path)], logger=lambda s: None)  # fmt: skip
    loss.learn = learn
    with pytest.raises(DlfError) as e:
        learn.fit(3, 1e-2)
    kind = "nan" if value != value else "inf"
    assert f"loss became {kind} at epoch {epoch} step {step}" in str(e.value)
    assert str(ckpt.state_path) in str(e.value)
    state = load_checkpoint_state(ckpt.state_path)
    # the last checkpoint at or before the bad step: every 2 steps, never the bad one itself
    assert (state["epoch"], state["iter"]) == (epoch, step - step % 2) or (
        step % 2 == 0 and (state["epoch"], state["iter"]) == (epoch, step)
    )
    assert all(v.isfinite().all() for v in state["model"].values())
    assert "\n" not in str(e.value)
