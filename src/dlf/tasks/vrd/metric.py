"""The Open Images 2019 VRD score, as the official evaluator computes it:

    score = 0.4 * mAP(relationships) + 0.2 * Recall@50(relationships) + 0.4 * mAP(phrases)

Rules (tensorflow/models research/object_detection: utils/vrd_evaluation.py,
utils/per_image_vrd_evaluation.py, utils/metrics.py, metrics/oid_vrd_challenge_evaluation*.py):

- Truth images are the images of the VRD file and of the labels file. An image's verified
  labels are every label the labels file lists for it (its Confidence is not read, 0 or 1
  alike), its positive labels the LabelName1/LabelName2 of its truth triplets. A predicted
  triplet is scored when both labels are verified-or-positive, or when either label is
  verified but not positive (a sure false positive); any other triplet is ignored: it is
  neither a hit nor a miss and takes no Recall@50 place. Predictions for images outside
  the truth are ignored.
- Matching, per image and per (LabelName1, LabelName2, RelationshipLabel): detections in
  decreasing confidence each look at the ONE truth triplet of the same labels with the
  highest IoU (the first in file order when several tie); a hit when that IoU >= 0.5 and
  that truth triplet is not taken yet, otherwise a miss (no fallback to the second best).
  A relationship's IoU is the smaller of the two boxes' IoUs; a phrase's is the IoU of the
  boxes enclosing both boxes. So two truth triplets with the same labels and the same
  phrase box can only be found once as phrases.
- AP per relationship present in the truth (VOC: precision made non-increasing, summed
  over the recall steps), over all images' scored detections of that relationship; mAP is
  the plain mean over those relationships (a relationship only predicted is not in it).
- Recall@50: true positives among each image's 50 most confident scored detections, over
  all images, divided by the number of truth triplets (an image with more than 50 truth
  triplets cannot reach full recall).
- Boxes are float32 like the evaluator's structured arrays; IoU follows its arithmetic.

Order, ties included, exactly as the official code sorts (every sort there is
`np.argsort(scores)[::-1]`: numpy's default sort, which for <= 16 values is an insertion
sort, so equal confidences come out in REVERSE of their order in the sorted array; longer
arrays follow numpy's introsort). dlf calls np.argsort on arrays holding the same values
in the same order as the official code at each of its three sorts:

1. per image and label tuple (subject, object, relationship): the tuple's scored
   detections in submission order; this is the matching order;
2. per image: the tuples' sorted scores concatenated, tuples in increasing (subject id,
   object id, relationship id) (np.unique on the evaluator's label records; label ids
   from labelmap.OFFICIAL_LABEL_IDS, relationship ids in RELATIONSHIPS order); this
   order gives each image's 50 places of Recall@50;
3. per relationship, for AP: the images' sorted scores concatenated, images in sorted
   ImageId order (the evaluator's pandas groupby), that relationship's entries kept.

Without ties each sort is plain decreasing confidence, so only groups with equal
confidences call np.argsort one by one; the rest is whole-array numpy.
"""

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dlf.core.errors import DlfError
from dlf.tasks.vrd.files import (
    RELATIONSHIPS,
    ImageLabels,
    Triplets,
    read_image_labels,
    read_submission,
    read_vrd,
)
from dlf.tasks.vrd.labelmap import OFFICIAL_LABEL_IDS

IOU_THRESHOLD = 0.5
RECALL_AT = 50
WEIGHTS = (0.4, 0.2, 0.4)  # mAP relationships, Recall@50 relationships, mAP phrases


@dataclass(frozen=True)
class VrdResult:
    """The score and its parts; per-relationship APs for the relationships in the truth."""

    score: float
    map_relationships: float
    recall50: float
    map_phrases: float
    ap_relationships: dict[str, float] = field(default_factory=dict)
    ap_phrases: dict[str, float] = field(default_factory=dict)
    n_truth: int = 0  # truth triplets
    n_predictions: int = 0  # predicted triplets in the submission
    n_scored: int = 0  # of those, scored after the verified-label filter


def vrd_score(
    truth: Triplets,
    truth_labels: ImageLabels | None,
    preds: Triplets,
    iou_threshold: float = IOU_THRESHOLD,
    label_ids: Mapping[str, int] | None = None,
) -> VrdResult:
    """Score predicted triplets against truth triplets and the verified image labels
    (None: no labels file, so only the truth triplets' own labels are evaluated).

    `label_ids`: the evaluator's class label map {LabelName: id}, which only orders tied
    confidences of different label tuples in one image (default OFFICIAL_LABEL_IDS);
    labels it lacks come after all of its labels, in sorted name order."""
    if len(truth) == 0:
        raise DlfError("the truth has no triplets; score against a VRD file with rows")
    if preds.confidence is None:
        raise ValueError("predictions need a confidence per triplet")

    # One vocabulary of images and of labels, the truth's; a predicted image or label
    # outside it gets -1 (never evaluable, so never scored).
    label_vocab, image_vocab = _vocabulary(truth.label_names), _vocabulary(truth.image_ids)
    t_img, t_l1, t_l2 = truth.image, truth.label1, truth.label2
    if truth_labels is not None:
        _extend(label_vocab, truth_labels.label)
        _extend(image_vocab, truth_labels.image)
    p_img = _lookup(image_vocab, preds.image_ids)[preds.image]
    p_label = _lookup(label_vocab, preds.label_names)
    p_l1, p_l2 = p_label[preds.label1], p_label[preds.label2]

    # The verified-label filter, on (image, label) keys.
    base = len(label_vocab) + 1

    def key(image: np.ndarray, label: np.ndarray) -> np.ndarray:
        return image.astype(np.int64) * base + (label + 1)

    positive = np.unique(np.concatenate([key(t_img, t_l1), key(t_img, t_l2)]))
    if truth_labels is not None:
        v_img = _lookup(image_vocab, truth_labels.image)
        v_lab = _lookup(label_vocab, truth_labels.label)
        verified = np.unique(key(v_img, v_lab))
    else:
        verified = np.empty(0, np.int64)
    evaluable = np.union1d(positive, verified)
    negative = np.setdiff1d(verified, positive)
    k1, k2 = key(p_img, p_l1), key(p_img, p_l2)
    scored = (np.isin(k1, evaluable) & np.isin(k2, evaluable)) | np.isin(k1, negative)
    scored |= np.isin(k2, negative)
    scored &= p_img >= 0

    # The official order (module docstring): 1. per image and label tuple, the matching
    # order; 2. per image, which gives the Recall@50 places. Images in sorted ImageId order.
    kept = np.flatnonzero(scored)
    conf = preds.confidence
    image_rank = np.argsort(np.argsort(preds.image_ids))[preds.image[kept]]
    label_rank = _label_ranks(preds.label_names, label_ids)
    n_labels = len(preds.label_names)
    tuple_of = (
        (image_rank.astype(np.int64) * n_labels + label_rank[preds.label1[kept]]) * n_labels
        + label_rank[preds.label2[kept]]
    ) * len(RELATIONSHIPS) + preds.relation[kept]
    by_tuple = np.lexsort((kept, tuple_of))  # submission order within each tuple
    kept, tuple_of, image_rank = kept[by_tuple], tuple_of[by_tuple], image_rank[by_tuple]
    step = _descending_by_segment(conf[kept], tuple_of)
    order, image_rank = kept[step], image_rank[step]  # processing (matching) order
    per_image = order[_descending_by_segment(conf[order], image_rank)]

    def tuple_key(image, l1, l2, relation) -> np.ndarray:  # (image, l1, l2, relation) keys
        return (key(image, l1) * base + (l2 + 1)) * len(RELATIONSHIPS) + relation

    gt_key = tuple_key(t_img, t_l1, t_l2, truth.relation)
    det_key = tuple_key(p_img[order], p_l1[order], p_l2[order], preds.relation[order])
    pairs = _same_key_pairs(det_key, gt_key)
    rel_hit, phrase_hit = np.zeros(len(preds), bool), np.zeros(len(preds), bool)
    rel_hit[order] = _hits(
        pairs, [preds.box1[order], preds.box2[order]], [truth.box1, truth.box2], iou_threshold
    )
    phrase_hit[order] = _hits(
        pairs, [_enclosing(preds.box1[order], preds.box2[order])],
        [_enclosing(truth.box1, truth.box2)], iou_threshold,
    )  # fmt: skip

    # Recall@50: the first 50 of each image in its official order (image_rank is sorted,
    # and per_image holds the same images' segments in the same places).
    rank = np.arange(len(per_image)) - np.searchsorted(image_rank, image_rank, side="left")
    recall50 = float(rel_hit[per_image][rank < RECALL_AT].sum() / len(truth))

    # 3. AP per relationship: its entries in the images' order, sorted once more.
    det_rel = preds.relation[per_image]
    ap_rel, ap_phrase = {}, {}
    for r in np.unique(truth.relation).tolist():
        n_gt = int((truth.relation == r).sum())
        entries = per_image[det_rel == r]
        ranked = entries[np.argsort(conf[entries])[::-1]]
        ap_rel[RELATIONSHIPS[r]] = _average_precision(rel_hit[ranked], n_gt)
        ap_phrase[RELATIONSHIPS[r]] = _average_precision(phrase_hit[ranked], n_gt)
    map_rel = float(np.mean(list(ap_rel.values())))
    map_phrase = float(np.mean(list(ap_phrase.values())))
    w_map, w_recall, w_phrase = WEIGHTS
    return VrdResult(
        score=w_map * map_rel + w_recall * recall50 + w_phrase * map_phrase,
        map_relationships=map_rel,
        recall50=recall50,
        map_phrases=map_phrase,
        ap_relationships=ap_rel,
        ap_phrases=ap_phrase,
        n_truth=len(truth),
        n_predictions=len(preds),
        n_scored=len(order),
    )


def evaluate_vrd(
    pred: str | os.PathLike,
    truth: str | os.PathLike,
    truth_labels: str | os.PathLike | None = None,
) -> VrdResult:
    """Score a submission file against a VRD truth file and, if given, its labels file."""
    truth_triplets = read_vrd(truth)
    labels = None if truth_labels is None else read_image_labels(truth_labels)
    preds = read_submission(pred)
    known = set(truth_triplets.image_ids.tolist())
    if labels is not None:
        known.update(labels.image.tolist())
    if len(preds.image_ids) and not known.intersection(preds.image_ids.tolist()):
        raise DlfError(
            f"{pred}: none of its {len(preds.image_ids)} images is in {Path(truth).name}; score "
            "the submission against the truth of the same images"
        )
    return vrd_score(truth_triplets, labels, preds)


def _descending_by_segment(values: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """A permutation that orders each segment (equal `segment` values, which must be
    contiguous and sorted) exactly as `np.argsort(values[lo:hi])[::-1]` orders it. Where a
    segment has no tied values that is decreasing value, done for all at once; a segment
    with ties gets its own np.argsort call, since only numpy's sort itself knows where it
    puts equal values."""
    order = np.lexsort((-values, segment))
    v, s = values[order], segment[order]
    tied = np.flatnonzero((s[1:] == s[:-1]) & (v[1:] == v[:-1]))
    if len(tied):
        starts = np.searchsorted(segment, np.unique(s[tied]), side="left")
        ends = np.searchsorted(segment, segment[starts], side="right")
        for lo, hi in zip(starts.tolist(), ends.tolist()):
            order[lo:hi] = lo + np.argsort(values[lo:hi])[::-1]
    return order


def _label_ranks(names: np.ndarray, label_ids: Mapping[str, int] | None) -> np.ndarray:
    """Each label name's place in the order of the evaluator's label ids: names in
    `label_ids` (default OFFICIAL_LABEL_IDS) by id, the others after them by name."""
    ids = OFFICIAL_LABEL_IDS if label_ids is None else label_ids
    names_list = names.tolist()
    known = [ids.get(n, 0) for n in names_list]
    unknown = [n not in ids for n in names_list]
    # sort by (unknown?, id, name): ids are unique among known names, names among unknown
    order = sorted(range(len(names_list)), key=lambda i: (unknown[i], known[i], names_list[i]))
    rank = np.empty(len(names_list), np.int64)
    rank[order] = np.arange(len(names_list))
    return rank


def _same_key_pairs(det_key: np.ndarray, gt_key: np.ndarray) -> tuple[np.ndarray, ...]:
    """Every (detection, truth triplet) pair of the same key (image and labels), grouped by
    detection in order and, within one, in the truth's file order (argmax ties go to the
    first): (detection of each pair, truth of each pair, each detection's pair count)."""
    gt_order = np.argsort(gt_key, kind="stable")
    sorted_keys = gt_key[gt_order]
    lo = np.searchsorted(sorted_keys, det_key, side="left")
    count = np.searchsorted(sorted_keys, det_key, side="right") - lo
    pair_start = np.cumsum(count) - count
    det_of_pair = np.repeat(np.arange(len(det_key)), count)
    gt_of_pair = gt_order[np.repeat(lo - pair_start, count) + np.arange(count.sum())]
    return det_of_pair, gt_of_pair, count


def _hits(
    pairs: tuple[np.ndarray, ...],
    det_boxes: list[np.ndarray],
    gt_boxes: list[np.ndarray],
    iou_threshold: float,
) -> np.ndarray:
    """Hit flags for detections in processing order (see the module docstring).

    A detection's candidate is its pair of highest IoU (the smallest over the boxes given;
    NaN, from two empty boxes, counts as highest, as numpy's argmax has it, and never
    reaches the threshold); the hit goes to the first detection, in order, that reaches
    the threshold on each candidate: no sequential loop is needed, since a detection
    only ever competes for its own candidate.
    """
    det_of_pair, gt_of_pair, count = pairs
    hit = np.zeros(len(count), bool)
    if len(det_of_pair) == 0:
        return hit
    iou = np.ones(len(det_of_pair))
    for det_box, gt_box in zip(det_boxes, gt_boxes):
        iou = np.minimum(iou, _iou(det_box[det_of_pair], gt_box[gt_of_pair]))
    ranked = np.where(np.isnan(iou), np.inf, iou)
    with_gt = np.flatnonzero(count)
    pair_start = np.cumsum(count) - count
    best = np.maximum.reduceat(ranked, pair_start[with_gt])
    is_best = np.flatnonzero(ranked == np.repeat(best, count[with_gt]))
    _, first = np.unique(det_of_pair[is_best], return_index=True)  # first best per detection
    best_pair = is_best[first]
    reaches = iou[best_pair] >= iou_threshold
    candidate = gt_of_pair[best_pair][reaches]
    _, first_claim = np.unique(candidate, return_index=True)
    hit[with_gt[reaches][first_claim]] = True
    return hit


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise IoU of float32 `xmin, ymin, xmax, ymax` boxes with the evaluator's
    arithmetic (np_box_ops.iou): float32 sides and areas, a float64 intersection."""
    width = np.maximum(np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0]), 0)
    height = np.maximum(np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1]), 0)
    inter = height.astype(np.float64) * width.astype(np.float64)
    union = (_area(a) + _area(b)) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def _area(box: np.ndarray) -> np.ndarray:
    return (box[:, 3] - box[:, 1]) * (box[:, 2] - box[:, 0])


def _enclosing(box1: np.ndarray, box2: np.ndarray) -> np.ndarray:
    """The phrase box: the smallest box holding both."""
    return np.concatenate(
        [np.minimum(box1[:, :2], box2[:, :2]), np.maximum(box1[:, 2:], box2[:, 2:])], axis=1
    )


def _average_precision(hit: np.ndarray, n_truth: int) -> float:
    """VOC AP of detections in decreasing confidence (utils/metrics.py): precision made
    non-increasing from the right, summed over the points where recall grows."""
    if len(hit) == 0:
        return 0.0
    true_pos = np.cumsum(hit)
    precision = np.concatenate([[0.0], true_pos / np.arange(1, len(hit) + 1), [0.0]])
    recall = np.concatenate([[0.0], true_pos / n_truth, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def _vocabulary(names: np.ndarray) -> dict[str, int]:
    """{name: its index in `names`}."""
    return {n: i for i, n in enumerate(names.tolist())}


def _extend(vocab: dict[str, int], names: np.ndarray) -> None:
    for n in names.tolist():
        vocab.setdefault(n, len(vocab))


def _lookup(vocab: dict[str, int], names: np.ndarray) -> np.ndarray:
    """Each name's index in `vocab`, -1 when absent."""
    return np.array([vocab.get(n, -1) for n in names.tolist()], np.int64).reshape(len(names))


__all__ = ["IOU_THRESHOLD", "RECALL_AT", "WEIGHTS", "VrdResult", "evaluate_vrd", "vrd_score"]
