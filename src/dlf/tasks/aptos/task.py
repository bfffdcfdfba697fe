"""APTOS 2019 Blindness Detection as a dlf task: grade 0-4 from a fundus photograph.

The five parts: read (files.py), data (a decoded-image cache of fundus crops, batches
augmented on the device), model (a zoo CNN with a regression head by default), loss and
metric (smooth L1 on the grade; quadratic weighted kappa with grade thresholds fitted on
validation), predict (dihedral TTA, the run's thresholds, submission.csv in test.csv order).
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlf.data.augment import Affine, Dihedral, Lighting, Normalize
from dlf.data.resident import array_column, image_column
from dlf.data.splits import stratified_kfold_splitter
from dlf.models import create_model
from dlf.report.items import ValidItems, thumbnails
from dlf.tasks.aptos.files import paired_labels, read_test, read_train, write_submission
from dlf.tasks.aptos.preprocess import load_fundus
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import build_cache
from dlf.train.metrics import QWK, confusion_matrix, quadratic_weighted_kappa, regression_to_class

GRADES = 5
DEFAULT_THRESHOLDS = [0.5, 1.5, 2.5, 3.5]


def grade_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Smooth L1 between the predicted and the true grade (a regression on an ordinal scale)."""
    return F.smooth_l1_loss(pred.view(-1).float(), target.float())


def class_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(pred.float(), target.long(), label_smoothing=0.05)


def to_score(out: torch.Tensor) -> torch.Tensor:
    """One number per image on the grade scale: the regression output, or for a classifier
    the expected grade under its softmax (so the same thresholds apply to both heads)."""
    if out.shape[-1] == 1:
        return out.view(-1).float()
    probs = out.float().softmax(-1)
    return (probs * torch.arange(out.shape[-1], dtype=probs.dtype, device=probs.device)).sum(-1)


def kappa(scores: torch.Tensor, grades: torch.Tensor, thresholds) -> float:
    pred = regression_to_class(scores, GRADES, thresholds)
    return float(quadratic_weighted_kappa(grades.long(), pred, n_classes=GRADES))


def fit_thresholds(
    scores: torch.Tensor, grades: torch.Tensor, passes: int = 3, steps: int = 40
) -> list[float]:
    """Coordinate ascent on the four cut points between grades, maximising validation QWK.
    Each cut point is searched between its neighbours, so the order is always kept."""
    t = list(DEFAULT_THRESHOLDS)
    best = kappa(scores, grades, t)
    lo_all, hi_all = float(scores.min()) - 0.5, float(scores.max()) + 0.5
    for _ in range(passes):
        for i in range(len(t)):
            lo = t[i - 1] if i > 0 else min(lo_all, t[i] - 1)
            hi = t[i + 1] if i + 1 < len(t) else max(hi_all, t[i] + 1)
            for c in np.linspace(lo, hi, steps + 2)[1:-1]:
                trial = [*t[:i], float(c), *t[i + 1 :]]
                k = kappa(scores, grades, trial)
                if k > best + 1e-12:
                    best, t = k, trial
    return t


@dataclass
class AptosOptions:
    """`--option` settings of the APTOS task."""

    head: Literal["regression", "classification"] = "regression"
    ben_graham: bool = False  # Ben Graham's local-average colour subtraction after the crop
    pretrained: str | None = None  # a weights file for the backbone (never a download)


class AptosTask(Task):
    name = "aptos"
    metric_name = "qwk"
    kaggle_slugs = ("aptos2019-blindness-detection",)  # /kaggle/input/<slug>/ in a kernel
    defaults = {"epochs": 12, "arch": "resnet18", "size": 128, "bs": 32, "lr": 1e-3, "tta": 2}
    # --recipe kaggle: sources in docs/tasks/aptos.md ("Kaggle recipe")
    recipes = {"kaggle": {"arch": "efficientnet_b4", "size": 256, "bs": 32, "epochs": 15,
                          "lr": 1e-3, "tta": 2,
                          "options": {"ben_graham": True, "head": "regression"}}}  # fmt: skip
    synth_n = 600
    Options = AptosOptions

    def synth(self, folder: Path, n: int, seed: int) -> None:
        folder.rmdir()  # synth_aptos wants to create the folder itself
        synth_aptos(folder, n=n, n_test=max(20, n // 4), seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        cfg, ben = ctx.cfg, ctx.opts.ben_graham
        items = read_train(ctx.data) if split == "train" else read_test(ctx.data)
        reader = partial(load_fundus, size=cfg.size, ben_graham=ben)
        cache = build_cache([it.path for it in items], ctx.data, split, cfg.size, reader,
                            f"fundus-crop ben_graham={ben}", ctx.log)  # fmt: skip
        columns = {"image": image_column(cache.array)}
        grades = None
        if split == "train":
            grades = np.array([it.diagnosis for it in items])
            regression = ctx.opts.head == "regression"
            columns["grade"] = array_column(grades.astype(np.float32 if regression else np.int64))
        return Data(columns, [it.id_code for it in items], strata=grades, images=cache.array)

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        train_idx, valid_idx = stratified_kfold_splitter(train.strata, k=5, fold=0,
                                                         seed=ctx.cfg.seed)(train.ids)  # fmt: skip
        ctx.log(
            f"{len(train_idx)} training and {len(valid_idx)} validation images (stratified by grade)"
        )
        return train_idx, valid_idx

    def transforms(self, ctx: Context) -> list:
        return [  # on the named batch {"image", "grade"}: the grade passes through
            Dihedral(),  # a fundus has no up or left
            Affine(rotate=30, zoom=(1.0, 1.15), p=0.75, pad="zeros"),
            Lighting(brightness=0.2, contrast=0.2),
            Normalize(),
        ]

    # -- model, loss, metric ---------------------------------------------------------------
    def model(self, ctx: Context) -> nn.Module:
        regression = ctx.opts.head == "regression"
        return create_model(ctx.cfg.arch, num_classes=1 if regression else GRADES,
                            pretrained=ctx.opts.pretrained)  # fmt: skip

    def loss(self, ctx: Context):
        return grade_loss if ctx.opts.head == "regression" else class_loss

    def metrics(self, ctx: Context) -> list:
        return [QWK(GRADES)]

    def activation(self, ctx: Context):
        return to_score  # one number per image on the grade scale, for either head

    # -- post-processing and the metric ----------------------------------------------------
    def fit_postprocess(self, ctx: Context, scores: torch.Tensor, grades: torch.Tensor) -> dict:
        thresholds = fit_thresholds(scores, grades.long())
        ctx.log(f"grade thresholds fitted on validation: {', '.join(f'{t:.3f}' for t in thresholds)} "
                f"(QWK {kappa(scores, grades, DEFAULT_THRESHOLDS):.4f} with 0.5, 1.5, 2.5, 3.5)")  # fmt: skip
        return {"thresholds": thresholds}

    def score(self, ctx: Context, scores, grades, post: dict) -> float:
        return kappa(scores, grades.long(), post["thresholds"])

    def report(self, ctx: Context, train: Data, valid_idx, scores, grades, post: dict) -> dict:
        pred = regression_to_class(scores, GRADES, post["thresholds"]).long()
        true = grades.long()
        confusion = confusion_matrix(true, pred, GRADES)
        worst = torch.argsort((scores - true.float()).abs(), descending=True)[:18]
        samples = []
        for j in worst.tolist():
            img = train.images[valid_idx[j]]
            samples.append({"image": np.asarray(img), "title": f"true {int(true[j])} / pred {int(pred[j])} ({float(scores[j]):.2f})",
                            "bad": int(true[j]) != int(pred[j])})  # fmt: skip
        return {
            "confusion": confusion.numpy(),
            "labels": [str(g) for g in range(GRADES)],
            "samples": samples,
        }

    def valid_items(self, ctx: Context, train: Data, valid_idx, scores, grades, post: dict):
        """Each validation image with its true and predicted grade (a class per item)."""
        pred = regression_to_class(scores, GRADES, post["thresholds"]).long().tolist()
        ids = [train.ids[i] for i in valid_idx]
        return ValidItems("label", ids, [str(int(g)) for g in grades], [str(g) for g in pred],
                          classes=[str(g) for g in range(GRADES)],
                          images=thumbnails(ids, train.images[valid_idx]),
                          note=[f"{float(s):.2f}" for s in scores])  # fmt: skip

    # -- write the submission --------------------------------------------------------------
    def write(self, ctx: Context, test: Data, scores, post: dict, out: Path) -> Path:
        grades = regression_to_class(scores, GRADES, post["thresholds"]).long().tolist()
        write_submission(out, test.ids, grades)
        counts = np.bincount(grades, minlength=GRADES).tolist()
        ctx.log(f"{len(test)} test images graded; grades 0-4: {counts}")
        return out

    def evaluate(self, pred: Path, truth: Path) -> float:
        t, p = paired_labels(truth, pred)
        return float(quadratic_weighted_kappa(torch.tensor(t), torch.tensor(p)))
