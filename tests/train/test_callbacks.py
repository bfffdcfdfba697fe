"""The built-in callbacks that the learner tests do not already cover."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlf import DlfError, Learner
from dlf.train.callbacks import EMA, GradientClip, TensorBoardLogger
from tiny import TinyCNN


def quiet(dls, **kw):
    return Learner(TinyCNN(), dls, F.cross_entropy, precision="fp32", logger=lambda s: None, **kw)


def test_ema_is_the_exponential_average_of_the_weights(dls):
    ema = EMA(decay=0.8, validate_ema=False, keep_ema=False)
    seen = []

    class Snap:  # runs after EMA (order 30) in after_step: records the weights just stepped
        order = 40

        def after_step(self, learn):
            seen.append(learn.model.head[1].weight.detach().clone())

    learn = quiet(dls, cbs=[ema, Snap()])
    start = learn.model.head[1].weight.detach().clone()
    learn.fit(1, 1e-2)
    expected = start
    for w in seen:  # the reference: the definition, step by step
        expected = 0.8 * expected + 0.2 * w
    torch.testing.assert_close(ema.ema.head[1].weight, expected, rtol=1e-5, atol=1e-6)


def test_gradient_clip_bounds_the_global_norm(dls):
    norms = []

    class Watch:
        order = 25  # after GradientClip (20) in before_step

        def before_step(self, learn):
            g = [p.grad for p in learn.model.parameters() if p.grad is not None]
            norms.append(
                float(
                    torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(x) for x in g]))
                )
            )

    quiet(dls, cbs=[GradientClip(0.01), Watch()]).fit(1, 1e-2)
    assert norms and max(norms) <= 0.01 * (1 + 1e-4)


def test_flat_cos_schedule(dls):
    learn = quiet(dls)
    learn.fit_flat_cos(4, 1e-2)
    lrs, n = learn.recorder.lrs, len(learn.recorder.lrs)
    flat = [lr for i, lr in enumerate(lrs) if i / n < 0.75]
    assert flat == pytest.approx([1e-2] * len(flat))
    pos = (n - 1) / n
    expected_last = (
        1e-2 / 1e5 + (1 + math.cos(math.pi * (pos - 0.75) / 0.25)) * (1e-2 - 1e-2 / 1e5) / 2
    )
    assert lrs[-1] == pytest.approx(expected_last)


def test_tensorboard_logger_needs_tensorboard(tmp_path):
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        with pytest.raises(DlfError, match="pip install tensorboard"):
            TensorBoardLogger(tmp_path)
    else:
        TensorBoardLogger(tmp_path)
