"""dlf — deep learning foundations.

The few-lines API of week 1 lives here; each week's pieces live in their own subpackage:
`dlf.data` (week 2), `dlf.models` (week 3), `dlf.train` (weeks 4-5), `dlf.tasks` (projects).
"""

from dlf import data, models, train
from dlf.core import DlfError, seed_everything
from dlf.core.version import __version__
from dlf.data import DataBlock, DataLoaders, ImageDataLoaders
from dlf.models import create_model, list_models
from dlf.train import Learner, accuracy

__all__ = [
    "DataBlock",
    "DataLoaders",
    "DlfError",
    "ImageDataLoaders",
    "Learner",
    "__version__",
    "accuracy",
    "create_model",
    "data",
    "list_models",
    "models",
    "seed_everything",
    "train",
]
