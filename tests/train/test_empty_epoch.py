"""An epoch with no training batch is refused, and the loader rule never makes one.

Before: 16 training images at --bs 32 trained zero batches per epoch (the task loaders
always dropped the last partial batch), logged train_loss 0.000000 and exited 0.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlf import DataLoaders, Learner
from dlf.core.errors import DlfError
from dlf.data.loaders import train_drop_last
from dlf.data.resident import ArrayLoader, array_column
from dlf.tasks.common import array_loaders
from tiny import TinyCNN


def columns(n: int):
    g = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 16, 16, generator=g).numpy()
    y = torch.randint(0, 2, (n,), generator=g).numpy()
    return [array_column(x), array_column(y)]


def test_the_learner_refuses_an_epoch_without_a_training_batch():
    cols = columns(16)
    train = ArrayLoader(cols, np.arange(16), bs=32, drop_last=True)
    valid = ArrayLoader(cols, np.arange(16), bs=32)
    learn = Learner(TinyCNN(), DataLoaders(train, valid), F.cross_entropy, default_cbs=False)
    with pytest.raises(DlfError, match=r"no batch \(16 items, batch size 32\).*lower the batch"):
        learn.fit(1, 1e-2)


@pytest.mark.parametrize(
    ("n", "bs", "batches"), [(16, 32, 1), (32, 32, 1), (33, 32, 1), (64, 32, 2)]
)
def test_one_loader_rule_for_tasks_and_the_datablock(n, bs, batches):
    """Drop the last partial batch, unless there is no full batch: then it is the epoch."""
    train, _ = array_loaders(columns(n), np.arange(n), np.arange(n), bs=bs)
    assert len(train) == batches == len(list(train))
    assert train_drop_last(n, bs) == (n > bs)
