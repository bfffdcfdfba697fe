"""Training callbacks: each is a small class with methods named after loop events."""

from dlf.train.callbacks.checkpoint import Checkpoint
from dlf.train.callbacks.core import (
    EVENTS,
    Callback,
    CancelBatchException,
    CancelEpochException,
    CancelFitException,
    CancelStepException,
    CancelTrainException,
    CancelValidException,
    Phase,
)
from dlf.train.callbacks.csv_logger import CSVLogger
from dlf.train.callbacks.early_stopping import EarlyStopping
from dlf.train.callbacks.ema import EMA
from dlf.train.callbacks.gather import GatherPreds
from dlf.train.callbacks.grad import GradientAccumulation, GradientClip
from dlf.train.callbacks.interrupt import StopOnInterrupt
from dlf.train.callbacks.nan_guard import NanGuard
from dlf.train.callbacks.progress import ProgressCallback
from dlf.train.callbacks.recorder import Recorder
from dlf.train.callbacks.schedule import ParamScheduler
from dlf.train.callbacks.tensorboard import TensorBoardLogger
from dlf.train.callbacks.time_budget import TimeBudget

__all__ = [
    "EMA",
    "EVENTS",
    "CSVLogger",
    "Callback",
    "CancelBatchException",
    "CancelEpochException",
    "CancelFitException",
    "CancelStepException",
    "CancelTrainException",
    "CancelValidException",
    "Checkpoint",
    "EarlyStopping",
    "GatherPreds",
    "GradientAccumulation",
    "GradientClip",
    "NanGuard",
    "ParamScheduler",
    "Phase",
    "ProgressCallback",
    "Recorder",
    "StopOnInterrupt",
    "TensorBoardLogger",
    "TimeBudget",
]
