"""The frequency prior: how often each relationship links two classes in the training triplets.

It is the baseline every VRD model must beat ("the prior alone"): give it boxes (the truth's,
or a detector's) and it ranks every candidate triplet by the boxes' confidences times the
prior, never looking at the pixels between them. It is also a feature for the pair head.

Counts come from a training VRD file, restricted to the allowed triplets (a row outside them
is not counted), smoothed by adding k to the count of every allowed triplet:

- a pair relationship r (not `is`) between subject class s and object class o:
  P(r | s, o) = (n(s, o, r) + k) / sum over the relationships r' allowed for (s, o), r' not
  `is`, of (n(s, o, r') + k); 0 where (s, o, r) is not allowed;
- an attribute a (`is`, one box): P(a | s, is) = (n(s, a, is) + k) / sum over the attributes
  a' allowed for s of (n(s, a', is) + k). (P(is | s, a) itself would be 1 for every allowed
  pair, since `is` is the only relationship to an attribute: it ranks nothing.)

With k = 0 an allowed triplet never seen in training gets 0, and a pair never seen at all has
no distribution (all 0).

Background (`background=True`, the default, as in the "frequency baseline" of scene-graph
papers): most pairs of boxes in an image are linked by nothing, and a prior that ignores
this proposes every pair as confidently as the pairs that usually are linked. So "no
relationship" is one more outcome of each distribution, counted from the training file
itself: the ordered pairs of distinct boxes of classes (s, o) in one image that no triplet
links (a box = a distinct class and coordinates among the image's triplets), and for
attributes the boxes of class s that no `is` row describes; it gets + k too. Then
P(r | s, o) = (n(s, o, r) + k) / (sum_r' (n(s, o, r') + k) + n_none(s, o) + k), and the
same for attributes. `background=False` gives the plain distributions above.
"""

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from dlf.tasks.vrd.files import (
    IS,
    RELATIONSHIPS,
    Triplets,
    read_allowed_triplets,
    read_vrd,
)


@dataclass(frozen=True, eq=False)
class FrequencyPrior:
    """`probs[s, o, r]` for label indices into `labels` (classes and attributes) and r into
    RELATIONSHIPS: P(r | s, o) for r != is, P(o | s, is) for r == is (module docstring);
    `counts` the training triplets counted (allowed ones only); `none_pairs[s, o]` and
    `none_boxes[s]` the unrelated pairs and undescribed boxes (used when `background`);
    `n_ignored` the rows that were not allowed."""

    labels: tuple[str, ...]
    probs: np.ndarray
    counts: np.ndarray
    allowed: np.ndarray
    smoothing: float
    background: bool = False
    none_pairs: np.ndarray | None = None
    none_boxes: np.ndarray | None = None
    n_ignored: int = 0

    @cached_property
    def label_index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.labels)}

    def index(self, label: str) -> int:
        """A label's index in `labels`, -1 if the prior has never heard of it."""
        return self.label_index.get(label, -1)

    def probability(self, subject: str, object_: str, relationship: str) -> float:
        s, o = self.index(subject), self.index(object_)
        if s < 0 or o < 0:
            return 0.0
        return float(self.probs[s, o, RELATIONSHIPS.index(relationship)])


def fit_frequency_prior(
    train: Triplets,
    allowed: set[tuple[str, str, str]],
    smoothing: float = 1.0,
    background: bool = True,
) -> FrequencyPrior:
    """Count `train`'s triplets that are in `allowed` and smooth them (add `smoothing` to
    every allowed triplet's count); with `background`, "no relationship" / "no attribute"
    is one more outcome, counted from the training boxes (module docstring)."""
    if smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    labels = sorted({t[0] for t in allowed} | {t[1] for t in allowed})
    index = {name: i for i, name in enumerate(labels)}
    n_labels, n_rel = len(labels), len(RELATIONSHIPS)
    mask = np.zeros((n_labels, n_labels, n_rel), bool)
    for s, o, r in allowed:
        mask[index[s], index[o], RELATIONSHIPS.index(r)] = True

    names = train.label_names.tolist()
    to_prior = np.array([index.get(n, -1) for n in names], np.int64).reshape(len(names))
    s, o, r = to_prior[train.label1], to_prior[train.label2], train.relation.astype(np.int64)
    known = (s >= 0) & (o >= 0)
    counted = known.copy()
    counted[known] = mask[s[known], o[known], r[known]]
    counts = np.zeros(mask.shape, np.int64)
    np.add.at(counts, (s[counted], o[counted], r[counted]), 1)

    none_pairs, none_boxes = _unrelated(train, to_prior, n_labels)
    smoothed = np.where(mask, counts + smoothing, 0.0)
    pair = smoothed.copy()
    pair[:, :, IS] = 0.0
    pair_total = pair.sum(axis=2, keepdims=True)
    attribute = smoothed[:, :, IS]
    attribute_total = attribute.sum(axis=1, keepdims=True)
    if background:  # "none" is one more outcome wherever there is a distribution at all
        pair_total += np.where(pair_total > 0, none_pairs[:, :, None] + smoothing, 0.0)
        attribute_total += np.where(attribute_total > 0, none_boxes[:, None] + smoothing, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        probs = np.where(pair_total > 0, pair / pair_total, 0.0)
        probs[:, :, IS] = np.where(attribute_total > 0, attribute / attribute_total, 0.0)
    return FrequencyPrior(
        labels=tuple(labels),
        probs=probs,
        counts=counts,
        allowed=mask,
        smoothing=float(smoothing),
        background=background,
        none_pairs=none_pairs,
        none_boxes=none_boxes,
        n_ignored=int((~counted).sum()),
    )


def _unrelated(
    train: Triplets, to_prior: np.ndarray, n_labels: int
) -> tuple[np.ndarray, np.ndarray]:
    """(ordered pairs of distinct training boxes of classes (s, o) in one image that no pair
    triplet links, L x L; boxes of class s that no `is` triplet describes, L). A box is a
    distinct (image, class, coordinates) among the triplets' subjects and pair objects."""
    pair_rows = np.flatnonzero(train.relation != IS)
    image = np.concatenate([train.image, train.image[pair_rows]]).astype(np.int64)
    cls = to_prior[np.concatenate([train.label1, train.label2[pair_rows]])]
    bits = np.concatenate([train.box1, train.box2[pair_rows]]).view(np.int32)  # exact
    records, box_id = np.unique(np.column_stack([image, cls, bits]), axis=0, return_inverse=True)
    box_id = box_id.reshape(-1)
    box_image, box_cls = records[:, 0], records[:, 1]
    known = box_cls >= 0
    per_image = np.zeros((len(train.image_ids), n_labels), np.int64)
    np.add.at(per_image, (box_image[known], box_cls[known]), 1)
    boxes_of = per_image.sum(axis=0)
    all_pairs = per_image.T @ per_image - np.diag(boxes_of)  # ordered, distinct boxes

    n = len(train)
    subject, object_ = box_id[pair_rows], box_id[n + np.arange(len(pair_rows))]
    linked = np.unique(np.column_stack([subject, object_])[subject != object_], axis=0)
    s, o = box_cls[linked[:, 0]], box_cls[linked[:, 1]]
    both = (s >= 0) & (o >= 0)
    related = np.zeros((n_labels, n_labels), np.int64)
    np.add.at(related, (s[both], o[both]), 1)

    described = np.unique(box_id[np.flatnonzero(train.relation == IS)])
    described = described[box_cls[described] >= 0]
    with_attribute = np.bincount(box_cls[described], minlength=n_labels)
    return all_pairs - related, boxes_of - with_attribute


def read_frequency_prior(
    train_csv: str | os.PathLike,
    triplets_csv: str | os.PathLike,
    smoothing: float = 1.0,
    background: bool = True,
    skip_disallowed: bool = False,
) -> FrequencyPrior:
    """The prior of a training VRD file and the allowed-triplets file. A training row outside
    the allowed triplets is an error naming its line, unless `skip_disallowed`."""
    allowed = read_allowed_triplets(triplets_csv)
    train = read_vrd(train_csv, allowed=allowed, skip_disallowed=skip_disallowed)
    prior = fit_frequency_prior(train, allowed, smoothing, background)
    return replace(prior, n_ignored=train.skipped)


# Per image: (boxes (n, 4) xmin ymin xmax ymax in [0, 1], class names (n,), scores (n,)).
ImageBoxes = tuple[np.ndarray, Sequence[str], np.ndarray]


def truth_boxes(truth: Triplets) -> dict[str, ImageBoxes]:
    """The distinct boxes of each image's truth triplets, with their class and score 1: the
    boxes a perfect detector would give (an `is` row's attribute is not a box class)."""
    out: dict[str, ImageBoxes] = {}
    names = truth.label_names
    rows = [
        (truth.image, truth.label1, truth.box1),
        (truth.image[truth.relation != IS], truth.label2[truth.relation != IS],
         truth.box2[truth.relation != IS]),
    ]  # fmt: skip
    image = np.concatenate([r[0] for r in rows])
    label = np.concatenate([r[1] for r in rows])
    box = np.concatenate([r[2] for r in rows])
    record = np.column_stack([image.astype(np.float64), label.astype(np.float64), box])
    unique = np.unique(record, axis=0)  # sorted by image, then label, then box
    for i, image_id in enumerate(truth.image_ids.tolist()):
        mine = unique[unique[:, 0] == i]
        out[image_id] = (
            mine[:, 2:].astype(np.float32),
            names[mine[:, 1].astype(np.int64)].tolist(),
            np.ones(len(mine)),
        )
    return out


def prior_predictions(
    boxes: Mapping[str, ImageBoxes],
    prior: FrequencyPrior,
    top: int = 100,
    max_boxes: int | None = 50,
) -> Triplets:
    """Ranked triplets per image from boxes and the prior alone: every ordered pair of
    distinct boxes (i, j) with every relationship r allowed for their classes, scored
    score_i * score_j * P(r | class_i, class_j), and every box i with every attribute a
    allowed for its class, scored score_i * P(a | class_i, is) (box 2 = box 1). Each image
    keeps its `top` best (ties: the earlier candidate); `max_boxes` keeps only that many
    most confident boxes per image first (None: all). Triplets with a confidence each,
    every image of `boxes` listed (for write_submission)."""
    out_image, out_l1, out_l2, out_rel, out_b1, out_b2, out_conf = [], [], [], [], [], [], []
    for image_id, (box, names, score) in boxes.items():
        box = np.asarray(box, np.float32).reshape(-1, 4)
        score = np.asarray(score, np.float64).reshape(len(box))
        idx = np.array([prior.index(n) for n in names], np.int64).reshape(len(box))
        keep = np.flatnonzero(idx >= 0)  # classes the prior does not know predict nothing
        if max_boxes is not None:
            keep = keep[np.argsort(-score[keep], kind="stable")[:max_boxes]]
        box, score, idx = box[keep], score[keep], idx[keep]

        # Pairs: (i, j, r) over i != j and r != is.
        p = prior.probs[idx[:, None], idx[None, :], :].copy()  # n x n x R
        p[:, :, IS] = 0.0
        p[np.arange(len(idx)), np.arange(len(idx)), :] = 0.0
        pair_score = score[:, None, None] * score[None, :, None] * p
        i, j, r = np.nonzero(pair_score > 0)
        cand_score = [pair_score[i, j, r]]
        cand = [(i, j, idx[j], r)]
        # Attributes: (i, a, is): box 2 is box 1, label 2 is the attribute.
        attr_score = score[:, None] * prior.probs[idx, :, IS]  # n x L
        ai, aa = np.nonzero(attr_score > 0)
        cand_score.append(attr_score[ai, aa])
        cand.append((ai, ai, aa, np.full(len(ai), IS)))

        scores = np.concatenate(cand_score)
        first = np.concatenate([c[0] for c in cand])
        second = np.concatenate([c[1] for c in cand])
        label2 = np.concatenate([c[2] for c in cand])
        relation = np.concatenate([c[3] for c in cand])
        best = np.argsort(-scores, kind="stable")[:top]
        out_image += [image_id] * len(best)
        out_l1 += [prior.labels[k] for k in idx[first[best]].tolist()]
        out_l2 += [prior.labels[k] for k in label2[best].tolist()]
        out_rel += [RELATIONSHIPS[k] for k in relation[best].tolist()]
        out_b1.append(box[first[best]])
        out_b2.append(box[second[best]])
        out_conf.append(scores[best])
    return Triplets.build(
        out_image, out_l1, out_l2, out_rel, _concat(out_b1, (0, 4)), _concat(out_b2, (0, 4)),
        _concat(out_conf, (0,)), all_images=list(boxes),
    )  # fmt: skip


def _concat(parts: list[np.ndarray], empty_shape: tuple[int, ...]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.zeros(empty_shape)


__all__ = [
    "FrequencyPrior",
    "ImageBoxes",
    "fit_frequency_prior",
    "prior_predictions",
    "read_frequency_prior",
    "truth_boxes",
]
