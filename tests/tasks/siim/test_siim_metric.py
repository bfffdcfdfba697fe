"""The SIIM-ACR metric: mean over images of Dice = 2|X∩Y| / (|X| + |Y|), both empty -> 1.

Reference: the competition's evaluation page (Dice per image, averaged over images; an
image whose truth and prediction are both empty scores 1). Every expected figure below is
worked out by hand from that definition.
"""

import numpy as np
import pytest
import torch

from dlf.core import DlfError
from dlf.tasks.siim.metric import evaluate_siim
from dlf.train.metrics import dice_per_image


def test_dice_hand_worked_batch():
    truth = np.zeros((4, 3, 3), bool)
    pred = np.zeros((4, 3, 3), bool)
    # image 0: both empty -> 1
    # image 1: truth 2 pixels, prediction empty -> 0
    truth[1, 0, :2] = True
    # image 2: truth 4 pixels, prediction 2 of them plus 1 outside: 2*2 / (4 + 3) = 4/7
    truth[2, :2, :2] = True
    pred[2, 0, :2] = True
    pred[2, 2, 2] = True
    # image 3: truth empty, prediction 1 pixel -> 0
    pred[3, 1, 1] = True
    got = dice_per_image(pred[:, None], truth[:, None])[:, 0]
    assert torch.allclose(got, torch.tensor([1.0, 0.0, 4 / 7, 0.0], dtype=torch.float64))
    assert torch.allclose(
        dice_per_image(torch.from_numpy(pred)[:, None], torch.from_numpy(truth)[:, None])[:, 0],
        got,
    )


def test_dice_perfect_and_shape_mismatch():
    m = torch.rand(2, 5, 5) > 0.5
    assert (dice_per_image(m[:, None], m[:, None]) == 1).all()
    with pytest.raises(ValueError):
        dice_per_image(m[:, None], m[:, None, :4])


def write(path, text):
    path.write_text(text)
    return path


def test_evaluate_hand_worked(tmp_path):
    # 4x4 images, pixels numbered down the columns.
    truth = write(
        tmp_path / "truth.csv",
        "ImageId, EncodedPixels\n"
        "a, -1\n"  # empty truth, predicted empty: 1
        "b, -1\n"  # empty truth, predicted 1 pixel: 0
        "c, 0 2\n"  # two instances, each its own RLE (absolute first start):
        "c, 4 3\n"  # pixels 0,1 and 4,5,6 -> 5 pixels
        "d, 0 4\n",  # pixels 0..3, predicted 2..5: 2*2/(4+4) = 0.5
    )
    pred = write(
        tmp_path / "pred.csv",
        # c: predicted pixels 1..5 (5 pixels), overlap with {0,1,4,5,6} is {1,4,5}: 2*3/10
        "ImageId,EncodedPixels\na,-1\nb,7 1\nc,1 5\nd,2 4\n",
    )
    got = evaluate_siim(truth, pred, 4, 4)
    assert got["dice"] == pytest.approx((1 + 0 + 0.6 + 0.5) / 4)
    assert got["dice_positive"] == pytest.approx((0.6 + 0.5) / 2)
    assert got["dice_negative"] == pytest.approx(0.5)
    assert got["empty_share"] == pytest.approx(0.5)
    assert got["n_images"] == 4


def test_all_empty_submission_scores_the_empty_share(tmp_path):
    truth = write(tmp_path / "t.csv", "ImageId, EncodedPixels\na, -1\nb, 0 3\nc, -1\nd, -1\n")
    pred = write(tmp_path / "p.csv", "ImageId,EncodedPixels\nd,-1\nc,-1\nb,-1\na,-1\n")
    got = evaluate_siim(truth, pred, 4, 4)
    assert got["dice"] == pytest.approx(0.75)
    assert got["dice_positive"] == 0.0


def test_missing_and_extra_ids_are_named(tmp_path):
    truth = write(tmp_path / "t.csv", "ImageId, EncodedPixels\na, -1\nb, 0 3\n")
    short = write(tmp_path / "short.csv", "ImageId,EncodedPixels\na,-1\n")
    with pytest.raises(
        DlfError, match=r"short.csv: 1 ImageId\(s\) of .*t.csv have no row, e.g. 'b'"
    ):
        evaluate_siim(truth, short, 4, 4)
    extra = write(tmp_path / "extra.csv", "ImageId,EncodedPixels\na,-1\nb,-1\nzz,-1\n")
    with pytest.raises(DlfError, match=r"extra.csv: 1 ImageId\(s\) are not in .*t.csv, e.g. 'zz'"):
        evaluate_siim(truth, extra, 4, 4)
