"""`Checkpoint`: weights and a resumable state, at epoch ends and every N steps."""

from pathlib import Path

from dlf.core.killpoint import kill_point
from dlf.train.callbacks.core import Callback, Phase, stateful_callbacks
from dlf.train.callbacks.nan_guard import NanGuard
from dlf.train.checkpoint import get_rng_state, save_checkpoint_state, save_weights


class Checkpoint(Callback):
    """Writes `folder/model.safetensors` and `folder/checkpoint/state.pt` (atomically).

    The state holds the model, optimizer, grad scaler, the gradients of a step still being
    accumulated, every RNG, the position (epoch and batches done) and each callback's own
    state, so `Learner.load_checkpoint` followed by the same `fit*` call continues the run as
    if it had never stopped.
    """

    order = Phase.SAVE  # after the recorder has closed the epoch

    def __init__(self, folder: str | Path, every_steps: int | None = None) -> None:
        self.folder, self.every_steps = Path(folder), every_steps

    @property
    def state_path(self) -> Path:
        return self.folder / "checkpoint" / "state.pt"

    def after_batch(self, learn) -> None:
        # after_batch, not after_step: the recorder (lower order) has counted this batch by now
        if (
            learn.training
            and self.every_steps
            and (learn.iter + 1) % self.every_steps == 0
            and learn.iter + 1 < learn.n_iter
        ):
            self.save(learn, learn.iter + 1)

    def after_epoch(self, learn) -> None:
        self.save(learn, len(learn.dls.train))  # checks for NaN first, then the weights
        if learn.is_main:
            save_weights(learn.model, self.folder / "model.safetensors")

    def save(self, learn, iters_done: int) -> None:
        # On every rank: a state that spans ranks (the Recorder's sums of an unfinished
        # epoch) is combined here, in a collective all of them must join.
        callbacks = {key: c.state_dict() for key, c in stateful_callbacks(learn.cbs).items()}
        if not learn.is_main:  # under torchrun, one process writes for all
            return
        kill_point("before_checkpoint", learn, iter=iters_done)
        guard = learn.cb(NanGuard)
        if guard is not None:  # never write a checkpoint with a NaN behind it
            guard.check(learn)
        state = {
            "version": 1,
            "model": learn.model.state_dict(),
            "opt": learn.opt.state_dict(),
            "scaler": learn.scaler.state_dict() if learn.scaler is not None else None,
            # gradients summed so far when a step is being accumulated (none after a step)
            "grads": {k: p.grad for k, p in learn.model.named_parameters() if p.grad is not None},
            "epoch": learn.epoch,
            "iter": iters_done,
            "n_iter": len(learn.dls.train),
            "world_size": learn.world_size,  # batches are per rank: a mid-epoch resume needs as many
            "rng": get_rng_state(),
            "epoch_rng": learn.epoch_rng,
            "callbacks": callbacks,
        }
        save_checkpoint_state(state, self.state_path)
        kill_point("after_checkpoint", learn, iter=iters_done)
