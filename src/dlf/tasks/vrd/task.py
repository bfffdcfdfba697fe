"""Open Images 2019 Visual Relationship Detection as a dlf task: the shared FCOS detector
finds the boxes, a pair head and an attribute head (model.py, pairhead.py) score the
relationships between them, both trained in one run.

The five parts: read (files.py: the VRD CSVs, with the allowed-triplets check naming the
line of a bad training row), data (each image's distinct boxes among its triplets, class =
LabelName1 / LabelName2 among the 57 VRD classes, attributes excluded; `links`: each
triplet as indices into those boxes, so it follows them through the augmentation; the
image's truth triplets and verified labels ride along for the validation score), model and
loss (`VrdModel`: FCOS plus the heads, which read the truth boxes in training; `VrdLoss`),
predict (the model ranks triplets itself; flip-TTA passes merged per triplet), the metric
(`vrd_score` on the validation images' truth) and the submission (plus, beside it, the
prior alone on the same detections).

The prior is counted from the training file only (never the validation file), saved in
config.json as its non-zero entries (so `dlf predict` needs no training files), and is
both the heads' input feature and the baseline they are compared with.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from dlf.core.errors import DlfError
from dlf.data.loaders import DataLoaders
from dlf.data.resident import array_column, image_column, ragged_column
from dlf.tasks.base import Context, Data
from dlf.tasks.common import array_loaders
from dlf.tasks.detection import DetectionTask
from dlf.tasks.oid.predict import merge_passes
from dlf.tasks.oid.predict import to_rows as det_rows
from dlf.tasks.vrd.files import (
    IS,
    RELATIONSHIPS,
    ImageLabels,
    Triplets,
    read_allowed_triplets,
    read_descriptions,
    read_image_labels,
    read_vrd,
    write_submission,
)
from dlf.tasks.vrd.metric import VrdResult, evaluate_vrd, vrd_score
from dlf.tasks.vrd.model import VrdLoss, VrdModel
from dlf.tasks.vrd.predict import merge_triplet_passes, rows_to_triplets, to_rows
from dlf.tasks.vrd.prior import FrequencyPrior, fit_frequency_prior, prior_predictions, truth_boxes
from dlf.tasks.vrd.synth import FILES, synth_vrd
from dlf.train.tta import TTAMerge, undo_dihedral_boxes


@dataclass
class VrdOptions:
    """`--option` settings of the VRD task."""

    pretrained: str | None = None  # a weights file for the backbone (never a download)
    score_floor: float = 0.05  # detections scoring less are dropped
    nms_iou: float = 0.5  # per-class NMS, also where TTA passes meet
    max_boxes: int = 20  # most confident detections per image that form pairs
    pairs_per_image: int = 64  # truth-box pairs per training image in the heads' loss
    relation_weight: float = 0.1  # the heads' loss relative to the detector's (1.0 cost detection)
    triplets: int = 100  # triplets written per image (the best by score)
    skip_disallowed: bool = False  # drop (and count) training rows outside the allowed list
    fpn_channels: int = 128
    head_depth: int = 2


class VrdTask(DetectionTask):
    name = "vrd"
    metric_name = "score"
    kaggle_slugs = ("open-images-2019-visual-relationship",)  # /kaggle/input/<slug>/ in a kernel
    synth_n = 600
    Options = VrdOptions
    truth_inputs = {
        "truth": "the answer key's triplets (a challenge-2019-*-vrd.csv)",
        "truth-labels": "the verified image-level labels (a *-vrd-labels.csv)",
    }

    def synth(self, folder: Path, n: int, seed: int) -> None:
        synth_vrd(folder, n=n, n_test=max(20, n // 5), seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        if split == "test":
            return self.test_images(ctx)
        classes = list(read_descriptions(ctx.data / FILES["classes"]))
        labels = classes + list(read_descriptions(ctx.data / FILES["attributes"]))
        allowed = read_allowed_triplets(ctx.data / FILES["triplets"])
        if not (ctx.data / FILES["train_vrd"]).is_file():
            raise DlfError(f"{ctx.data / FILES['train_vrd']}: file not found; check --data")
        parts = [_read_split(ctx, source, labels, len(classes), allowed)
                 for source in ("train", "validation")
                 if (ctx.data / FILES[f"{source}_vrd"]).is_file()]  # fmt: skip
        origin = np.concatenate([np.full(len(p["ids"]), k) for k, p in enumerate(parts)])
        paths = [p["folder"] / f"{i}.jpg" for p in parts for i in p["ids"]]
        images = self.cache(ctx, paths, "train")
        size = ctx.cfg.size
        boxes = [b for p in parts for b in p["boxes"]]
        columns = {
            "image": image_column(images),
            "boxes": ragged_column([b[:, :4] * size for b in boxes], 0, torch.float32, fixed=True),
            "box_labels": ragged_column([b[:, 4] for b in boxes], -1, torch.int64, fixed=True),
            "triplets": ragged_column(
                [t for p in parts for t in p["triplets"]], -1, torch.float32, fixed=True
            ),
            "verified": array_column(np.concatenate([p["verified"] for p in parts])),
            "links": ragged_column([t for p in parts for t in p["links"]], -1, torch.int64),
        }
        ids = [i for p in parts for i in p["ids"]]
        extra = {"origin": origin, "classes": classes, "labels": labels, "allowed": allowed,
                 "train_triplets": parts[0]["table"]}  # fmt: skip
        return Data(columns, ids, images=images, extra=extra)

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        """The classes, all labels, and the frequency prior of the training file (its
        non-zero entries [subject, object, relationship, probability]). Without a validation
        file the split is random and the prior has counted the validation images too, so the
        validation score is then optimistic."""
        labels = train.extra["labels"]
        names = {**read_descriptions(ctx.data / FILES["classes"]),
                 **read_descriptions(ctx.data / FILES["attributes"])}  # fmt: skip
        prior = fit_frequency_prior(train.extra["train_triplets"], train.extra["allowed"])
        index = [prior.index(n) for n in labels]
        probs = prior.probs[np.ix_(index, index)] if min(index, default=0) >= 0 else None
        if probs is None:
            raise DlfError(f"{ctx.data / FILES['triplets']}: a class or attribute is in no allowed "
                           "triplet; the description files and the triplets file disagree")  # fmt: skip
        s, o, r = np.nonzero(probs)
        entries = [[int(a), int(b), int(c), float(probs[a, b, c])] for a, b, c in zip(s, o, r)]
        return {"classes": train.extra["classes"], "labels": labels,
                "display_names": [names[n] for n in labels], "prior": entries}  # fmt: skip

    # -- loaders, model, loss: the detector and the heads, trained together ---------------
    def loaders(self, ctx: Context, train: Data, train_idx, valid_idx, sampler) -> DataLoaders:
        """The model reads the truth boxes and their links too (the heads learn on them);
        the loss reads the boxes, and the metric fields ride along for validation."""
        train_dl, valid_dl = array_loaders(train.columns, train_idx, valid_idx, ctx.cfg.bs, sampler)
        return DataLoaders(train_dl, valid_dl, batch_tfms=self.transforms(ctx),
                           inputs=("image", "boxes", "box_labels", "links"),
                           targets=("boxes", "box_labels", "triplets", "verified"))  # fmt: skip

    def model(self, ctx: Context) -> nn.Module:
        o = ctx.opts
        return VrdModel(super().model(ctx), saved_prior(ctx.fitted).probs, len(ctx.fitted["classes"]),
                        IS, ctx.cfg.size, score_floor=o.score_floor, nms_iou=o.nms_iou,
                        max_boxes=o.max_boxes, triplets=o.triplets,
                        pairs_per_image=o.pairs_per_image)  # fmt: skip

    def loss(self, ctx: Context) -> nn.Module:
        return VrdLoss(ctx.opts.relation_weight)

    def activation(self, ctx: Context):
        return lambda out: (out.triplets, out.detections)

    def tta_merge(self, ctx: Context) -> TTAMerge:
        def undo(out: tuple, k: int, h: int, w: int) -> tuple:
            rows, dets = out
            rows = torch.cat([rows[..., :4], undo_dihedral_boxes(rows[..., 4:8], k, h, w),
                              undo_dihedral_boxes(rows[..., 8:12], k, h, w)], -1)  # fmt: skip
            return rows, torch.cat([undo_dihedral_boxes(dets[..., :4], k, h, w), dets[..., 4:]], -1)

        def merge(passes: list) -> tuple:
            if len(passes) == 1:
                return passes[0]
            o = ctx.opts
            return (merge_triplet_passes([p[0] for p in passes], o.nms_iou, o.triplets),
                    merge_passes([p[1] for p in passes], o.nms_iou, o.max_boxes))  # fmt: skip

        return TTAMerge(undo, merge)

    def decode(self, ctx: Context):
        """A batch -> per image (triplet rows, detection rows), boxes normalised."""
        size = ctx.cfg.size
        return lambda out: list(zip(to_rows(out[0], size), det_rows(out[1], size, size)))

    # -- from rows to triplets, and the metric ---------------------------------------------
    def triplets(self, ctx: Context, preds: list, ids: list[str]) -> Triplets:
        """The model's ranked triplets (pair head and attribute head on the detections)."""
        return rows_to_triplets([p[0] for p in preds], ids, ctx.fitted["labels"])

    def valid_items(self, ctx: Context, train: Data, valid_idx, preds: list, targets, post: dict):
        """The meetup board shows each validation image's detected boxes (the second part of
        a prediction; its first is the ranked triplets), as for oid."""
        detections = [d for _, d in preds]
        return super().valid_items(ctx, train, valid_idx, detections, targets, post)

    def prior_triplets(self, ctx: Context, preds: list, ids: list[str]) -> Triplets:
        """The prior alone on the same detections: the baseline the heads must beat."""
        classes = ctx.fitted["classes"]
        boxes = {i: (d[:, :4], [classes[int(c)] for c in d[:, 5]], d[:, 4])
                 for i, (_, d) in zip(ids, preds)}  # fmt: skip
        return prior_predictions(boxes, saved_prior(ctx.fitted), top=ctx.opts.triplets,
                                 max_boxes=ctx.opts.max_boxes)  # fmt: skip

    def _result(
        self, ctx: Context, preds: list | None, targets: tuple, prior_only: bool = False
    ) -> VrdResult:
        """vrd_score on validation: the model's triplets; with prior_only the prior on the
        same detections; preds None: the prior on the truth's own boxes (a perfect
        detector: the upper figure of the detector + prior)."""
        ids = [f"{i:08d}" for i in range(len(targets[0]))]
        truth, labels = _truth(targets, ids, ctx.fitted["labels"])
        if preds is None:
            known = truth_boxes(truth)
            boxes = {i: known.get(i, (np.zeros((0, 4)), [], np.zeros(0))) for i in ids}
            pred = prior_predictions(boxes, saved_prior(ctx.fitted), top=ctx.opts.triplets,
                                     max_boxes=ctx.opts.max_boxes)  # fmt: skip
        elif prior_only:
            pred = self.prior_triplets(ctx, preds, ids)
        else:
            pred = self.triplets(ctx, preds, ids)
        return vrd_score(truth, labels, pred)

    def fit_postprocess(self, ctx: Context, preds: list, targets: tuple) -> dict:
        prior = self._result(ctx, preds, targets, prior_only=True).score
        upper = self._result(ctx, None, targets).score
        ctx.log(f"validation score of the prior alone on the same detections: {prior:.4f}; "
                f"on the truth's own boxes (a perfect detector): {upper:.4f}")  # fmt: skip
        return {}

    def score(self, ctx: Context, preds: list, targets: tuple, post: dict) -> float:
        return float(self._result(ctx, preds, targets).score)

    def report(self, ctx: Context, train: Data, valid_idx, preds, targets, post: dict) -> dict:
        results = {"model (heads on detections)": self._result(ctx, preds, targets),
                   "prior alone, same detections": self._result(ctx, preds, targets, prior_only=True),
                   "prior alone, truth boxes": self._result(ctx, None, targets)}  # fmt: skip
        model, prior, upper = results.values()
        names = ctx.fitted["display_names"]
        relations = targets[2][..., 2].numpy()
        table = [{"relationship": r, "truth triplets": int((relations == RELATIONSHIPS.index(r)).sum()),
                  "AP relationships": ap, "AP phrases": model.ap_phrases[r],
                  "AP (prior, same detections)": prior.ap_relationships[r],
                  "AP (prior on truth boxes)": upper.ap_relationships[r]}
                 for r, ap in model.ap_relationships.items()]  # fmt: skip
        parts = [{"": k, "score": v.score, "mAP relationships": v.map_relationships,
                  "Recall@50": v.recall50, "mAP phrases": v.map_phrases}
                 for k, v in results.items()]  # fmt: skip
        size = ctx.cfg.size
        boxes, box_labels = targets[0], targets[1]
        samples = []
        for j in range(min(12, len(preds))):
            true = [(*b.tolist(), names[int(c)]) for b, c in zip(boxes[j], box_labels[j]) if c >= 0]
            drawn = []
            for k, row in enumerate(preds[j][0][:3]):  # the three best triplets, numbered
                what = f"{k + 1}: {names[int(row[1])]} {RELATIONSHIPS[int(row[3])]} {names[int(row[2])]}"
                drawn.append((*(row[4:8] * size).tolist(), f"{what} {row[0]:.2f}"))
                if int(row[3]) != IS:
                    drawn.append((*(row[8:12] * size).tolist(), f"{k + 1}: object"))
            samples.append({"image": train.images[valid_idx[j]], "boxes": true, "pred_boxes": drawn,
                            "title": f"{len(true)} true boxes; best 3 triplets"})  # fmt: skip
        return {"samples": samples, "samples_heading": "Validation images: true boxes solid, the model's "
                "three best triplets dashed (subject labelled with the triplet, object numbered)",
                "tables": {"Validation score and its parts": parts,
                           "Average precision per relationship (validation)": table}}  # fmt: skip

    # -- write the submission, and score one -----------------------------------------------
    def write(self, ctx: Context, test: Data, preds: list, post: dict, out: Path) -> Path:
        """The model's submission at `out`, and beside it `<name>-prior-only.csv`: the
        prior alone on the same detections, the baseline to compare it with."""
        triplets = self.triplets(ctx, preds, test.ids)
        write_submission(out, triplets)
        baseline = out.with_name(f"{out.stem}-prior-only{out.suffix}")
        write_submission(baseline, self.prior_triplets(ctx, preds, test.ids))
        ctx.log(f"{len(test)} test images, {len(triplets)} triplets (at most {ctx.opts.triplets} "
                f"per image); the prior alone on the same detections: {baseline}")  # fmt: skip
        return out

    def evaluate(self, pred: Path, truth: Path, truth_labels: Path) -> float:
        result = evaluate_vrd(pred, truth, truth_labels)
        print(f"mAP relationships {result.map_relationships:.6f}, Recall@50 {result.recall50:.6f}, "
              f"mAP phrases {result.map_phrases:.6f} ({result.n_truth} truth triplets)")  # fmt: skip
        return float(result.score)


def saved_prior(fitted: dict) -> FrequencyPrior:
    """The prior back from config.json's sparse entries (only `labels` and `probs` are used
    to rank triplets; counts are not kept)."""
    labels = fitted["labels"]
    probs = np.zeros((len(labels), len(labels), len(RELATIONSHIPS)))
    for s, o, r, p in fitted["prior"]:
        probs[s, o, r] = p
    return FrequencyPrior(labels=tuple(labels), probs=probs, counts=np.zeros(probs.shape, np.int64),
                          allowed=probs > 0, smoothing=float("nan"))  # fmt: skip


def _read_split(ctx: Context, source: str, labels: list[str], n_classes: int, allowed) -> dict:
    """One split's files -> sorted image ids; per image its distinct boxes (k x 5: xmin ymin
    xmax ymax class, normalised) and triplets (k x 11: label1 label2 relationship box1 box2);
    the verified labels (images x labels: -1 not verified, else the confidence); the
    triplets table."""
    csv = ctx.data / FILES[f"{source}_vrd"]
    table = read_vrd(csv, allowed=allowed, skip_disallowed=ctx.opts.skip_disallowed)
    if table.skipped:
        ctx.log(f"{csv.name}: skipped {table.skipped} rows outside the allowed triplets")
    index = {n: i for i, n in enumerate(labels)}
    unknown = sorted(set(table.label_names.tolist()) - set(index))
    if unknown:
        raise DlfError(f"{csv}: label {unknown[0]} is not in {FILES['classes']} or "
                       f"{FILES['attributes']}; fix the row or the description files")  # fmt: skip
    label_csv = ctx.data / FILES[f"{source}_labels"]
    verified_rows = read_image_labels(label_csv) if label_csv.is_file() else None
    ids = sorted(set(table.image_ids.tolist())
                 | set(() if verified_rows is None else verified_rows.image.tolist()))  # fmt: skip
    folder = ctx.data / source
    for x in ids:
        if not (folder / f"{x}.jpg").is_file():
            raise DlfError(f"{folder / f'{x}.jpg'}: named in {csv.name} but missing; add the "
                           "image or remove its rows")  # fmt: skip
    code = np.array([index[n] for n in table.label_names.tolist()], np.int64)
    per_image_boxes = truth_boxes(table)
    boxes, triplets, links = [], [], []
    image_of = table.image_ids[table.image]
    for x in ids:
        box, names, _ = per_image_boxes.get(x, (np.zeros((0, 4)), [], None))
        cls = np.array([index[n] for n in names], np.float64)
        if (cls >= n_classes).any():
            raise DlfError(f"{csv}: image {x} has an attribute as a box's class (LabelName1 of a "
                           "row, or LabelName2 of a row that is not 'is'); fix the row")  # fmt: skip
        boxes.append(np.column_stack([np.asarray(box, np.float64).reshape(-1, 4), cls]))
        mine = np.flatnonzero(image_of == x)
        links.append(_links(box, cls, code[table.label1[mine]], code[table.label2[mine]],
                            table.relation[mine], table.box1[mine], table.box2[mine], n_classes))  # fmt: skip
        triplets.append(np.column_stack([code[table.label1[mine]], code[table.label2[mine]],
                                         table.relation[mine], table.box1[mine], table.box2[mine]]
                                        ).astype(np.float32).reshape(-1, 11))  # fmt: skip
    verified = np.full((len(ids), len(labels)), -1, np.int8)
    if verified_rows is not None:
        where = {x: i for i, x in enumerate(ids)}
        for x, label, c in zip(verified_rows.image, verified_rows.label, verified_rows.confidence):
            if label in index:
                verified[where[x], index[label]] = int(c)
    return {"ids": ids, "folder": folder, "boxes": boxes, "triplets": triplets, "links": links,
            "verified": verified, "table": table}  # fmt: skip


def _links(boxes, classes, label1, label2, relation, box1, box2, n_classes: int) -> np.ndarray:
    """An image's triplets as rows (subject box index, object box index, relationship,
    attribute index or -1) into its distinct boxes, so they follow the boxes through the
    augmentation (an `is` row links a box to itself)."""
    boxes = np.asarray(boxes, np.float32).reshape(-1, 4)

    def find(box: np.ndarray, label: int) -> int:
        return int(np.flatnonzero((boxes == box).all(1) & (classes == label))[0])

    rows = []
    for a, b, r, p, q in zip(label1, label2, relation, box1, box2):
        attribute = r == IS
        rows.append((find(p, a), find(p, a) if attribute else find(q, b), r,
                     b - n_classes if attribute else -1))  # fmt: skip
    return np.asarray(rows, np.float32).reshape(-1, 4)


def _truth(targets: tuple, ids: list[str], labels: list[str]) -> tuple[Triplets, ImageLabels]:
    """The validation batches' fields back into the metric's truth tables."""
    rows, verified = targets[2].numpy(), targets[3].numpy()
    img, slot = np.nonzero(rows[..., 0] >= 0)
    t = rows[img, slot]
    names = np.asarray(labels)
    truth = Triplets.build(
        np.asarray(ids)[img].tolist(), names[t[:, 0].astype(int)].tolist(),
        names[t[:, 1].astype(int)].tolist(), [RELATIONSHIPS[int(r)] for r in t[:, 2]],
        t[:, 3:7], t[:, 7:11], all_images=ids,
    )  # fmt: skip
    vi, vl = np.nonzero(verified >= 0)
    image_labels = ImageLabels(image=np.asarray(ids)[vi], label=names[vl],
                               confidence=verified[vi, vl].astype(np.float64))  # fmt: skip
    return truth, image_labels


__all__ = ["VrdOptions", "VrdTask", "saved_prior"]
