"""Weeks 4-5: the training loop, callbacks, losses, optimizers, schedules, metrics."""

from dlf.train.learner import Learner, Resume, default_opt_func, default_splitter
from dlf.train.lr_find import LRFinder, Suggestions
from dlf.train.metrics import AccumMetric, AvgMetric, Metric, accuracy

__all__ = [
    "AccumMetric",
    "AvgMetric",
    "LRFinder",
    "Learner",
    "Metric",
    "Resume",
    "Suggestions",
    "accuracy",
    "default_opt_func",
    "default_splitter",
]
