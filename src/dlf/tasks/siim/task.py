"""SIIM-ACR Pneumothorax Segmentation as a dlf task: a mask per chest radiograph.

The five parts: read (files.py: DICOMs and train-rle.csv), data (a decoded-image cache of
presized radiographs, masks decoded from RLE and presized, flips and one fused affine that
move image and mask together on the device, a sampler with an annealed share of positive
images), model (U-Net on a ResNet-34 encoder), loss and metric (BCE + Dice + focal; the
competition's per-image Dice, with a post-processing fitted on validation), predict (flip
TTA, probabilities upsampled to 1024, post-processing, RLE submission).
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dlf.data.augment import Affine, Flip, Lighting, Normalize
from dlf.data.resident import image_column, mask_column
from dlf.data.splits import stratified_kfold_splitter
from dlf.models import create_model
from dlf.report.items import ValidItems, mask_thumbnails, thumbnails
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import build_cache
from dlf.tasks.siim.files import (
    find_dicoms,
    match_dicoms,
    read_dicom,
    read_train_rle,
    write_submission,
)
from dlf.tasks.siim.metric import evaluate_siim
from dlf.tasks.siim.rle import rle_decode_union, rle_encode
from dlf.tasks.siim.sampler import AnnealPositiveShare, PositiveShareSampler
from dlf.tasks.siim.synth import synth_siim
from dlf.train.losses import BCEWithLogitsLoss, CombinedLoss, DiceLoss, FocalLoss
from dlf.train.metrics import Dice, confusion_matrix, dice_per_image

FULL = 1024  # the competition's image size: submissions are encoded at this size


class SegLoss(nn.Module):
    """BCE + Dice + focal on logits (N, 1, H, W) against masks (N, H, W). The Dice is per
    image, like the metric. The focal term weighs both classes alike: RetinaNet's alpha=0.25
    would scale down the rare pneumothorax pixels further and keep their probabilities low."""

    def __init__(self, bce: float = 1.0, dice: float = 1.0, focal: float = 1.0) -> None:
        super().__init__()
        self.combined = CombinedLoss({"bce": (BCEWithLogitsLoss(), bce), "dice": (DiceLoss(), dice),
                                      "focal": (FocalLoss(alpha=None), focal)})  # fmt: skip

    def forward(self, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.combined(pred.float(), mask.unsqueeze(1).float())


def postprocess(
    probs: torch.Tensor, top_thr: float, min_area: int, bottom_thr: float
) -> torch.Tensor:
    """Per image: keep a mask only if at least `min_area` pixels pass `top_thr`; the kept
    mask is the pixels above `bottom_thr`. probs: (N, H, W) -> bool (N, H, W)."""
    strong = (probs > top_thr).flatten(1).sum(1) >= max(1, min_area)
    return (probs > bottom_thr) & strong.view(-1, 1, 1)


def apply_postprocess(probs: torch.Tensor, post: dict, size: int) -> torch.Tensor:
    """`postprocess` with fitted settings (`min_area` counted at 1024 px) on probabilities
    presized to `size` px."""
    min_area = round(post["min_area"] * (size / FULL) ** 2)
    return postprocess(probs, post["top_thr"], min_area, post["bottom_thr"])


def fit_postprocess(probs: torch.Tensor, masks: torch.Tensor, size: int) -> tuple[dict, float]:
    """Grid search of (top_thr, min_area, bottom_thr) for the best mean Dice on validation.
    `min_area` is counted at 1024 px; probabilities and masks are presized to `size` px."""
    best, best_dice = None, -1.0
    for top in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        for area in (0, 256, 1024, 2048, 4096):
            for bottom in (0.2, 0.3, 0.4, 0.5):
                if bottom > top:
                    continue
                post = {"top_thr": top, "min_area": area, "bottom_thr": bottom}
                pred = apply_postprocess(probs, post, size)
                d = float(dice_per_image(pred[:, None], masks[:, None]).mean())
                if d > best_dice + 1e-12:
                    best, best_dice = post, d
    return best, best_dice


def read_radiograph(path) -> np.ndarray:
    """A DICOM's pixels as (H, W, 1), the shape the image cache stores."""
    return read_dicom(path)[..., None]  # the SIIM reader: one greyscale frame, checked


def _presize_mask(rles: list[str], size: int) -> np.ndarray:
    mask = rle_decode_union(rles, FULL, FULL) if rles else np.zeros((FULL, FULL), bool)
    if size == FULL:
        return mask.astype(np.uint8)
    return (
        np.asarray(
            Image.fromarray(mask.astype(np.uint8) * 255).resize(
                (size, size), Image.Resampling.BILINEAR
            )
        )
        > 127
    )


@dataclass
class SiimOptions:
    """`--option` settings of the SIIM task."""

    pos_share_start: float = 0.5  # share of positive images in the first epoch's batches
    pos_share_end: float | None = None  # in the last epoch (None: the training set's share)
    pretrained: str | None = None  # a weights file for the encoder (never a download)


class SiimTask(Task):
    name = "siim"
    metric_name = "dice"
    kaggle_slugs = ("siim-acr-pneumothorax-segmentation",)  # /kaggle/input/<slug>/ in a kernel
    defaults = {"epochs": 16, "arch": "unet_resnet34", "size": 256, "bs": 16, "lr": 1e-3, "tta": 2}
    # --recipe kaggle: sources in docs/tasks/siim.md ("Kaggle recipe")
    recipes = {"kaggle": {"arch": "unet_resnet34", "size": 1024, "bs": 4, "epochs": 20,
                          "lr": 1e-4, "tta": 2,
                          "options": {"pos_share_start": 0.8, "pos_share_end": 0.4}}}  # fmt: skip
    synth_n = 240
    Options = SiimOptions
    dense = True

    def synth(self, folder: Path, n: int, seed: int) -> None:
        folder.rmdir()
        synth_siim(folder, n=n, n_test=max(10, n // 5), seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        size = ctx.cfg.size
        if split == "train":
            csv = ctx.data / "train-rle.csv"
            labels = read_train_rle(csv)
            ids = list(labels)
            paths = match_dicoms(ids, find_dicoms(ctx.data / "dicom-images-train"), csv)
        else:
            dicoms = find_dicoms(ctx.data / "dicom-images-test")
            ids = sorted(dicoms)
            paths = [dicoms[i] for i in ids]
        images = build_cache(paths, ctx.data, split, size, read_radiograph, "dicom", ctx.log,
                             channels=1).array  # fmt: skip
        if split != "train":
            return Data({"image": image_column(images)}, ids, images=images)
        masks = np.stack([_presize_mask(labels[i], size) for i in ids]).astype(np.uint8)[..., None]
        positive = masks.reshape(len(ids), -1).any(1)
        columns = {"image": image_column(images), "mask": mask_column(masks)}
        return Data(columns, ids, strata=positive.astype(int), images=images)

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        train_idx, valid_idx = stratified_kfold_splitter(train.strata, k=5, fold=0,
                                                         seed=ctx.cfg.seed)(train.ids)  # fmt: skip
        ctx.log(f"{len(train_idx)} training, {len(valid_idx)} validation images; "
                f"{train.strata.mean():.0%} with pneumothorax")  # fmt: skip
        return train_idx, valid_idx

    def sampler(self, ctx: Context, train: Data, train_idx) -> tuple:
        positive = train.strata[train_idx].astype(bool)
        sampler = PositiveShareSampler(positive)
        end = ctx.opts.pos_share_end
        anneal = AnnealPositiveShare(sampler, ctx.opts.pos_share_start,
                                     positive.mean() if end is None else end)  # fmt: skip
        return sampler, [anneal]

    def transforms(self, ctx: Context) -> list:
        # on the named batch {"image", "mask"}: the mask moves with the image
        return [Flip(), Affine(rotate=10, zoom=(1.0, 1.1), translate=0.05, p=0.6, pad="zeros"),
                Lighting(brightness=0.15, contrast=0.15), Normalize(mean=(0.5,), std=(0.25,))]  # fmt: skip

    # -- model, loss, metric ---------------------------------------------------------------
    def model(self, ctx: Context) -> nn.Module:
        return create_model(ctx.cfg.arch, num_classes=1, in_chans=1, pretrained=ctx.opts.pretrained)

    def loss(self, ctx: Context):
        return SegLoss()

    def metrics(self, ctx: Context) -> list:
        return [Dice()]

    def activation(self, ctx: Context):
        return lambda out: torch.sigmoid(out[:, 0].float())  # N x H x W probabilities

    # -- post-processing and the metric ----------------------------------------------------
    def fit_postprocess(self, ctx: Context, probs: torch.Tensor, masks: torch.Tensor) -> dict:
        masks = masks.bool()
        post, dice = fit_postprocess(probs, masks, ctx.cfg.size)
        empty = float(dice_per_image(torch.zeros_like(masks)[:, None], masks[:, None]).mean())
        ctx.log(f"post-processing fitted on validation: {post}: dice {dice:.4f} (all-empty masks score {empty:.4f})")  # fmt: skip
        return post

    def _per_image(self, ctx: Context, probs, masks, post: dict) -> tuple:
        pred = apply_postprocess(probs, post, ctx.cfg.size)
        return pred, dice_per_image(pred[:, None], masks.bool()[:, None])[:, 0]

    def score(self, ctx: Context, probs, masks, post: dict) -> float:
        _, per_image = self._per_image(ctx, probs, masks, post)
        positive = masks.bool().flatten(1).any(1)  # bool: ~ of a uint8 flag is 254, not False
        ctx.log(f"validation dice {per_image.mean():.4f}: on images with pneumothorax {per_image[positive].mean():.4f}, "
                f"without {per_image[~positive].mean():.4f}")  # fmt: skip
        return float(per_image.mean())

    def report(self, ctx: Context, train: Data, valid_idx, probs, masks, post: dict) -> dict:
        pred, per_image = self._per_image(ctx, probs, masks, post)
        masks = masks.bool()
        positive = masks.flatten(1).any(1)
        confusion = confusion_matrix(positive, pred.flatten(1).any(1), 2).numpy()
        worst = torch.argsort(per_image)[:12].tolist()
        images = train.images[valid_idx]
        samples = [{"image": images[j][..., 0], "mask": masks[j].numpy(), "pred_mask": pred[j].numpy(),
                    "title": f"dice {float(per_image[j]):.2f}", "bad": float(per_image[j]) < 0.5} for j in worst]  # fmt: skip
        return {
            "confusion": confusion,
            "labels": ["no pneumothorax", "pneumothorax"],
            "samples": samples,
        }

    def valid_items(self, ctx: Context, train: Data, valid_idx, probs, masks, post: dict):
        """Each validation radiograph with its true and post-processed predicted mask."""
        pred, per_image = self._per_image(ctx, probs, masks, post)
        ids = [train.ids[i] for i in valid_idx]
        return ValidItems("mask", ids, [None] * len(ids), [None] * len(ids),
                          images=thumbnails(ids, train.images[valid_idx]),
                          true_masks=mask_thumbnails(masks.bool().numpy()),
                          pred_masks=mask_thumbnails(pred.bool().numpy()),
                          note=[f"dice {float(d):.2f}" for d in per_image])  # fmt: skip

    # -- write the submission --------------------------------------------------------------
    def write(self, ctx: Context, test: Data, probs, post: dict, out: Path) -> Path:
        rows = []
        for image_id, p in zip(test.ids, probs):
            full = F.interpolate(p[None, None], size=(FULL, FULL), mode="bilinear",
                                 align_corners=False)[0, 0]  # fmt: skip
            mask = apply_postprocess(full[None], post, FULL)[0]
            rows.append((image_id, rle_encode(mask.numpy())))
        write_submission(out, rows)
        ctx.log(
            f"{len(test)} test images; {sum(r != '-1' for _, r in rows)} with a predicted pneumothorax"
        )
        return out

    def evaluate(self, pred: Path, truth: Path) -> float:
        scores = evaluate_siim(truth, pred)
        print(
            f"dice on images with pneumothorax {scores['dice_positive']:.6f}; share of empty images {scores['empty_share']:.6f}"
        )
        return scores["dice"]
