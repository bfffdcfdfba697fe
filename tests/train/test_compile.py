"""`Learner(compile=True)` (`dlf train --compile`) trains through torch.compile. Reference:
the same run in eager mode; compiled kernels fuse and reorder float operations, so the
weights agree to a tolerance (1e-5 after 8 SGD steps), not bit for bit."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dlf.core.seed import seed_everything
from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader, array_column
from dlf.train.learner import Learner


def train(compile: bool) -> dict:
    seed_everything(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * rng.normal(size=64) > 0).astype(np.int64)
    cols = [array_column(x), array_column(y)]
    dls = DataLoaders(ArrayLoader(cols, np.arange(64), bs=16, shuffle=True, drop_last=True),
                      None, device="cpu")  # fmt: skip
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    sgd = lambda groups, lr: torch.optim.SGD(groups, lr=lr, momentum=0.9)  # noqa: E731
    learn = Learner(model, dls, F.cross_entropy, opt_func=sgd, lr=0.05, precision="fp32",
                    compile=compile, logger=lambda m: None)  # fmt: skip
    learn.fit(2)
    assert (learn._train_net is not model) == compile
    return {k: v.clone() for k, v in model.state_dict().items()}  # keys without _orig_mod.


@pytest.mark.slow
def test_compiled_training_matches_eager_training():
    eager, compiled = train(False), train(True)
    assert eager.keys() == compiled.keys()
    for k in eager:
        torch.testing.assert_close(compiled[k], eager[k], atol=1e-5, rtol=0, msg=k)
