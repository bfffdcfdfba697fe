"""The SIIM-ACR metric: the mean over images of the Dice coefficient.

    Dice(X, Y) = 2 |X ∩ Y| / (|X| + |Y|)      X truth pixels, Y predicted pixels
    both empty -> 1;  one empty, the other not -> 0  (the formula gives 0 there anyway)

About 3/4 of the images have an empty truth, so predicting nothing already scores that
share; `evaluate_siim` therefore also reports the Dice over the images that do have
pneumothorax, where a model shows what it has learnt.
"""

from pathlib import Path

import numpy as np

from dlf.core import DlfError
from dlf.data.table import align
from dlf.tasks.siim.files import read_submission, read_train_rle
from dlf.tasks.siim.rle import EMPTY, rle_decode, rle_decode_union
from dlf.train.metrics import dice_per_image


def evaluate_siim(
    truth_csv: str | Path, pred_csv: str | Path, height: int = 1024, width: int = 1024
) -> dict[str, float]:
    """Score a submission against a truth file (train-rle style: several rows per image allowed).

    Returns `dice` (the competition score), `dice_positive` (over images whose truth is not
    empty; nan if none), `dice_negative` (over the empty ones: the share predicted empty),
    `empty_share` (share of images with empty truth) and `n_images`.
    """
    truth = read_train_rle(truth_csv, height, width)
    pred = read_submission(pred_csv, height, width)
    align(truth, pred, truth_csv, pred_csv, column="ImageId", what="test image (-1 when empty)")
    if not truth:
        raise DlfError(f"{truth_csv}: no images to score")
    scores = np.empty(len(truth))
    positive = np.empty(len(truth), dtype=bool)
    for k, (image_id, instances) in enumerate(truth.items()):
        positive[k] = any(_has_pixels(r) for r in instances)
        guessed = _has_pixels(pred[image_id])
        if not positive[k] or not guessed:  # at least one side empty: no decoding needed
            scores[k] = float(positive[k] == guessed)
            continue
        t = rle_decode_union(instances, height, width, f"{truth_csv} {image_id}")
        p = rle_decode(pred[image_id], height, width, f"{pred_csv} {image_id}")
        scores[k] = dice_per_image(p[None, None], t[None, None]).item()
    return {
        "dice": float(scores.mean()),
        "dice_positive": float(scores[positive].mean()) if positive.any() else float("nan"),
        "dice_negative": float(scores[~positive].mean()) if (~positive).any() else float("nan"),
        "empty_share": float(1 - positive.mean()),
        "n_images": len(truth),
    }


def _has_pixels(rle: str) -> bool:
    # "-1" is the usual empty mask, but runs of length 0 ("5 0") are empty too.
    return rle != EMPTY and any(int(n) > 0 for n in rle.split()[1::2])
