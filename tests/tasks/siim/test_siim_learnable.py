"""The synthetic SIIM data takes a model to read: the default U-Net run beats the all-empty
submission clearly on held-out test images, and the best trivial rule does not (slow: it is
a full default training run, about 8 minutes on 2 cores)."""

import numpy as np
import pytest
from PIL import Image

from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import predict, synth, train
from dlf.tasks.siim import evaluate_siim, find_dicoms, read_dicom, read_train_rle
from dlf.tasks.siim.task import SiimTask, _presize_mask
from tasks.siim.trivial import SIZE, trivial_dice


def _resize(image: np.ndarray) -> np.ndarray:
    return np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.Resampling.BILINEAR))


def _images_and_masks(dicom_folder, labels):
    """Images (Pillow bilinear) and masks (presized by the task) at SIZE px, sorted by id."""
    paths = find_dicoms(dicom_folder)
    ids = sorted(labels)
    images = np.stack([_resize(read_dicom(paths[i])) for i in ids])
    masks = np.stack([_presize_mask(labels[i], SIZE).astype(bool) for i in ids])
    return images, masks


@pytest.mark.slow
@pytest.mark.timeout(1800)  # a full default run: about 11 minutes with the trivial rule
def test_trained_unet_beats_all_empty_and_the_trivial_rule(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = SiimTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    train(task, TrainConfig(task="siim", data=str(data), out=str(run)), quiet=True)
    predict(task, run, data, run / "submission.csv", tta=2)
    scores = evaluate_siim(data / "test-rle-truth.csv", run / "submission.csv")
    empty = scores["empty_share"]  # what the all-empty submission scores

    # The trivial rule fitted on the training images, scored on the same test images.
    train_images, train_masks = _images_and_masks(
        data / "dicom-images-train", read_train_rle(data / "train-rle.csv")
    )
    test_images, test_masks = _images_and_masks(data / "dicom-images-test", read_train_rle(data / "test-rle-truth.csv"))  # fmt: skip
    trivial, trivial_positive = trivial_dice(train_images, train_masks, test_images, test_masks)
    print(f"test dice: U-Net {scores['dice']:.4f} (positives {scores['dice_positive']:.4f}), "
          f"trivial rule {trivial:.4f} (positives {trivial_positive:.4f}), all-empty {empty:.4f}")  # fmt: skip
    assert scores["dice"] >= empty + 0.04
    assert scores["dice_positive"] >= 0.2
    assert trivial < empty + 0.02
