"""The SIIM training pieces: the loss and the fitted post-processing, each against a direct
computation from its definition."""

import pytest
import torch
import torch.nn.functional as F

from dlf.tasks.siim.task import SegLoss, fit_postprocess, postprocess


def test_seg_loss_records_its_parts():
    loss = SegLoss(focal=0.5)
    logits, masks = torch.randn(2, 1, 16, 16), (torch.rand(2, 16, 16) > 0.9).float()
    total = loss(logits, masks)
    parts = loss.combined.parts
    assert set(parts) == {"bce", "dice", "focal"}
    assert torch.allclose(total, parts["bce"] + parts["dice"] + 0.5 * parts["focal"])
    # The focal part weighs positives and negatives alike: torch's BCE times (1 - p_t)^2.
    p = torch.sigmoid(logits)
    p_t = p * masks[:, None] + (1 - p) * (1 - masks[:, None])
    bce = F.binary_cross_entropy_with_logits(logits, masks[:, None], reduction="none")
    assert torch.allclose(parts["focal"], (bce * (1 - p_t) ** 2).mean(), rtol=1e-5)


def test_postprocess_keeps_a_mask_only_with_enough_strong_pixels():
    probs = torch.zeros(2, 10, 10)
    probs[0, :2, :2] = 0.9  # 4 strong pixels
    probs[0, 2, :2] = 0.45  # 2 weak neighbours: kept at bottom_thr 0.4
    probs[1, :1, :3] = 0.9  # only 3 strong pixels: dropped at min_area 4
    out = postprocess(probs, top_thr=0.8, min_area=4, bottom_thr=0.4)
    assert int(out[0].sum()) == 6 and int(out[1].sum()) == 0


def test_fit_postprocess_finds_a_perfect_setting_when_there_is_one():
    masks = torch.zeros(4, 16, 16, dtype=torch.bool)
    masks[0, 2:8, 2:8] = True
    probs = torch.full((4, 16, 16), 0.05)
    probs[0][masks[0]] = 0.95
    probs[1, 0, 0] = 0.95  # one stray strong pixel on an empty image: min_area must drop it
    # at 128 px the grid's areas 256, 1024, 2048, 4096 (counted at 1024 px) are 4, 16, 32, 64 px
    post, dice = fit_postprocess(probs, masks, size=128)
    assert dice == 1.0 and post["min_area"] in (256, 1024, 2048)


def test_validation_score_logs_the_dice_with_and_without_pneumothorax():
    """Masks come from the loader as uint8: the split into images with and without
    pneumothorax must not use `~` on a uint8 flag (254, a true index) as it once did."""
    from pathlib import Path

    from dlf.tasks.base import TrainConfig
    from dlf.tasks.runner import context
    from dlf.tasks.siim.task import SiimTask

    said = []
    task = SiimTask()
    cfg = TrainConfig(task="siim", size=8).fill_defaults(task.defaults)
    cfg.size = 8
    ctx = context(task, cfg, Path("."), said.append)
    masks = torch.zeros(3, 8, 8, dtype=torch.uint8)
    masks[0, 2:5, 2:5] = 1  # one image with pneumothorax, two without
    probs = torch.zeros(3, 8, 8)
    probs[0, 2:5, 2:5] = 0.9  # found exactly
    probs[1, 0:2, 0:2] = 0.9  # a false mask on an empty image: dice 0
    post = {"top_thr": 0.5, "min_area": 0, "bottom_thr": 0.5}
    assert task.score(ctx, probs, masks, post) == pytest.approx(2 / 3)
    assert said == ["validation dice 0.6667: on images with pneumothorax 1.0000, without 0.5000"]
