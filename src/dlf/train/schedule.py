"""Schedules: functions of training progress `pos` in [0, 1] that give a hyperparameter value.

`one_cycle` and `flat_cos` are built by joining simple pieces with `combine`, as in fastai.
"""

import math
from collections.abc import Callable, Sequence

Schedule = Callable[[float], float]


def sched_lin(start: float, end: float) -> Schedule:
    return lambda pos: start + pos * (end - start)


def sched_cos(start: float, end: float) -> Schedule:
    return lambda pos: start + (1 + math.cos(math.pi * (1 - pos))) * (end - start) / 2


def sched_const(value: float) -> Schedule:
    return lambda pos: value


def sched_exp(start: float, end: float) -> Schedule:
    return lambda pos: start * (end / start) ** pos


def combine(pcts: Sequence[float], scheds: Sequence[Schedule]) -> Schedule:
    """Run `scheds[i]` over the share `pcts[i]` of training (shares sum to 1)."""
    assert abs(sum(pcts) - 1) < 1e-9, "the shares must sum to 1"
    edges = [0.0]
    for p in pcts:
        edges.append(edges[-1] + p)

    def sched(pos: float) -> float:
        i = len(scheds) - 1
        for j in range(len(scheds)):
            if pos < edges[j + 1]:
                i = j
                break
        width = edges[i + 1] - edges[i]
        return scheds[i](0.0 if width == 0 else min(1.0, (pos - edges[i]) / width))

    return sched


def one_cycle_lr(
    lr_max: float, div: float = 25.0, div_final: float = 1e5, pct_start: float = 0.25
) -> Schedule:
    """Warm up from lr_max/div to lr_max (cosine), then anneal to lr_max/div_final."""
    return combine(
        [pct_start, 1 - pct_start],
        [sched_cos(lr_max / div, lr_max), sched_cos(lr_max, lr_max / div_final)],
    )


def one_cycle_mom(
    moms: tuple[float, float, float] = (0.95, 0.85, 0.95), pct_start: float = 0.25
) -> Schedule:
    return combine(
        [pct_start, 1 - pct_start], [sched_cos(moms[0], moms[1]), sched_cos(moms[1], moms[2])]
    )


def flat_cos_lr(lr: float, pct_start: float = 0.75, div_final: float = 1e5) -> Schedule:
    """Flat at lr, then a cosine anneal to lr/div_final over the last 1 - pct_start."""
    return combine([pct_start, 1 - pct_start], [sched_const(lr), sched_cos(lr, lr / div_final)])


def cos_warmup_lr(lr: float, warmup_pct: float = 0.05, final: float = 0.0) -> Schedule:
    """Linear warm-up from 0, then cosine decay to `final` (the common transformer recipe)."""
    return combine([warmup_pct, 1 - warmup_pct], [sched_lin(0.0, lr), sched_cos(lr, final)])
