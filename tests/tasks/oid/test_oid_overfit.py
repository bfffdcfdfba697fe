"""The detector can learn at all: trained on a handful of synthetic images and scored on the
same images, through the task's own parts (data, loss, decoding with flip TTA, ancestor
copies, the challenge metric), it reaches a mAP near 1. Reference: the challenge metric of
metric.py (itself checked against hand-worked cases and a reference implementation)."""

import numpy as np

from dlf.tasks.base import TrainConfig
from dlf.tasks.oid.synth import synth_oid
from dlf.tasks.oid.task import OidTask
from dlf.tasks.runner import train


class Memorise(OidTask):
    """Validation = training images, no augmentation: can the pipeline fit them?"""

    def split(self, ctx, train):
        every = np.arange(len(train))
        return every, every

    def transforms(self, ctx):
        return super().transforms(ctx)[-1:]  # Normalize only


def test_a_handful_of_images_is_memorised_to_a_map_near_1(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    synth_oid(tmp_path / "data", n=8, n_test=2, seed=3)
    cfg = TrainConfig(task="oid", data=str(tmp_path / "data"), out=str(tmp_path / "run"),
                      epochs=40, size=128, bs=4, lr=3e-3, tta=2, precision="fp32")  # fmt: skip
    result = train(Memorise(), cfg, quiet=True)
    assert result["valid"]["map"] >= 0.9, result["valid"]
