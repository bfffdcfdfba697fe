"""Ctrl-C during training: finish the batch, checkpoint, stop cleanly."""

import signal
from pathlib import Path

from dlf.train.callbacks.checkpoint import Checkpoint
from dlf.train.callbacks.core import Callback, CancelFitException, Phase


class StopOnInterrupt(Callback):
    """Ctrl-C ends the run at the next batch boundary, after a resumable checkpoint; a second
    Ctrl-C stops at once. `restore()` puts the previous SIGINT handler back."""

    order = Phase.INTERRUPT  # after Checkpoint's own after_batch

    def __init__(self, checkpoint: Checkpoint, run: Path, log, task_name: str) -> None:
        self.checkpoint, self.run, self.log, self.hit = checkpoint, run, log, False
        self.task_name = task_name
        self.previous = None  # the SIGINT handler to put back

    def before_fit(self, learn) -> None:
        self.previous = signal.signal(signal.SIGINT, self._handler)

    def restore(self) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)
            self.previous = None

    def _handler(self, signum, frame) -> None:
        if self.hit:  # a second Ctrl-C: stop at once
            signal.signal(signal.SIGINT, self.previous)
            raise KeyboardInterrupt
        self.hit = True

    def after_batch(self, learn) -> None:
        if self.hit and learn.training:
            self.checkpoint.save(learn, learn.iter + 1)
            raise CancelFitException

    def after_fit(self, learn) -> None:
        signal.signal(signal.SIGINT, self.previous)

    def after_cancel_fit(self, learn) -> None:
        signal.signal(signal.SIGINT, self.previous)
        if self.hit:
            self.log(
                f"interrupted: checkpoint saved; continue with: dlf train {self.task_name} --out {self.run} --resume"
            )
