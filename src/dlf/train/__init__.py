"""Weeks 4-5: the training loop, callbacks, losses, optimizers, schedules, metrics."""

from dlf.train.learner import Learner, Resume, default_splitter
from dlf.train.losses import (
    BCEWithLogitsLoss,
    CombinedLoss,
    CrossEntropyLoss,
    DiceLoss,
    FocalLoss,
    MSELoss,
    SmoothL1Loss,
    binary_cross_entropy_with_logits,
    cross_entropy,
    dice_loss,
    focal_loss,
    mse_loss,
    smooth_l1_loss,
)
from dlf.train.lr_find import LRFinder, Suggestions
from dlf.train.metrics import (
    QWK,
    AccumMetric,
    AvgMetric,
    ConfusionMatrixMetric,
    Dice,
    F1Score,
    Metric,
    TopKAccuracy,
    accuracy,
    confusion_matrix,
    dice_per_image,
    error_rate,
    quadratic_weighted_kappa,
    regression_to_class,
    top_k_accuracy,
)
from dlf.train.optim import (
    SGD,
    Adam,
    AdamW,
    Lookahead,
    RAdam,
    default_opt_func,
    get_hyper,
    set_hyper,
)

__all__ = [
    "QWK", "SGD", "AccumMetric", "Adam", "AdamW", "AvgMetric", "BCEWithLogitsLoss", "CombinedLoss",
    "ConfusionMatrixMetric", "CrossEntropyLoss", "Dice", "DiceLoss", "F1Score", "FocalLoss", "LRFinder",
    "Learner", "Lookahead", "MSELoss", "Metric", "RAdam", "Resume", "SmoothL1Loss", "Suggestions",
    "TopKAccuracy", "accuracy", "binary_cross_entropy_with_logits", "confusion_matrix", "cross_entropy",
    "default_opt_func", "default_splitter", "dice_loss", "dice_per_image", "error_rate", "focal_loss",
    "get_hyper", "mse_loss", "quadratic_weighted_kappa", "regression_to_class", "set_hyper",
    "smooth_l1_loss", "top_k_accuracy",
]  # fmt: skip
