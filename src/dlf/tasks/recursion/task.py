"""Recursion Cellular Image Classification (RxRx1) as a dlf task: the siRNA of a well from
two sites of six-channel fluorescence microscopy.

The five parts: read (files.py: the CSVs, six PNGs per site), data (one 6-channel image per
site in the decoded-image cache, each site with its experiment's normalisation statistics,
normalisation.py), split (held-out experiments, split.py), model (a zoo CNN with
`in_chans=6`, a softmax over the 1,108 siRNAs and 31 controls or a cosine/ArcFace head,
optionally a cell-type head: heads.py), post-processing (sites averaged per well, then the
plate-level assignment: postprocess.py), metric (accuracy over wells), submission
(`id_code,sirna`).
"""

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlf.core import DlfError
from dlf.data.augment import Dihedral
from dlf.data.resident import array_column, image_column
from dlf.models import create_model
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import build_cache
from dlf.tasks.recursion.files import (
    CELL_TYPES,
    N_CLASSES,
    N_SIRNAS,
    SITES,
    accuracy_of_files,
    read_site,
    read_split,
    write_submission,
)
from dlf.tasks.recursion.heads import RecursionNet, arcface_logits
from dlf.tasks.recursion.normalize import PerItemNormalize, group_stats
from dlf.tasks.recursion.postprocess import plate_assignment, plate_groups, well_mean
from dlf.tasks.recursion.split import experiment_folds, well_split
from dlf.tasks.recursion.synth import synth_recursion
from dlf.train.metrics import AvgMetric

CELL_WEIGHT = 0.2  # the cell-type head's share of the loss: a hint, not the goal


@dataclass
class RecursionOptions:
    """`--option` settings of the recursion task."""

    normalize: Literal["experiment", "plate", "off"] = "experiment"
    head: Literal["softmax", "cosine", "arcface"] = "softmax"
    arcface_s: float = 30.0  # ArcFace scale s (the paper's 64 is for 85k identities)
    arcface_m: float = 0.3  # ArcFace angular margin m, radians (the paper uses 0.5)
    cell_head: bool = False  # a second head predicting the cell type (an auxiliary loss)
    assignment: Literal["group", "plate", "off"] = "group"  # see postprocess.py
    split: Literal["experiment", "well", "site"] = "experiment"  # well, site: for comparison only
    folds: int = 3
    fold: int = 0
    pretrained: str | None = None  # a weights file for the backbone (never a download)


def site_accuracy(out: torch.Tensor, sirna: torch.Tensor, *rest) -> torch.Tensor:
    """Per-site accuracy over all 1,139 classes (controls included), during training."""
    return (out[:, :N_CLASSES].argmax(1) == sirna).float().mean()


class RecursionLoss:
    """Cross-entropy over the 1,139 classes (controls as extra classes), through ArcFace's
    margin for the cosine heads, plus the cell-type head's cross-entropy when there is one."""

    def __init__(self, head: str, s: float, m: float, cell_head: bool) -> None:
        self.head, self.s, self.m, self.cell_head = head, s, m, cell_head

    def __call__(self, out: torch.Tensor, sirna: torch.Tensor, cell: torch.Tensor, *rest):
        logits = out[:, :N_CLASSES].float()
        if self.head != "softmax":
            logits = arcface_logits(logits, sirna, self.s, self.m if self.head == "arcface" else 0)
        loss = F.cross_entropy(logits, sirna)
        if self.cell_head:
            loss = loss + CELL_WEIGHT * F.cross_entropy(out[:, N_CLASSES:].float(), cell)
        return loss


def sirna_probs(out: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Probabilities over the 1,108 siRNAs only (controls are never an answer)."""
    return (scale * out[:, :N_SIRNAS].float()).softmax(1)


def false_colour(image: np.ndarray) -> np.ndarray:
    """H x W x 6 uint8 -> H x W x 3: each stain its own colour (w1 blue, w2 green, w3 red,
    w4 cyan, w5 magenta, w6 yellow), each channel stretched from its 5th to its 99.5th
    percentile (the background to the brightest cells)."""
    colours = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0], [0, 1, 1], [1, 0, 1], [1, 1, 0]], float)
    x = image.astype(np.float64)
    lo, hi = np.percentile(x, [5, 99.5], axis=(0, 1))
    x = np.clip((x - lo) / np.maximum(hi - lo, 1), 0, 1)
    return (np.clip(x @ colours / 2, 0, 1) * 255).astype(np.uint8)


def _subset(column, rows: np.ndarray):
    """A column over some rows of the cache (rows increasing, so sorted batches stay sorted)."""
    return lambda idx: column(rows[idx])


class RecursionTask(Task):
    name = "recursion"
    metric_name = "accuracy"
    # fp32: on this 2-core CPU bf16 autocast trained this 6-channel ResNet-18 slower than
    # fp32 (42 vs 183 images/s in two default runs), unlike the 3-channel tasks
    defaults = {"epochs": 40, "arch": "resnet18", "size": 64, "bs": 16, "lr": 2e-3, "tta": 8,
                "precision": "fp32"}  # fmt: skip
    synth_n = 480  # training treatment wells of the embedded dataset (40 siRNAs x 12 experiments)
    Options = RecursionOptions
    truth_inputs = {"truth": "the answer key: id_code,sirna (or train.csv's columns)"}
    kaggle_slugs = ("recursion-cellular-image-classification",)  # /kaggle/input/<slug>/
    # --recipe kaggle (on a dlf with recipes): sources in docs/tasks/recursion.md ("Kaggle recipe")
    recipes = {"kaggle": {"arch": "efficientnet_b2", "size": 256, "bs": 32, "epochs": 30,
                          "lr": 1e-3, "tta": 8,
                          "options": {"normalize": "experiment", "assignment": "group"}}}  # fmt: skip

    def synth(self, folder: Path, n: int, seed: int) -> None:
        """About `n` training treatment wells: each of the 12 training experiments holds every
        siRNA once, so n / 12 siRNAs, rounded to a multiple of 4 (one group per plate)."""
        folder.rmdir()  # synth_recursion wants to create the folder itself
        synth_recursion(folder, n_sirnas=max(4, 4 * round(n / 48)), seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        wells = read_split(ctx.data, split)
        items = [w.site_files(ctx.data, split, s) for w in wells for s in SITES]
        cache = build_cache(items, ctx.data, split, ctx.cfg.size, read_site, "rxrx 6-channel sites",
                            ctx.log, channels=6)  # fmt: skip
        site_wells = [w for w in wells for _ in SITES]
        norm = self._norm(ctx, cache.array, site_wells, split)
        well_of = np.repeat(np.arange(len(wells)), len(SITES))
        plates = sorted({(w.experiment, w.plate) for w in wells})
        plate_of = np.array([plates.index((w.experiment, w.plate)) for w in site_wells])
        extra = {"wells": wells, "well_of": well_of, "plate_of": plate_of,
                 "experiment": [w.experiment for w in site_wells]}  # fmt: skip
        ids = [f"{w.id_code}_s{s}" for w in wells for s in SITES]
        if split == "test":  # control wells only lent their statistics; predict the rest
            rows = np.flatnonzero([not w.control for w in site_wells])
            columns = {"image": _subset(image_column(cache.array), rows),
                       "norm": _subset(array_column(norm), rows)}  # fmt: skip
            extra = {k: (v if k == "wells" else np.asarray(v)[rows]) for k, v in extra.items()}
            return Data(columns, [ids[i] for i in rows], extra=extra)
        sirna = np.array([w.sirna for w in site_wells], dtype=np.int64)
        cell = np.array([CELL_TYPES.index(w.cell_type) if w.cell_type in CELL_TYPES else 0
                         for w in site_wells], dtype=np.int64)  # fmt: skip
        columns = {
            "image": image_column(cache.array),
            "norm": array_column(norm),
            "sirna": array_column(sirna),
            "cell": array_column(cell),
            "well": array_column(np.stack([well_of, plate_of], 1)),  # for the well-level metric
        }
        return Data(columns, ids, images=cache.array, extra={**extra, "sirna": sirna, "cell": cell})

    def _norm(self, ctx: Context, array: np.ndarray, site_wells: list, split: str) -> np.ndarray:
        mode = ctx.opts.normalize
        if mode == "experiment":
            return group_stats(array, [w.experiment for w in site_wells])
        if mode == "plate":
            return group_stats(array, [f"{w.experiment}/{w.plate}" for w in site_wells])
        if split == "train":  # "off": one set of statistics, the training images'
            return group_stats(array, ["all"] * len(site_wells))
        stats = np.asarray(ctx.fitted["train_stats"], np.float32)
        return np.broadcast_to(stats, (len(site_wells), *stats.shape)).copy()

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        treated = train.extra["sirna"] < N_SIRNAS
        groups = plate_groups(train.extra["sirna"][treated], train.extra["plate_of"][treated])
        ctx.log(f"{len(groups)} siRNA group(s) on the training plates, of "
                f"{', '.join(str(len(g)) for g in groups[:8])} siRNAs")  # fmt: skip
        stats = group_stats(train.images, ["all"] * len(train))[0] if len(train) else None
        return {"plate_groups": groups, "train_stats": stats.tolist()}

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        o = ctx.opts
        if o.split in ("well", "site"):
            train_idx, valid_idx = well_split(train.extra["well_of"], 1 / o.folds, ctx.cfg.seed,
                                              by_site=o.split == "site")  # fmt: skip
            how = f"random {o.split}s (leaky: same experiments on both sides)"
        else:
            train_idx, valid_idx = experiment_folds(train.extra["experiment"], o.folds, o.fold,
                                                    ctx.cfg.seed)  # fmt: skip
            held = sorted({train.extra["experiment"][i] for i in valid_idx})
            how = f"held-out experiments {', '.join(held)}"
        ctx.log(f"{len(train_idx)} training and {len(valid_idx)} validation sites ({how})")
        return train_idx, valid_idx

    def transforms(self, ctx: Context) -> list:
        # A cell picture has no up or left: the eight symmetries of the square are free data.
        return [Dihedral(), PerItemNormalize()]

    # -- model, loss, metric ---------------------------------------------------------------
    def model(self, ctx: Context) -> nn.Module:
        o = ctx.opts
        backbone = create_model(ctx.cfg.arch, num_classes=0, in_chans=6, pretrained=o.pretrained)
        n_features = getattr(backbone, "num_features", None)
        if not n_features:
            raise DlfError(f"arch {ctx.cfg.arch!r} has no pooled features; choose a classifier")
        return RecursionNet(backbone, n_features, N_CLASSES, o.head != "softmax",
                            len(CELL_TYPES) if o.cell_head else 0)  # fmt: skip

    def loss(self, ctx: Context):
        o = ctx.opts
        return RecursionLoss(o.head, o.arcface_s, o.arcface_m, o.cell_head)

    def metrics(self, ctx: Context) -> list:
        return [AvgMetric(site_accuracy, "site_acc")]

    def activation(self, ctx: Context):
        return partial(sirna_probs, scale=1.0 if ctx.opts.head == "softmax" else ctx.opts.arcface_s)

    # -- post-processing and the metric ----------------------------------------------------
    def _well_predictions(self, ctx, probs, well_info, mode: str, sirna=None):
        """(well sirna truth or None, predicted sirna per well) over treatment wells."""
        well_of, plate_of = well_info[:, 0].numpy(), well_info[:, 1].numpy()
        wells, p = well_mean(probs.float(), well_of)
        first = np.unique(well_of, return_index=True)[1]  # one site per well, in `wells` order
        truth = None if sirna is None else sirna.numpy()[first]
        keep = np.ones(len(wells), bool) if truth is None else truth < N_SIRNAS
        p, plates = p[keep].numpy(), plate_of[first][keep]
        if mode == "off":
            pred = p.argmax(1)
        else:
            groups = ctx.fitted.get("plate_groups") if mode == "group" else None
            pred = plate_assignment(p, plates, groups)
        return (None if truth is None else truth[keep]), pred

    def fit_postprocess(self, ctx: Context, probs, targets) -> dict:
        sirna, _, well_info = targets
        found = {}
        for mode in ("off", "plate", "group"):
            truth, pred = self._well_predictions(ctx, probs, well_info, mode, sirna)
            found[mode] = float((truth == pred).mean())
        ctx.log("validation well accuracy: " + ", ".join(
            f"assignment={m} {a:.4f}" for m, a in found.items()))  # fmt: skip
        return {}  # nothing is fitted on validation: the plate groups come from training plates

    def score(self, ctx: Context, probs, targets, post: dict) -> float:
        sirna, _, well_info = targets
        mode = post.get("assignment", ctx.opts.assignment)
        truth, pred = self._well_predictions(ctx, probs, well_info, mode, sirna)
        return float((truth == pred).mean())

    def report(self, ctx: Context, train: Data, valid_idx, probs, targets, post: dict) -> dict:
        sirna, cell, well_info = targets
        mode = post.get("assignment", ctx.opts.assignment)
        first = np.unique(well_info[:, 0].numpy(), return_index=True)[1]
        cells = cell.numpy()[first][sirna.numpy()[first] < N_SIRNAS]
        rows = []
        results = {
            m: self._well_predictions(ctx, probs, well_info, m, sirna) for m in ("off", mode)
        }
        for c in np.unique(cells):
            row = {"cell type": CELL_TYPES[c], "wells": int((cells == c).sum())}
            for m, (truth, pred) in results.items():
                row[f"accuracy, assignment={m}"] = f"{(truth == pred)[cells == c].mean():.4f}"
            rows.append(row)
        site_pred = probs.argmax(1).numpy()
        samples = []
        for pos in np.unique(np.linspace(0, len(valid_idx) - 1, 12).astype(int)):
            i, pred = valid_idx[pos], int(site_pred[pos])
            true = int(train.extra["sirna"][i])
            samples.append({"image": false_colour(np.asarray(train.images[i])),
                            "title": f"{train.ids[i]}: siRNA {true} / site pred {pred}",
                            "bad": true != pred})  # fmt: skip
        return {"tables": {"Validation accuracy per cell type (wells)": rows}, "samples": samples,
                "samples_heading": "Validation sites in false colour (w1 blue, w2 green, w3 red, "
                                   "w4 cyan, w5 magenta, w6 yellow)"}  # fmt: skip

    # -- write the submission --------------------------------------------------------------
    def write(self, ctx: Context, test: Data, probs, post: dict, out: Path) -> Path:
        info = torch.as_tensor(np.stack([test.extra["well_of"], test.extra["plate_of"]], 1))
        mode = post.get("assignment", ctx.opts.assignment)
        _, pred = self._well_predictions(ctx, probs, info, mode)
        wells = [test.extra["wells"][i] for i in np.unique(test.extra["well_of"])]
        write_submission(out, [w.id_code for w in wells], pred)
        ctx.log(f"{len(wells)} test wells, {len(set(pred.tolist()))} distinct siRNAs predicted "
                f"(assignment={mode})")  # fmt: skip
        return out

    def evaluate(self, pred: Path, truth: Path) -> float:
        return accuracy_of_files(truth, pred)
