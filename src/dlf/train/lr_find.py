"""The learning-rate finder (Leslie Smith): train briefly while the learning rate grows
exponentially, watch the loss, and suggest where to train.

The sweep and its suggestions follow fastai 2.7 (`fastai/callback/schedule.py`) rule for
rule, so a curve gives the same numbers here as there:

- step i (0-based) trains at `start_lr * (end_lr / start_lr) ** (i / num_it)`;
- the loss is smoothed (moving average, beta 0.98, debiased) and the sweep stops after
  `num_it` steps or once the smoothed loss passes 4x its best (here also at inf/NaN);
- suggestions look at the curve without its first `num_it // 10` points (the smoothing
  has not settled there) and its last 5 (the blow-up), cut at the first NaN:
  `valley` the middle of the longest falling stretch, `steep` the left end of the steepest
  fall against log(lr), `minimum` the lr of the lowest loss divided by 10, `slide`
  fastai's interval-slide rule.

Reading the loss every step is the point of this tool, so it syncs with the device each
step; normal training never does.
"""

import copy
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from dlf.core.errors import DlfError
from dlf.train.callbacks.core import Callback, CancelFitException, CancelValidException, Phase
from dlf.train.checkpoint import get_rng_state, restore_rng_state
from dlf.train.optim import set_hyper

SKIP_END = 5  # fastai drops the last 5 points (where the loss blew up) from plot and rules


@dataclass(frozen=True)
class Suggestions:
    valley: float
    steep: float
    minimum: float  # the lr of the lowest loss, divided by 10

    def __str__(self) -> str:
        return f"valley {self.valley:.2e}, steep {self.steep:.2e}, minimum {self.minimum:.2e}"


class LRFinder(Callback):
    """Drives a `fit` as the sweep, then puts back everything the sweep changed: weights,
    optimizer and grad-scaler state, random state, and the learner's epoch counters.

    It records only into itself (`lrs`, `losses`): run it without the Recorder, CSVLogger
    or ProgressCallback (as `Learner.lr_find` does) and the run's history stays untouched."""

    order = Phase.SCHEDULE

    def __init__(
        self,
        start_lr: float = 1e-7,
        end_lr: float = 10.0,
        num_it: int = 100,
        stop_div: bool = True,
        beta: float = 0.98,
        bar: bool = False,
    ) -> None:
        if not 0 < start_lr < end_lr:
            raise DlfError(
                f"lr_find: need 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}"
            )
        if num_it < 10:
            raise DlfError(
                f"lr_find: num_it={num_it} is too few steps to suggest anything (the first "
                f"num_it//10 and last {SKIP_END} are skipped); use num_it >= 10 (default 100)"
            )
        self.start_lr, self.end_lr, self.num_it = start_lr, end_lr, num_it
        self.stop_div, self.beta, self.bar = stop_div, beta, bar
        self.lrs: list[float] = []
        self.losses: list[float] = []  # smoothed, debiased
        self.figure = None
        self._saved = self.pbar = None

    def before_fit(self, learn) -> None:
        # Saved in memory and restored at the end: the sweep must leave no trace. The random
        # state too, so that `lr_find(); fit()` trains exactly as `fit()` alone would.
        self._saved = {
            "model": copy.deepcopy(learn.model.state_dict()),
            "opt": copy.deepcopy(learn.opt.state_dict()),
            "scaler": learn.scaler.state_dict() if learn.scaler is not None else None,
            "rng": get_rng_state(),
            "counters": (learn.epoch, learn.n_epochs, learn.iter),
        }
        self.lrs, self.losses = [], []
        self.avg, self.best, self.step = 0.0, math.inf, 0
        self.pbar = tqdm(total=self.num_it, desc="lr_find", leave=False, disable=not self.bar)

    def before_batch(self, learn) -> None:
        if learn.training:
            self.lr = self.start_lr * (self.end_lr / self.start_lr) ** (self.step / self.num_it)
            set_hyper(learn.opt, "lr", self.lr)

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
        self.pbar.update(1)
        if self.step >= self.num_it or (
            self.stop_div and (smooth > 4 * self.best or not math.isfinite(smooth))
        ):
            raise CancelFitException

    def before_valid(self, learn) -> None:
        raise CancelValidException

    def restore(self, learn) -> None:
        """Put back what `before_fit` saved (once; safe to call again)."""
        if self.pbar is not None:
            self.pbar.close()
        if self._saved is None:
            return
        saved, self._saved = self._saved, None
        learn.model.load_state_dict(saved["model"])
        learn.opt.load_state_dict(saved["opt"])
        learn.opt.zero_grad(set_to_none=True)
        if saved["scaler"] is not None:
            learn.scaler.load_state_dict(saved["scaler"])
        restore_rng_state(saved["rng"])
        learn.epoch, learn.n_epochs, learn.iter = saved["counters"]

    def after_fit(self, learn) -> None:
        self.restore(learn)

    def after_cancel_fit(self, learn) -> None:
        self.restore(learn)

    def suggestions(self) -> Suggestions:
        return suggest(self.lrs, self.losses, self.num_it)

    def plot(self, suggestions: Suggestions | None = None):
        """Loss against lr (log scale) with the suggestions marked; returns the figure
        (a notebook shows it inline). Kept as `self.figure`."""
        plt = _pyplot()
        fig, ax = plt.subplots(figsize=(6, 4))
        draw_lr_find(ax, self.lrs, self.losses, suggestions or self.suggestions())
        self.figure = fig
        return fig


# ---------------------------------------------------------------- the suggestion rules
# Each takes the trimmed curve (see `trim`) and returns a learning rate.


def trim(
    lrs: Sequence[float], losses: Sequence[float], num_it: int
) -> tuple[np.ndarray, np.ndarray]:
    """The part of a sweep the rules look at: without the first `num_it // 10` points and
    the last 5, and cut at the first NaN (fastai's `lr_find`)."""
    lrs = np.asarray(lrs, dtype=np.float64)[num_it // 10 : len(lrs) - SKIP_END]
    losses = np.asarray(losses, dtype=np.float64)[num_it // 10 : len(losses) - SKIP_END]
    bad = np.flatnonzero(np.isnan(losses))
    if bad.size:
        lrs, losses = lrs[: bad[0]], losses[: bad[0]]
    return lrs, losses


def valley_index(losses: Sequence[float]) -> int:
    n = len(losses)
    run = [1] * n  # run[i]: the longest strictly decreasing subsequence ending at i
    end = 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and run[j] + 1 > run[i]:
                run[i] = run[j] + 1
        if run[i] > run[end]:  # strictly longer: the earliest of equally long valleys wins
            end = i
    # fastai counts the valley from one point before its first (end - length), then steps
    # a third plus a sixth of that span in; we keep its arithmetic so the index matches.
    start = end - run[end]
    third = (end - start) / 3
    idx = start + int(third) + int(third / 2)
    # Only a valley of at most 2 points at the very start gives -1, which fastai reads as
    # the last point (a wrap-around); the first point is what the rule means.
    return max(idx, 0)


def valley(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The middle of the longest valley: the longest stretch (as a subsequence) over which
    the loss keeps falling. fastai's default suggestion."""
    return float(lrs[valley_index(losses)])


def steep_index(lrs: Sequence[float], losses: Sequence[float]) -> int:
    log_lr = np.log(np.asarray(lrs, dtype=np.float64))
    slopes = np.diff(np.asarray(losses, dtype=np.float64)) / np.diff(log_lr)
    return int(np.argmin(slopes))


def steep(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """The left end of the steepest fall of the loss against log(lr) (forward differences)."""
    return float(lrs[steep_index(lrs, losses)])


def minimum(lrs: Sequence[float], losses: Sequence[float]) -> float:
    """One tenth of the lr where the loss is lowest (10x below where it starts to rise)."""
    return float(lrs[int(np.argmin(losses))]) / 10


def slide(
    lrs: Sequence[float],
    losses: Sequence[float],
    lr_diff: int = 15,
    thresh: float = 0.005,
    adjust_value: float = 1.0,
) -> float:
    """fastai's interval slide: walk a window of `lr_diff` points left from the end of the
    curve until the loss gradient (per step) at its two ends differs by at most `thresh`;
    the window's left end is the suggestion."""
    grad = np.gradient(np.asarray(losses, dtype=np.float64))
    if len(grad) <= lr_diff:
        raise DlfError(
            f"lr_find: slide needs more than {lr_diff} points, the curve has {len(grad)}"
        )
    right, left = len(grad) - 1, len(grad) - 1 - lr_diff
    lr = lrs[left]
    while left >= 0 and abs(grad[right] - grad[left]) > thresh:
        lr = lrs[left]
        right, left = right - 1, left - 1
    return float(lr) * adjust_value


def suggest(lrs: Sequence[float], losses: Sequence[float], num_it: int) -> Suggestions:
    """valley, steep and minimum on a recorded sweep (`num_it` as asked, not as run)."""
    t_lrs, t_losses = trim(lrs, losses, num_it)
    if len(t_lrs) < 2:
        stop = f" (it stopped at lr {lrs[-1]:.1e}: the loss blew up)" if lrs else ""
        raise DlfError(
            f"lr_find: the sweep recorded {len(lrs)} steps{stop}, too few to suggest a rate "
            f"once the first {num_it // 10} and last {SKIP_END} are skipped; lower start_lr, "
            "or check the training set is not tiny or empty"
        )
    return Suggestions(
        valley=valley(t_lrs, t_losses),
        steep=steep(t_lrs, t_losses),
        minimum=minimum(t_lrs, t_losses),
    )


# ---------------------------------------------------------------- the plot


def draw_lr_find(ax, lrs: Sequence[float], losses: Sequence[float], sug: Suggestions) -> None:
    """Loss against lr on a log axis, without the last 5 points (as fastai plots it), with
    each suggestion marked on the curve (minimum at the lowest loss, 10x its value)."""
    n = len(lrs) - SKIP_END if len(lrs) > SKIP_END else len(lrs)
    lrs, losses = np.asarray(lrs[:n]), np.asarray(losses[:n])
    ax.plot(lrs, losses, color="C0")
    log_lrs = np.log(lrs)
    marks = [
        (sug.valley, f"valley {sug.valley:.1e}"),
        (sug.steep, f"steep {sug.steep:.1e}"),
        (sug.minimum * 10, f"minimum {sug.minimum:.1e} (lowest loss / 10)"),
    ]
    for i, (at, label) in enumerate(marks, start=1):
        k = int(np.argmin(np.abs(log_lrs - math.log(at))))
        ax.plot(lrs[k], losses[k], "o", color=f"C{i}", label=label)
    ax.set_xscale("log")
    ax.set(xlabel="learning rate", ylabel="loss (smoothed)", title="lr_find")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)


def _pyplot():
    import matplotlib

    # A notebook's inline backend or a desktop's window; Agg (files only) on a server.
    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
