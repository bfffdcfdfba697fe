"""SIIM-ACR Pneumothorax Segmentation as a dlf task: a mask per chest radiograph.

The five parts: read (files.py: DICOMs and train-rle.csv), data (a decoded-image cache of
presized radiographs, masks decoded from RLE and presized, flips and one fused affine that
move image and mask together on the device, a sampler with an annealed share of positive
images), model (U-Net on a ResNet-34 encoder), loss and metric (BCE + Dice + focal; the
competition's per-image Dice, with a post-processing fitted on validation), predict (flip
TTA, probabilities upsampled to 1024, post-processing, RLE submission).
"""

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from dlf.data.augment import Affine, Flip, Lighting, Normalize
from dlf.data.cache import ImageCache
from dlf.data.loaders import DataLoaders
from dlf.data.resident import image_column, mask_column
from dlf.data.splits import stratified_kfold_splitter
from dlf.models import create_model
from dlf.tasks.base import Parts, Task, TrainConfig
from dlf.tasks.common import array_loaders, cache_folder, predict_images
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
KINDS = ("image", "mask")


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


class SiimTask(Task):
    name = "siim"
    metric_name = "dice"
    defaults = {"epochs": 16, "arch": "unet_resnet34", "size": 256, "bs": 16, "lr": 1e-3}
    synth_n = 240

    def synth(self, folder: Path, n: int, seed: int) -> None:
        folder.rmdir()
        synth_siim(folder, n=n, n_test=max(10, n // 5), seed=seed)

    def _tfms(self, train: bool) -> list:
        norm = Normalize(mean=(0.5,), std=(0.25,), kinds=KINDS)
        if not train:
            return [norm]
        return [Flip(kinds=KINDS), Affine(rotate=10, zoom=(1.0, 1.1), translate=0.05, p=0.6, pad="zeros", kinds=KINDS),
                Lighting(brightness=0.15, contrast=0.15, kinds=KINDS), norm]  # fmt: skip

    def _images(self, paths, data: Path, split: str, size: int, log) -> np.ndarray:
        folder = cache_folder(data, split, size, "dicom")
        log(f"decoded-image cache for {len(paths)} {split} radiographs at {size}px: {folder}")
        return ImageCache.build(
            list(paths),
            size,
            folder=folder,
            reader=read_radiograph,
            channels=1,
            recipe="dicom",
            progress=False,
        ).array

    def build(self, cfg: TrainConfig, data: Path, log) -> Parts:
        csv = data / "train-rle.csv"
        labels = read_train_rle(csv)
        ids = list(labels)
        paths = match_dicoms(ids, find_dicoms(data / "dicom-images-train"), csv)
        images = self._images(paths, data, "train", cfg.size, log)
        masks = np.stack([_presize_mask(labels[i], cfg.size) for i in ids]).astype(np.uint8)[
            ..., None
        ]
        positive = masks.reshape(len(ids), -1).any(1)
        train_idx, valid_idx = stratified_kfold_splitter(
            positive.astype(int), k=5, fold=0, seed=cfg.seed
        )(ids)
        log(
            f"{len(train_idx)} training, {len(valid_idx)} validation images; {positive.mean():.0%} with pneumothorax"
        )
        sampler = PositiveShareSampler(positive[train_idx])
        start = float(cfg.options.get("pos_share_start", 0.5))
        end = float(cfg.options.get("pos_share_end", positive[train_idx].mean()))
        self.anneal = AnnealPositiveShare(sampler, start, end)
        columns = [image_column(images), mask_column(masks)]
        train, valid = array_loaders(columns, train_idx, valid_idx, cfg.bs, sampler=sampler)
        dls = DataLoaders(train, valid, batch_tfms=self._tfms(True))
        self.valid_images, self.valid_masks = (
            images[valid_idx],
            torch.from_numpy(masks[valid_idx, ..., 0]).bool(),
        )
        return Parts(dls, self.build_model(cfg), SegLoss(), [Dice()], "dice")

    def extra_callbacks(self, cfg: TrainConfig) -> list:
        return [self.anneal]

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        return create_model(
            cfg.arch, num_classes=1, in_chans=1, pretrained=cfg.options.get("pretrained")
        )

    def _valid_probs(self, learn) -> torch.Tensor:
        preds, _ = learn.get_preds()
        return torch.sigmoid(preds[:, 0].float())

    def fit_postprocess(self, learn, cfg: TrainConfig) -> dict:
        self.probs = self._valid_probs(learn)
        post, dice = fit_postprocess(self.probs, self.valid_masks, cfg.size)
        empty = float(
            dice_per_image(
                torch.zeros_like(self.valid_masks)[:, None], self.valid_masks[:, None]
            ).mean()
        )
        learn.log(
            f"post-processing fitted on validation: {post}: dice {dice:.4f} (all-empty masks score {empty:.4f})"
        )
        return post

    def final_score(self, learn, cfg: TrainConfig, post: dict) -> float:
        pred = apply_postprocess(self.probs, post, cfg.size)
        per_image = dice_per_image(pred[:, None], self.valid_masks[:, None])[:, 0]
        positive = self.valid_masks.flatten(1).any(1)
        learn.log(f"validation dice {per_image.mean():.4f}: on images with pneumothorax {per_image[positive].mean():.4f}, "
                  f"without {per_image[~positive].mean():.4f}")  # fmt: skip
        self.pred_masks, self.per_image = pred, per_image
        return float(per_image.mean())

    def report_extras(self, learn, cfg: TrainConfig, post: dict) -> dict:
        positive = self.valid_masks.flatten(1).any(1)
        confusion = confusion_matrix(positive, self.pred_masks.flatten(1).any(1), 2).numpy()
        worst = torch.argsort(self.per_image)[:12].tolist()
        samples = [{"image": self.valid_images[j][..., 0], "mask": self.valid_masks[j].numpy(), "pred_mask": self.pred_masks[j].numpy(),
                    "title": f"dice {float(self.per_image[j]):.2f}", "bad": float(self.per_image[j]) < 0.5} for j in worst]  # fmt: skip
        return {
            "confusion": confusion,
            "labels": ["no pneumothorax", "pneumothorax"],
            "samples": samples,
        }

    def predict(
        self, model: nn.Module, cfg: TrainConfig, post: dict, data: Path, out: Path, tta: int, log
    ) -> Path:
        dicoms = find_dicoms(data / "dicom-images-test")
        ids = sorted(dicoms)
        images = self._images([dicoms[i] for i in ids], data, "test", cfg.size, log)
        probs = predict_images(
            model,
            images,
            self._tfms(False),
            bs=cfg.bs * 2,
            tta=min(tta, 4),
            dense=True,
            act=torch.sigmoid,
        )
        rows = []
        for image_id, p in zip(ids, probs):
            full = F.interpolate(p[None], size=(FULL, FULL), mode="bilinear", align_corners=False)[
                0, 0
            ]
            mask = apply_postprocess(full[None], post, FULL)[0]
            rows.append((image_id, rle_encode(mask.numpy())))
        write_submission(out, rows)
        log(
            f"{len(ids)} test images; {sum(r != '-1' for _, r in rows)} with a predicted pneumothorax"
        )
        return out

    def evaluate(self, truth: Path, pred: Path) -> float:
        scores = evaluate_siim(truth, pred)
        print(
            f"dice on images with pneumothorax {scores['dice_positive']:.6f}; share of empty images {scores['empty_share']:.6f}"
        )
        return scores["dice"]
