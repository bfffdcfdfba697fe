"""APTOS 2019 Blindness Detection as a dlf task: grade 0-4 from a fundus photograph.

The five parts: read (files.py), data (a decoded-image cache of fundus crops, batches
augmented on the device), model (a zoo CNN with a regression head by default), loss and
metric (smooth L1 on the grade; quadratic weighted kappa with grade thresholds fitted on
validation), predict (dihedral TTA, the run's thresholds, submission.csv in test.csv order).
"""

from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlf.core.errors import DlfError
from dlf.data.augment import Affine, Dihedral, Lighting, Normalize
from dlf.data.loaders import DataLoaders
from dlf.data.resident import array_column, image_column
from dlf.data.splits import stratified_kfold_splitter
from dlf.models import create_model
from dlf.tasks.aptos.files import paired_labels, read_test, read_train, write_submission
from dlf.tasks.aptos.preprocess import load_fundus
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.base import Parts, Task, TrainConfig
from dlf.tasks.common import array_loaders, build_cache, predict_images
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


class AptosTask(Task):
    name = "aptos"
    metric_name = "qwk"
    defaults = {"epochs": 12, "arch": "resnet18", "size": 128, "bs": 32, "lr": 1e-3}
    synth_n = 600

    def synth(self, folder: Path, n: int, seed: int) -> None:
        folder.rmdir()  # synth_aptos wants to create the folder itself
        synth_aptos(folder, n=n, n_test=max(20, n // 4), seed=seed)

    # -- data -----------------------------------------------------------------------------
    def _reader(self, cfg: TrainConfig):
        ben = str(cfg.options.get("ben_graham", "0")).lower() in ("1", "true", "yes")
        return partial(load_fundus, size=cfg.size, ben_graham=ben), f"fundus-crop ben_graham={ben}"

    def _tfms(self, cfg: TrainConfig) -> list:
        kinds = ("image", "other")
        return [
            Dihedral(kinds=kinds),  # a fundus has no up or left
            Affine(rotate=30, zoom=(1.0, 1.15), p=0.75, pad="zeros", kinds=kinds),
            Lighting(brightness=0.2, contrast=0.2, kinds=kinds),
            Normalize(kinds=kinds),
        ]

    def build(self, cfg: TrainConfig, data: Path, log) -> Parts:
        items = read_train(data)
        grades = np.array([it.diagnosis for it in items])
        reader, recipe = self._reader(cfg)
        cache = build_cache([it.path for it in items], data, "train", cfg.size, reader, recipe, log)
        train_idx, valid_idx = stratified_kfold_splitter(grades, k=5, fold=0, seed=cfg.seed)(items)
        log(
            f"{len(train_idx)} training and {len(valid_idx)} validation images (stratified by grade)"
        )
        head = cfg.options.get("head", "regression")
        targets = grades.astype(np.float32 if head == "regression" else np.int64)
        columns = [image_column(cache.array), array_column(targets)]
        train, valid = array_loaders(columns, train_idx, valid_idx, cfg.bs)
        dls = DataLoaders(train, valid, batch_tfms=self._tfms(cfg))
        self.valid_idx, self.images, self.grades = valid_idx, cache.array, grades
        loss = grade_loss if head == "regression" else class_loss
        return Parts(dls, self.build_model(cfg), loss, [QWK(GRADES)], "qwk")

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        head = cfg.options.get("head", "regression")
        if head not in ("regression", "classification"):
            raise DlfError(f"--option head={head}: choose regression or classification")
        return create_model(
            cfg.arch,
            num_classes=1 if head == "regression" else GRADES,
            pretrained=cfg.options.get("pretrained"),
        )

    # -- metric and post-processing --------------------------------------------------------
    def fit_postprocess(self, learn, cfg: TrainConfig) -> dict:
        preds, targets = learn.get_preds()
        scores = to_score(preds)
        self.valid_scores, self.valid_grades = scores, targets.long()
        thresholds = fit_thresholds(scores, targets.long())
        learn.log(f"grade thresholds fitted on validation: {', '.join(f'{t:.3f}' for t in thresholds)} "
                  f"(QWK {kappa(scores, targets, DEFAULT_THRESHOLDS):.4f} with 0.5, 1.5, 2.5, 3.5)")  # fmt: skip
        return {"thresholds": thresholds}

    def final_score(self, learn, cfg: TrainConfig, post: dict) -> float:
        return kappa(self.valid_scores, self.valid_grades, post["thresholds"])

    def report_extras(self, learn, cfg: TrainConfig, post: dict) -> dict:
        pred = regression_to_class(self.valid_scores, GRADES, post["thresholds"]).long()
        true = self.valid_grades
        confusion = confusion_matrix(true, pred, GRADES)
        worst = torch.argsort((self.valid_scores - true.float()).abs(), descending=True)[:18]
        samples = []
        for j in worst.tolist():
            img = self.images[self.valid_idx[j]]
            samples.append({"image": np.asarray(img), "title": f"true {int(true[j])} / pred {int(pred[j])} ({float(self.valid_scores[j]):.2f})",
                            "bad": int(true[j]) != int(pred[j])})  # fmt: skip
        return {
            "confusion": confusion.numpy(),
            "labels": [str(g) for g in range(GRADES)],
            "samples": samples,
        }

    # -- predict and write -----------------------------------------------------------------
    def predict(
        self, model: nn.Module, cfg: TrainConfig, post: dict, data: Path, out: Path, tta: int, log
    ) -> Path:
        items = read_test(data)
        reader, recipe = self._reader(cfg)
        cache = build_cache([it.path for it in items], data, "test", cfg.size, reader, recipe, log)
        normalize = [t for t in self._tfms(cfg) if not getattr(t, "train_only", False)]
        outs = predict_images(model, cache.array, normalize, bs=cfg.bs * 2, tta=tta)
        grades = regression_to_class(to_score(outs), GRADES, post["thresholds"]).long().tolist()
        write_submission(out, [it.id_code for it in items], grades)
        counts = np.bincount(grades, minlength=GRADES).tolist()
        log(f"{len(items)} test images graded with {tta} TTA pass(es); grades 0-4: {counts}")
        return out

    def evaluate(self, truth: Path, pred: Path) -> float:
        t, p = paired_labels(truth, pred)
        return float(quadratic_weighted_kappa(torch.tensor(t), torch.tensor(p)))
