"""Metrics that accumulate on the device; the host reads them once per validation.

A metric is an object with `reset()`, `update(pred, *targets)` and `compute()`, the last
returning a 0-d tensor. A plain function `f(pred, target) -> tensor` becomes a metric
averaged over items with `AvgMetric`, and any callable given to the `Learner` as a metric
is wrapped that way. Metrics that need every prediction at once (kappa, AUC) use
`AccumMetric`, which keeps the predictions on the device and scores them at the end.
"""

from collections.abc import Callable

import torch


class Metric:
    """Base class: subclasses set `name` and implement the three methods."""

    name = "metric"

    def reset(self) -> None:
        raise NotImplementedError

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> torch.Tensor:
        raise NotImplementedError


class AvgMetric(Metric):
    """The item-weighted mean of `func(pred, target)` over batches."""

    def __init__(self, func: Callable[..., torch.Tensor], name: str | None = None) -> None:
        self.func, self.name = func, name or func.__name__
        self.reset()

    def reset(self) -> None:
        self.total, self.count = None, 0

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        n = pred.shape[0]  # a Python int: reading a shape costs no device sync
        value = self.func(pred, *targets).detach().float() * n
        self.total = value if self.total is None else self.total + value
        self.count += n

    def compute(self) -> torch.Tensor:
        if self.total is None:
            return torch.tensor(float("nan"))
        return self.total / self.count


class AccumMetric(Metric):
    """Keeps every prediction and target (on the device), scores them all at once."""

    def __init__(self, func: Callable[..., torch.Tensor | float], name: str | None = None) -> None:
        self.func, self.name = func, name or func.__name__
        self.reset()

    def reset(self) -> None:
        self.preds: list[torch.Tensor] = []
        self.targets: list[tuple[torch.Tensor, ...]] = []

    def update(self, pred: torch.Tensor, *targets: torch.Tensor) -> None:
        self.preds.append(pred.detach())
        self.targets.append(tuple(t.detach() for t in targets))

    def compute(self) -> torch.Tensor:
        if not self.preds:
            return torch.tensor(float("nan"))
        pred = torch.cat(self.preds)
        targets = [torch.cat(ts) for ts in zip(*self.targets)]
        return torch.as_tensor(self.func(pred, *targets))


def as_metric(m: Metric | Callable) -> Metric:
    """A `Metric` as is; a plain function as an `AvgMetric`."""
    return m if isinstance(m, Metric) else AvgMetric(m)


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Share of items whose highest-scoring class is the target."""
    return (pred.argmax(dim=-1) == target).float().mean()
