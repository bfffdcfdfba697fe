"""The detector can learn at all: trained on a handful of synthetic images and scored on the
same images, through the task's own parts (data, loss, decoding with flip TTA, ancestor
copies, the challenge metric), it reaches a mAP near 1. Reference: the challenge metric of
metric.py (itself checked against hand-worked cases and a reference implementation)."""

import numpy as np

from dlf import Learner, seed_everything
from dlf.tasks.base import TrainConfig
from dlf.tasks.compose import build_training, predictions
from dlf.tasks.oid.synth import synth_oid
from dlf.tasks.oid.task import OidTask


class Memorise(OidTask):
    """Validation = training images, no augmentation: can the pipeline fit them?"""

    def split(self, ctx, train):
        every = np.arange(len(train))
        return every, every

    def transforms(self, ctx):
        return super().transforms(ctx)[-1:]  # Normalize only


def test_a_handful_of_images_is_memorised_to_a_map_near_1(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    seed_everything(0)
    synth_oid(tmp_path / "data", n=6, n_test=2, seed=3)
    task = Memorise()
    cfg = TrainConfig(
        task="oid", bs=6, size=96, tta=2, options={"fpn_channels": 64, "head_depth": 1}
    )
    built = build_training(
        task, cfg.fill_defaults(task.defaults), tmp_path / "data", log=lambda _: None
    )
    parts, ctx = built.parts, built.ctx
    learn = Learner(parts.model, parts.dls, parts.loss_func, precision="bf16")
    learn.fit_one_cycle(60, 3e-3)
    preds, *targets = predictions(task, ctx, learn)
    post = task.fit_postprocess(ctx, preds, tuple(targets))
    mAP = task.score(ctx, preds, tuple(targets), post)
    print(f"memorised map {mAP:.4f}")
    assert mAP >= 0.9, mAP
