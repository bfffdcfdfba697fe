"""`EarlyStopping`: stop when a monitored value has not improved for `patience` epochs."""

import operator

from dlf.train.callbacks.core import Callback, CancelFitException, Phase, needs_recorder


class EarlyStopping(Callback):
    order = Phase.DECIDE

    def __init__(
        self,
        monitor: str = "valid_loss",
        patience: int = 3,
        min_delta: float = 0.0,
        mode: str | None = None,
    ) -> None:
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode = mode or ("min" if "loss" in monitor or "error" in monitor else "max")
        self.best, self.wait = None, 0

    def before_fit(self, learn) -> None:
        needs_recorder(learn, "EarlyStopping")
        self.best, self.wait = None, 0

    def after_epoch(self, learn) -> None:
        value = learn.recorder.values[-1][self.monitor]
        better = operator.lt if self.mode == "min" else operator.gt
        delta = -self.min_delta if self.mode == "min" else self.min_delta
        if self.best is None or better(value, self.best + delta):
            self.best, self.wait = value, 0
            return
        self.wait += 1
        if self.wait >= self.patience:
            learn.log(
                f"early stopping: no improvement in {self.monitor} for {self.patience} epochs"
            )
            raise CancelFitException

    def state_dict(self) -> dict:
        return {"best": self.best, "wait": self.wait}

    def load_state_dict(self, state: dict) -> None:
        self.best, self.wait = state["best"], state["wait"]
