"""`NanGuard`: stop a run whose loss became NaN or infinite, keeping the last good checkpoint.

Checking `loss.isfinite()` on the host every step would sync the device every step. The
guard instead keeps two small device tensors, updated without a sync: the step of the first
non-finite loss (-1 while there is none) and that loss. The host looks at them only when
numbers are read anyway: at the end of each training phase, and just before a checkpoint is
written (`Checkpoint.save` calls `check`). A checkpoint is never written with a non-finite
loss behind it or with non-finite weights, so the last one on disk is the last good one.
"""

from pathlib import Path

import torch

from dlf.core.errors import DlfError
from dlf.train.callbacks.core import Callback, Phase


class NanGuard(Callback):
    order = Phase.GUARD  # before the Recorder closes the epoch with a NaN row

    def __init__(self, checkpoint_path: str | Path | None = None) -> None:
        self.checkpoint_path = None if checkpoint_path is None else Path(checkpoint_path)
        self.first_bad: torch.Tensor | None = None  # set by before_train

    def before_train(self, learn) -> None:
        self.first_bad = torch.full((), -1, dtype=torch.long, device=learn.device)
        self.bad_loss = torch.zeros((), device=learn.device)

    def after_loss(self, learn) -> None:
        if not learn.training:
            return
        loss = learn.loss.detach().float()
        new = (self.first_bad < 0) & ~torch.isfinite(loss)
        self.first_bad = torch.where(new, learn.iter, self.first_bad)
        self.bad_loss = torch.where(new, loss, self.bad_loss)

    def after_train(self, learn) -> None:
        self.check(learn)

    after_cancel_train = after_train

    def check(self, learn) -> None:
        """Raise `DlfError` if a loss since the last check, or any weight, is not finite."""
        if self.first_bad is None:  # not trained yet (e.g. a save before fit)
            return
        step = int(self.first_bad)  # the one sync, where the caller syncs anyway
        if step >= 0:
            what = f"loss became {float(self.bad_loss)} at epoch {learn.epoch} step {step}"
        elif not all(bool(p.isfinite().all()) for p in learn.model.parameters()):
            what = f"weights became non-finite at epoch {learn.epoch} before step {learn.iter + 1}"
        else:
            return
        raise DlfError(
            f"{what} (counted from 0); {self._kept()}; lower --lr and rerun with --overwrite"
        )

    def _kept(self) -> str:
        path = self.checkpoint_path
        if path is not None and path.is_file():
            return f"the last good checkpoint is {path}"
        return "no checkpoint was written before it"
