"""`ParamScheduler`: drive any optimizer hyperparameter by a schedule over training."""

from collections.abc import Callable, Sequence

from dlf.train.callbacks.core import Callback, Phase
from dlf.train.optim import set_hyper


class ParamScheduler(Callback):
    """`scheds` maps a hyperparameter name ("lr", "mom", "wd", ...) to a schedule `pos -> value`
    or to one schedule per param group. Values are set before every training batch."""

    order = Phase.SCHEDULE

    def __init__(self, scheds: dict[str, Callable | Sequence[Callable]]) -> None:
        self.scheds = scheds

    def before_fit(self, learn) -> None:
        self.total = learn.n_epochs * len(learn.dls.train)

    def before_batch(self, learn) -> None:
        if not learn.training:
            return
        pos = (learn.epoch * learn.n_iter + learn.iter) / self.total
        for name, sched in self.scheds.items():
            if callable(sched):
                set_hyper(learn.opt, name, sched(pos))
            else:
                set_hyper(learn.opt, name, [s(pos) for s in sched])
