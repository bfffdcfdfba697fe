"""`TimeBudget`: stop training early enough that what comes after it still fits.

A Kaggle kernel is killed at its time limit and loses everything it had not written. With a
budget, training stops at the end of an epoch when the next epoch (as long as the longest so
far) would not finish in time, and mid-epoch if the clock runs out anyway; the learner then
returns normally, so the caller still predicts and writes its files. Time is read from
`clock` (a host clock, never the device), which tests replace with a pretend one.
"""

import time
from collections.abc import Callable

from dlf.train.callbacks.core import Callback, CancelFitException, Phase


class TimeBudget(Callback):
    """Keep training, and then `reserve_passes` validation passes (the work after training:
    predictions with TTA, post-processing), within `seconds` of the start of `fit`."""

    order = Phase.DECIDE

    def __init__(
        self,
        seconds: float,
        reserve_passes: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds, self.reserve_passes, self.clock = seconds, reserve_passes, clock
        self.stopped_after: str | None = None  # what was done when the budget stopped training

    def before_fit(self, learn) -> None:
        self.start = self.clock()
        self.longest_epoch = self.longest_valid = 0.0
        self.stopped_after = None

    def before_epoch(self, learn) -> None:
        self.epoch_start = self.clock()

    def before_valid(self, learn) -> None:
        self.valid_start = self.clock()

    def after_valid(self, learn) -> None:
        self.longest_valid = max(self.longest_valid, self.clock() - self.valid_start)

    def _left(self) -> float:
        """Seconds left for training once the work after it is set aside."""
        reserve = self.reserve_passes * self.longest_valid
        return self.seconds - reserve - (self.clock() - self.start)

    def after_batch(self, learn) -> None:
        if learn.training and self._left() <= 0:
            self._stop(learn, f"epoch {learn.epoch + 1} step {learn.iter + 1} (mid-epoch)")

    def after_epoch(self, learn) -> None:
        self.longest_epoch = max(self.longest_epoch, self.clock() - self.epoch_start)
        if learn.epoch + 1 < learn.n_epochs and self._left() < self.longest_epoch:
            self._stop(learn, f"epoch {learn.epoch + 1}")

    def _stop(self, learn, where: str) -> None:
        self.stopped_after = where
        learn.log(
            f"time budget: stopping after {where} of {learn.n_epochs} epochs, to leave time "
            f"for predictions within {self.seconds:.0f} s"
        )
        raise CancelFitException


__all__ = ["TimeBudget"]
