"""Gradient callbacks: clipping and accumulation."""

import torch

from dlf.train.callbacks.core import Callback, CancelStepException, Phase


class GradientClip(Callback):
    """Clip the global gradient norm to `max_norm` before each step."""

    order = Phase.MODEL

    def __init__(self, max_norm: float = 1.0) -> None:
        self.max_norm = max_norm

    def before_step(self, learn) -> None:
        learn.unscale_grads()
        torch.nn.utils.clip_grad_norm_(learn.model.parameters(), self.max_norm, foreach=True)


class GradientAccumulation(Callback):
    """Step once every `n_batches` batches, on the mean of their gradients: the same update
    as one batch `n_batches` times larger (for mean-reduced losses and equal batch sizes)."""

    # before clipping, so clipping sees the accumulated gradient only when it steps
    order = Phase.ACCUMULATE

    def __init__(self, n_batches: int = 2) -> None:
        self.n_batches = n_batches

    def steps_now(self, learn) -> bool:
        """Whether this batch ends an accumulated step (the epoch's last batch always does)."""
        return (learn.iter + 1) % self.n_batches == 0 or learn.iter + 1 == learn.n_iter

    def before_batch(self, learn) -> None:
        if learn.training:  # under DDP: average gradients across ranks only when stepping
            learn.sync_grads = self.steps_now(learn)

    def after_loss(self, learn) -> None:
        if learn.training:
            learn.loss_grad = learn.loss / self.n_batches

    def before_step(self, learn) -> None:
        if not self.steps_now(learn):
            raise CancelStepException
