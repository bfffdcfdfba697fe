"""Open Images 2019 Object Detection as a dlf task: boxes of up to 500 classes per image,
scored with the challenge's hierarchical mAP.

The five parts: read (files.py: the box CSVs in both layouts, the verified image-level
labels, the class list and the hierarchy JSON), data (JPEGs read as a viewer shows them
(EXIF orientation) and stretched into the decoded-image cache, boxes in the cache's pixels,
flips and a zoom that move boxes with the image on the device), model (FCOS on a zoo backbone
through the FPN), loss and metric (focal + GIoU + centerness; the challenge mAP of metric.py
on the validation images, with their group-of flags and verified labels riding along in the
batch), predict (decoding with per-class NMS, flip TTA whose passes are merged by NMS, each
detection copied to its ancestor classes, `ImageId,PredictionString` rows).

The cache stretches every image to size x size (no letterbox): normalised box coordinates are
then the same in the original and in the cache, so no per-image geometry needs keeping, at the
cost of distorting aspect ratios the detector must learn to live with.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlf.core.errors import DlfError
from dlf.data.resident import array_column, image_column, ragged_column
from dlf.tasks.base import Context, Data
from dlf.tasks.detection import DetectionTask
from dlf.tasks.oid.files import (
    Boxes,
    Detections,
    ImageLabels,
    read_boxes,
    read_classes,
    read_hierarchy,
    read_image_labels,
    write_submission,
)
from dlf.tasks.oid.hierarchy import Hierarchy
from dlf.tasks.oid.metric import evaluate_oid, oid_map
from dlf.tasks.oid.predict import expand_to_ancestors
from dlf.tasks.oid.synth import synth_oid

CLASSES = "challenge-2019-classes-description-500.csv"
HIERARCHY = "challenge-2019-label500-hierarchy.json"


def box_file(split: str) -> str:
    return f"challenge-2019-{split}-detection-bbox.csv"


def label_file(split: str) -> str:
    return f"challenge-2019-{split}-detection-human-imagelabels.csv"


@dataclass
class OidOptions:
    """`--option` settings of the Open Images task."""

    pretrained: str | None = None  # a weights file for the backbone (never a download)
    score_floor: float = 0.05  # detections scoring less are not written
    top_k: int = 100  # detections kept per image (before the ancestor copies)
    nms_iou: float = 0.5  # per-class NMS, also where TTA passes and ancestor copies meet
    ancestors: str = "auto"  # copy detections to ancestor classes: auto (fitted), yes, no
    fpn_channels: int = 128  # the neck's and head's width (FCOS's paper: 256)
    head_depth: int = 2  # convs per head tower (FCOS's paper: 4); 2 x 128 fits a CPU budget


class OidTask(DetectionTask):
    name = "oid"
    metric_name = "map"
    kaggle_slugs = ("open-images-2019-object-detection",)  # /kaggle/input/<slug>/ in a kernel
    synth_n = 1000
    Options = OidOptions
    truth_inputs = {
        "truth-boxes": "the answer key's boxes (the challenge's bbox CSV, 13 or 7 columns)",
        "truth-labels": "the verified image-level labels (human-imagelabels CSV)",
        "hierarchy": "the class hierarchy JSON (challenge-2019-label500-hierarchy.json)",
        "classes": "the class list (challenge-2019-classes-description-500.csv)",
    }

    def synth(self, folder: Path, n: int, seed: int) -> None:
        synth_oid(folder, n=n, n_test=max(20, n // 5), seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        if split == "test":
            return self.test_images(ctx)
        names = list(read_classes(ctx.data / CLASSES))
        sources = [s for s in ("train", "validation") if (ctx.data / box_file(s)).is_file()]
        if "train" not in sources:
            raise DlfError(f"{ctx.data / box_file('train')}: file not found; check --data")
        ids, boxes, labels, verified, origin = [], [], [], [], []
        for k, source in enumerate(sources):
            part = _read_split(ctx.data, source, names)
            ids += part["ids"]
            boxes += part["boxes"]
            labels += part["labels"]
            verified.append(part["verified"])
            origin += [k] * len(part["ids"])
        paths = [ctx.data / ("train" if o == 0 else "validation") / f"{i}.jpg"
                 for i, o in zip(ids, origin)]  # fmt: skip
        images = self.cache(ctx, paths, "train")
        size = ctx.cfg.size
        columns = {
            "image": image_column(images),
            "boxes": ragged_column([b[:, :4] * size for b in boxes], 0, torch.float32, fixed=True),
            "box_labels": ragged_column(labels, -1, torch.int64, fixed=True),
            "group_of": ragged_column([b[:, 4] for b in boxes], 0, torch.int64, fixed=True),
            "verified": array_column(np.concatenate(verified)),
        }
        extra = {"origin": np.array(origin), "classes": names}
        return Data(columns, ids, images=images, extra=extra)

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        names = train.extra["classes"]
        descriptions = read_classes(ctx.data / CLASSES)
        tree = read_hierarchy(ctx.data / HIERARCHY, names)
        # the predict step needs the classes and their ancestors, not the training files
        return {"classes": names, "display_names": [descriptions[n] for n in names],
                "ancestors": [sorted(a) for a in tree.ancestors]}  # fmt: skip

    # -- post-processing and the metric ----------------------------------------------------
    def fit_postprocess(self, ctx: Context, preds: list, targets: tuple) -> dict:
        choice = ctx.opts.ancestors
        if choice not in ("auto", "yes", "no"):
            raise DlfError(f"--option ancestors={choice}: use auto, yes or no")
        without = self._map(ctx, preds, targets, {"ancestors": False}).map
        with_copies = self._map(ctx, preds, targets, {"ancestors": True}).map
        ctx.log(f"validation map {without:.4f} with detections as predicted, {with_copies:.4f} "
                f"with each also given to its ancestor classes")  # fmt: skip
        use = with_copies > without if choice == "auto" else choice == "yes"
        return {"ancestors": bool(use)}

    def _detections(self, ctx: Context, preds: list, post: dict, ids: list[str]) -> Detections:
        rows = [self._final(ctx, r, post) for r in preds]
        return Detections.from_lists(ids, [(r[:, 5], r[:, 4], r[:, :4]) for r in rows])

    def _final(self, ctx: Context, rows: np.ndarray, post: dict) -> np.ndarray:
        if post.get("ancestors"):
            return expand_to_ancestors(rows, ctx.fitted["ancestors"], ctx.opts.nms_iou)
        return rows

    def _map(self, ctx: Context, preds: list, targets: tuple, post: dict):
        ids = [f"{i:08d}" for i in range(len(preds))]
        truth_boxes, truth_labels = _truth(targets, ids, ctx.cfg.size)
        tree = Hierarchy.from_ancestors([set(a) for a in ctx.fitted["ancestors"]])
        return oid_map(truth_boxes, truth_labels, self._detections(ctx, preds, post, ids), tree,
                       len(ctx.fitted["classes"]))  # fmt: skip

    def score(self, ctx: Context, preds: list, targets: tuple, post: dict) -> float:
        return float(self._map(ctx, preds, targets, post).map)

    def report(self, ctx: Context, train: Data, valid_idx, preds, targets, post: dict) -> dict:
        result = self._map(ctx, preds, targets, post)
        names = ctx.fitted["display_names"]
        table = [{"class": names[c], "ground-truth boxes": int(result.n_gt[c]),
                  "average precision": float(result.ap[c])}
                 for c in np.argsort(-np.nan_to_num(result.ap, nan=-1))]  # fmt: skip
        size = ctx.cfg.size
        boxes, labels = targets[0], targets[1]
        samples = []
        for j in range(min(12, len(preds))):
            true = [(*b.tolist(), names[int(c)]) for b, c in zip(boxes[j], labels[j]) if c >= 0]
            rows = preds[j][preds[j][:, 4] >= 0.3]
            pred = [(*(r[:4] * size).tolist(), f"{names[int(r[5])]} {r[4]:.2f}") for r in rows]
            samples.append({"image": train.images[valid_idx[j]], "boxes": true, "pred_boxes": pred,
                            "title": f"{len(true)} true, {len(pred)} predicted >= 0.3"})  # fmt: skip
        return {"samples": samples, "samples_heading": "Validation images: true boxes solid, predicted "
                "(score >= 0.3) dashed", "tables": {"Average precision per class (validation)": table}}  # fmt: skip

    # -- write the submission --------------------------------------------------------------
    def write(self, ctx: Context, test: Data, preds: list, post: dict, out: Path) -> Path:
        rows = [self._final(ctx, r, post) for r in preds]
        dets = [(r[:, 5].astype(int), r[:, 4], r[:, :4]) for r in rows]
        write_submission(out, test.ids, dets, ctx.fitted["classes"])
        ctx.log(f"{len(test)} test images, {sum(len(r) for r in rows)} detections"
                + (" (each also given to its ancestor classes)" if post.get("ancestors") else ""))  # fmt: skip
        return out

    def evaluate(self, pred: Path, truth_boxes: Path, truth_labels: Path, hierarchy: Path,
                 classes: Path) -> float:  # fmt: skip
        result = evaluate_oid(pred, truth_boxes, truth_labels, hierarchy, classes)
        print(f"{int((result.n_gt > 0).sum())} classes with ground truth")
        return float(result.map)


def _read_split(data: Path, source: str, names: list[str]) -> dict:
    """One split's files -> per image (sorted ids): boxes (k x 5: xmin ymin xmax ymax
    group_of, normalised), labels (k,), and the verified image labels (1 present, 0 absent,
    -1 not verified) as an images x classes array; every image must exist."""
    csv = data / box_file(source)
    boxes = read_boxes(csv, names)
    label_csv = data / label_file(source)
    labels = read_image_labels(label_csv, names) if label_csv.is_file() else None
    ids = sorted(
        set(boxes.image_ids.tolist()) | set(() if labels is None else labels.image_ids.tolist())
    )
    index = {x: i for i, x in enumerate(ids)}
    folder = data / ("train" if source == "train" else "validation")
    for x in ids:
        if not (folder / f"{x}.jpg").is_file():
            raise DlfError(f"{folder / f'{x}.jpg'}: named in {csv.name} but missing; add the "
                           "image or remove its rows")  # fmt: skip
    rows = np.array([index[x] for x in boxes.image_ids.tolist()], dtype=np.int64)
    order = np.argsort(rows, kind="stable")
    starts = np.searchsorted(rows[order], np.arange(len(ids) + 1))
    table = np.concatenate([boxes.boxes, (boxes.group_of != 0)[:, None]], 1)[order]
    per_image = [table[starts[i] : starts[i + 1]] for i in range(len(ids))]
    per_label = [boxes.labels[order][starts[i] : starts[i + 1]] for i in range(len(ids))]
    verified = np.full((len(ids), len(names)), -1, dtype=np.int8)
    for i, cls in enumerate(per_label):  # a box verifies its class, as in the metric
        verified[i, cls] = 1
    if labels is not None:
        img = np.array([index[x] for x in labels.image_ids.tolist()], dtype=np.int64)
        verified[img, labels.labels] = np.maximum(verified[img, labels.labels], labels.confidence)
    return {"ids": ids, "boxes": per_image, "labels": per_label, "verified": verified}


def _truth(targets: tuple, ids: list[str], size: int) -> tuple[Boxes, ImageLabels]:
    """The validation batches' fields back into the metric's truth tables."""
    boxes, labels, group_of, verified = (t.numpy() for t in targets)
    img, slot = np.nonzero(labels >= 0)
    n = len(img)
    truth_boxes = Boxes(
        image_ids=np.asarray(ids)[img], labels=labels[img, slot].astype(np.int64),
        boxes=boxes[img, slot].astype(np.float64) / size, group_of=group_of[img, slot].astype(np.int8),
        occluded=np.full(n, -1, np.int8), truncated=np.full(n, -1, np.int8), lines=np.zeros(n, np.int64),
    )  # fmt: skip
    vi, vc = np.nonzero(verified >= 0)
    truth_labels = ImageLabels(
        image_ids=np.asarray(ids)[vi], labels=vc.astype(np.int64),
        confidence=verified[vi, vc].astype(np.int8), lines=np.zeros(len(vi), np.int64),
    )  # fmt: skip
    return truth_boxes, truth_labels


__all__ = ["OidOptions", "OidTask"]
