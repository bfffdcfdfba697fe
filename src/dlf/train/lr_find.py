"""The learning-rate finder (Leslie Smith): train briefly while the learning rate grows
exponentially, watch the loss, and suggest where to train.

Reading the loss every step is the point of this tool, so it syncs with the device each
step; normal training never does.
"""

import copy
import math
from dataclasses import dataclass

import numpy as np

from dlf.train.callbacks.core import Callback, CancelFitException, CancelValidException
from dlf.train.optim import set_hyper


@dataclass
class Suggestions:
    valley: float
    steep: float
    minimum: float  # the lr of the lowest loss, divided by 10


class LRFinder(Callback):
    order = 10

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_it: int = 100,
        stop_div: bool = True,
        beta: float = 0.98,
    ) -> None:
        self.start_lr, self.end_lr, self.num_it, self.stop_div, self.beta = (
            start_lr,
            end_lr,
            num_it,
            stop_div,
            beta,
        )
        self.lrs: list[float] = []
        self.losses: list[float] = []  # smoothed, debiased

    def before_fit(self, learn) -> None:
        # Saved in memory and restored at the end: the sweep must leave no trace.
        self.saved = copy.deepcopy(learn.model.state_dict()), copy.deepcopy(learn.opt.state_dict())
        self.avg, self.best, self.step = 0.0, math.inf, 0

    def before_batch(self, learn) -> None:
        if learn.training:
            lr = self.start_lr * (self.end_lr / self.start_lr) ** (
                self.step / max(1, self.num_it - 1)
            )
            set_hyper(learn.opt, "lr", lr)
            self.lr = lr

    def after_batch(self, learn) -> None:
        if not learn.training:
            return
        loss = learn.loss.item()
        self.step += 1
        self.avg = self.beta * self.avg + (1 - self.beta) * loss
        smooth = self.avg / (1 - self.beta**self.step)
        self.lrs.append(self.lr)
        self.losses.append(smooth)
        self.best = min(self.best, smooth)
        if self.step >= self.num_it or (
            self.stop_div and (smooth > 4 * self.best or not math.isfinite(smooth))
        ):
            raise CancelFitException

    def before_valid(self, learn) -> None:
        raise CancelValidException

    def _restore(self, learn) -> None:
        model_state, opt_state = self.saved
        learn.model.load_state_dict(model_state)
        learn.opt.load_state_dict(opt_state)
        learn.opt.zero_grad(set_to_none=True)

    after_fit = after_cancel_fit = _restore

    def suggestions(self) -> Suggestions:
        return suggest(self.lrs, self.losses)


def valley(lrs: list[float], losses: list[float]) -> float:
    """fastai's "valley": find the longest stretch over which the loss keeps falling
    (a longest decreasing subsequence), and take a point two thirds of the way down it."""
    n = len(losses)
    run = [1] * n  # run[i]: length of the longest decreasing sequence ending at i
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[j] + 1 > run[i]:
                run[i] = run[j] + 1
        if run[i] > run[best_end]:
            best_end = i
    best_start = best_end - run[best_end] + 1
    third = (best_end - best_start) / 3
    return lrs[min(n - 1, best_start + int(2 * third))]


def steep(lrs: list[float], losses: list[float]) -> float:
    """The learning rate where the loss falls fastest against log(lr)."""
    if len(lrs) < 3:
        return lrs[0]
    slopes = np.gradient(np.asarray(losses), np.log(np.asarray(lrs)))
    return float(lrs[int(np.argmin(slopes))])


def suggest(lrs: list[float], losses: list[float]) -> Suggestions:
    if not lrs:
        raise ValueError("the lr finder recorded nothing: is the training set empty?")
    # The last points are where the loss blew up; fastai drops them too.
    k = max(1, len(lrs) - 5) if len(lrs) > 10 else len(lrs)
    lrs, losses = lrs[:k], losses[:k]
    return Suggestions(
        valley=valley(lrs, losses),
        steep=steep(lrs, losses),
        minimum=lrs[int(np.argmin(losses))] / 10,
    )
