"""The best "trivial rule" we could think of for the synthetic SIIM data: a per-pixel
gradient-boosted classifier on hand-made local features (normalised brightness, box means
and spread at four scales, position), with the same post-processing as the U-Net, fitted the
same way. It sees each pixel's neighbourhood but has no learnt notion of shape or context."""

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from sklearn.ensemble import HistGradientBoostingClassifier

from dlf.tasks.siim.task import apply_postprocess, fit_postprocess
from dlf.train.metrics import dice_per_image

SIZE = 128  # the rule works on images and masks presized to this


def pixel_features(image: np.ndarray) -> np.ndarray:
    """(H, W) image -> (H*W, F) features."""
    img = image.astype(np.float32)
    img = (img - img.mean()) / (img.std() + 1e-6)  # undo the random exposure
    feats = [img]
    for w in (3, 7, 15, 31):
        mean = uniform_filter(img, w)
        spread = np.sqrt(np.maximum(uniform_filter(img * img, w) - mean * mean, 0))
        feats += [mean, img - mean, spread]
    y, x = np.mgrid[0 : img.shape[0], 0 : img.shape[1]].astype(np.float32) / img.shape[0]
    feats += [y, x, np.abs(x - 0.5)]
    return np.stack(feats, -1).reshape(-1, len(feats))


def trivial_dice(
    train_images: np.ndarray, train_masks: np.ndarray, test_images: np.ndarray,
    test_masks: np.ndarray, seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Fit the classifier and the post-processing on the training images, score the test
    images: (mean Dice, mean Dice on test images with a pneumothorax). Images uint8
    (N, SIZE, SIZE), masks bool (N, SIZE, SIZE)."""
    # The U-Net's protocol: fit on 80% of the training images, fit the post-processing on
    # the other 20% (fitting it on the classifier's own training pixels would be optimistic).
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(train_images))
    fit, hold = order[: len(order) * 4 // 5], order[len(order) * 4 // 5 :]
    X = np.concatenate([pixel_features(im) for im in train_images[fit]])
    y = train_masks[fit].reshape(-1)
    # Every positive pixel and at least as many negatives, so the rare class is seen.
    pos, neg = np.flatnonzero(y), np.flatnonzero(~y)
    n_neg = min(len(neg), max(len(pos), 20000))
    keep = np.concatenate([pos, rng.choice(neg, size=n_neg, replace=False)])
    model = HistGradientBoostingClassifier(max_iter=200, random_state=seed).fit(X[keep], y[keep])

    def probs(images: np.ndarray) -> torch.Tensor:
        p = [model.predict_proba(pixel_features(im))[:, 1].reshape(im.shape) for im in images]
        return torch.from_numpy(np.stack(p).astype(np.float32))

    post, _ = fit_postprocess(probs(train_images[hold]), torch.from_numpy(train_masks[hold]), SIZE)
    pred = apply_postprocess(probs(test_images), post, SIZE)
    truth = torch.from_numpy(test_masks)
    per_image = dice_per_image(pred[:, None], truth[:, None])[:, 0]
    positive = truth.flatten(1).any(1)
    return float(per_image.mean()), float(per_image[positive].mean())
