"""The VRD model: the shared FCOS detector plus the pair and attribute heads (pairhead.py),
trained together in one run, and the loss.

Why jointly rather than in a second stage: one `dlf train` run, no second driver loop, and
the FPN learns what relationships need (the region where two boxes meet) as well as what
detection needs. The heads learn on the truth boxes of each (augmented) training image,
so they train usefully from the first step, when the detector still finds nothing, and
the prior feature (pairhead.py) makes their first answers the prior's.

Training (`forward(image, boxes, box_labels, links)`): every ordered pair of an image's
truth boxes is a candidate; the pairs some truth triplet links all enter the loss and
random other pairs fill up to `pairs_per_image` (negatives: "no relationship"), so a step
costs the same however many boxes an image has. Every box enters the attribute loss.
No device sync: targets are scattered and pairs chosen by topk on fixed shapes.

Inference (`forward(image)`, or any call in eval mode): the detector's `max_boxes` best
boxes per image, every ordered pair of them with every allowed relationship scored
det_s * det_o * P_head(r), every box with every allowed attribute scored det * P_head(a),
and the best `triplets` per image kept: N x T x 12 rows (score, label1, label2,
relationship, box1, box2; pixels; label2 of an attribute = n_classes + attribute), padded
with score -1. The detections themselves come out too (N x B x 6, as the `oid` rows), so
the prior alone can be scored on exactly the same boxes.
"""

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dlf.models.detection import FCOS, FCOSOutput, decode_detections
from dlf.tasks.vrd.pairhead import AttributeHead, BoxFeatures, RelationHead
from dlf.train.detection import FCOSLoss

PAD = -1.0  # the score of a padding row


class VrdOutput(NamedTuple):
    detection: FCOSOutput
    pair_logits: torch.Tensor | None = None  # N x P x R, truth pairs (when truth is given)
    pair_targets: torch.Tensor | None = None  # N x P x R in {0, 1}
    pair_weight: torch.Tensor | None = None  # N x P x R: 1 where the loss counts
    attr_logits: torch.Tensor | None = None  # N x M x A, truth boxes
    attr_targets: torch.Tensor | None = None
    attr_weight: torch.Tensor | None = None
    triplets: torch.Tensor | None = None  # N x T x 12 (eval mode)
    detections: torch.Tensor | None = None  # N x B x 6 (eval mode)


class VrdModel(nn.Module):
    """FCOS + RelationHead + AttributeHead on FPN level P3 (stride 8: the finest, where a
    hand or a mug still spans a few cells at 160 px).

    prior: L x L x R probabilities P(r | label1, label2) over labels = the n_classes box
    classes then the attributes (attributes as label2 of the `is` relationship); an entry
    > 0 is an allowed triplet."""

    def __init__(self, detector: FCOS, prior: torch.Tensor, n_classes: int, is_index: int,
                 size: int, score_floor: float = 0.05, nms_iou: float = 0.5, max_boxes: int = 20,
                 triplets: int = 100, pairs_per_image: int = 64) -> None:  # fmt: skip
        super().__init__()
        self.detector = detector
        self.register_buffer("prior", torch.as_tensor(prior, dtype=torch.float32), persistent=False)
        self.n_classes, self.is_index, self.size = n_classes, is_index, size
        self.n_attributes = self.prior.shape[0] - n_classes
        self.n_relations = self.prior.shape[2]
        self.score_floor, self.nms_iou, self.max_boxes = score_floor, nms_iou, max_boxes
        self.n_triplets, self.pairs_per_image = triplets, pairs_per_image
        channels = detector.fpn.out_channels
        self.box_features = BoxFeatures(channels, stride=8)
        self.relation = RelationHead(channels, 8, n_classes, self.n_relations, size=size)
        self.attribute = AttributeHead(n_classes, self.n_attributes)

    def param_groups(self) -> list[list[nn.Parameter]]:
        backbone = list(self.detector.backbone.parameters())
        mine = {id(p) for p in backbone}
        return [backbone, [p for p in self.parameters() if id(p) not in mine]]

    def forward(self, image: torch.Tensor, boxes: torch.Tensor | None = None,
                box_labels: torch.Tensor | None = None, links: torch.Tensor | None = None) -> VrdOutput:  # fmt: skip
        pyramid = self.detector.pyramid(image)
        detection = self.detector.detect(pyramid, image)
        out = VrdOutput(detection)
        if boxes is not None:
            out = out._replace(**self._truth_part(pyramid[0], boxes, box_labels, links))
        if not self.training:
            triplets, detections = self.infer(pyramid[0], detection)
            out = out._replace(triplets=triplets, detections=detections)
        return out

    # -- training: the heads on the truth boxes ------------------------------------------
    def _truth_part(self, level, boxes, box_labels, links) -> dict:
        n, m = box_labels.shape
        r_count, a_count = self.n_relations, self.n_attributes
        valid = box_labels >= 0  # padding, or a box the augmentation pushed out
        cls = box_labels.long().clamp(min=0)
        i, j, rel, attr = links.long().unbind(-1)  # N x L: box indices, relationship, attribute
        linked = i >= 0
        is_attr = linked & (rel == self.is_index)
        image = torch.arange(n, device=boxes.device)[:, None].expand_as(i)

        # Targets scattered into flat tensors with one spare slot where padding rows land.
        pair_slots = n * m * m * r_count
        where = ((image * m + i.clamp(min=0)) * m + j.clamp(min=0)) * r_count + rel.clamp(min=0)
        where = torch.where(linked & ~is_attr, where, pair_slots)
        pair_t = boxes.new_zeros(pair_slots + 1).index_fill_(0, where.flatten(), 1.0)
        pair_t = pair_t[:-1].view(n, m * m, r_count)
        attr_slots = n * m * a_count
        where = (image * m + i.clamp(min=0)) * a_count + attr.clamp(min=0)
        where = torch.where(is_attr, where, attr_slots)
        attr_t = boxes.new_zeros(attr_slots + 1).index_fill_(0, where.flatten(), 1.0)
        attr_t = attr_t[:-1].view(n, m, a_count)

        # Pairs: every linked pair first, then random others, `pairs_per_image` in all.
        distinct = ~torch.eye(m, dtype=torch.bool, device=boxes.device)
        pair_ok = (valid[:, :, None] & valid[:, None, :] & distinct).view(n, m * m)
        positive = pair_t.amax(-1) > 0
        priority = torch.rand(n, m * m, device=boxes.device) + 1 + 2 * positive.float()
        priority = torch.where(pair_ok, priority, torch.zeros_like(priority))
        chosen = priority.topk(min(self.pairs_per_image, m * m), dim=1).indices  # N x P
        s_idx, o_idx = chosen // m, chosen % m
        prior = self.prior[cls.gather(1, s_idx), cls.gather(1, o_idx)]  # N x P x R
        allowed = self._pair_allowed(prior) & pair_ok.gather(1, chosen)[..., None]

        features = self.box_features(level, boxes)
        pair_logits = self.relation(level, boxes, features, cls, s_idx, o_idx, prior)
        attr_prior = self.prior[cls][:, :, self.n_classes :, self.is_index]  # N x M x A
        attr_logits = self.attribute(features, cls, attr_prior)
        return {
            "pair_logits": pair_logits,
            "pair_targets": pair_t.gather(1, chosen[..., None].expand(-1, -1, r_count)),
            "pair_weight": allowed.float(),
            "attr_logits": attr_logits,
            "attr_targets": attr_t,
            "attr_weight": ((attr_prior > 0) & valid[..., None]).float(),
        }

    def _pair_allowed(self, prior: torch.Tensor) -> torch.Tensor:
        allowed = prior > 0
        allowed[..., self.is_index] = False  # `is` is the attribute head's
        return allowed

    # -- inference: detections -> ranked triplets ----------------------------------------
    @torch.no_grad()
    def infer(
        self, level: torch.Tensor, detection: FCOSOutput
    ) -> tuple[torch.Tensor, torch.Tensor]:
        dets = decode_detections(detection, score_thr=self.score_floor, nms_iou=self.nms_iou,
                                 max_per_image=self.max_boxes, image_size=(self.size, self.size))  # fmt: skip
        n, b = len(dets), self.max_boxes
        boxes = level.new_zeros(n, b, 4, dtype=torch.float32)
        scores = level.new_zeros(n, b, dtype=torch.float32)
        labels = torch.full((n, b), -1, dtype=torch.long, device=level.device)
        for k, (bx, sc, lb) in enumerate(dets):
            boxes[k, : len(sc)], scores[k, : len(sc)], labels[k, : len(sc)] = bx, sc, lb
        detections = torch.cat([boxes, scores[..., None], labels[..., None].float()], -1)
        detections[..., 4] = torch.where(labels >= 0, scores, torch.full_like(scores, PAD))
        return self.rank_boxes(level, boxes, scores, labels), detections

    @torch.no_grad()
    def rank_boxes(self, level: torch.Tensor, boxes: torch.Tensor, scores: torch.Tensor,
                   labels: torch.Tensor) -> torch.Tensor:  # fmt: skip
        """The heads' ranked triplets (N x T x 12) for given boxes N x B x 4 (pixels), scores
        and classes N x B (-1: none) on P3 `level` (`self.detector.pyramid(image)[0]`): the
        detections at inference, or the truth's own boxes to score the heads alone."""
        rows = [self._image_triplets(level[k : k + 1], boxes[k : k + 1], scores[k : k + 1],
                                     labels[k : k + 1]) for k in range(len(boxes))]  # fmt: skip
        return torch.cat(rows)

    def _image_triplets(self, level, boxes, scores, labels) -> torch.Tensor:
        """One image (leading dim 1; per image so the B*B union RoIs stay a few MB)."""
        b, r_count, a_count = boxes.shape[1], self.n_relations, self.n_attributes
        cls, valid = labels.clamp(min=0), labels >= 0
        features = self.box_features(level, boxes)
        grid = torch.arange(b, device=boxes.device)
        s_idx, o_idx = grid.repeat_interleave(b)[None], grid.repeat(b)[None]  # 1 x B*B
        prior = self.prior[cls[:, s_idx[0]], cls[:, o_idx[0]]]  # 1 x B*B x R
        ok = valid[:, s_idx[0]] & valid[:, o_idx[0]] & (s_idx != o_idx)
        # Only pairs that allow some relationship reach the head (most class pairs allow
        # none); finding them is one sync per image, at inference only.
        keep = torch.nonzero(ok[0] & self._pair_allowed(prior)[0].any(-1)).flatten()
        pair_p = prior.new_zeros(prior.shape)
        chosen = (s_idx[:, keep], o_idx[:, keep], prior[:, keep])
        pair_p[:, keep] = torch.sigmoid(self.relation(level, boxes, features, cls, *chosen).float())
        pair_score = scores[:, s_idx[0], None] * scores[:, o_idx[0], None] * pair_p
        pair_score = torch.where(self._pair_allowed(prior) & ok[..., None], pair_score, 0.0)
        attr_prior = self.prior[cls][:, :, self.n_classes :, self.is_index]  # 1 x B x A
        attr_p = torch.sigmoid(self.attribute(features, cls, attr_prior).float())
        attr_score = torch.where(
            (attr_prior > 0) & valid[..., None], scores[..., None] * attr_p, 0.0
        )

        candidates = torch.cat([pair_score.flatten(1), attr_score.flatten(1)], 1)[0]
        top_score, top = candidates.topk(min(self.n_triplets, len(candidates)))
        is_pair = top < b * b * r_count
        pair, rel = top // r_count, top % r_count
        box_a = (top - b * b * r_count).clamp(min=0)
        one, attribute = box_a // a_count, box_a % a_count
        subject = torch.where(is_pair, s_idx[0, pair.clamp(max=b * b - 1)], one)
        obj = torch.where(is_pair, o_idx[0, pair.clamp(max=b * b - 1)], one)
        label2 = torch.where(is_pair, cls[0, obj], self.n_classes + attribute)
        relation = torch.where(is_pair, rel, torch.full_like(rel, self.is_index))
        score = torch.where(top_score > 0, top_score, torch.full_like(top_score, PAD))
        out = torch.cat([score[:, None], cls[0, subject, None].float(), label2[:, None].float(),
                         relation[:, None].float(), boxes[0, subject], boxes[0, obj]], 1)  # fmt: skip
        padded = out.new_full((self.n_triplets, 12), PAD)
        padded[: len(out)] = out
        return padded[None]


class VrdLoss(nn.Module):
    """FCOS's loss on the boxes plus the heads' binary cross-entropies: per chosen pair the
    sum over its allowed relationships, averaged over the pairs; per truth box the same over
    its allowed attributes. The batch's metric fields ride along unused."""

    def __init__(self, relation_weight: float = 1.0) -> None:
        super().__init__()
        self.fcos, self.relation_weight = FCOSLoss(), relation_weight

    def forward(self, output: VrdOutput, boxes, box_labels, *metric_fields) -> torch.Tensor:
        loss = self.fcos(output.detection, boxes, box_labels)
        if output.pair_logits is None:
            return loss
        heads = _weighted_bce(output.pair_logits, output.pair_targets, output.pair_weight)
        heads = heads + _weighted_bce(output.attr_logits, output.attr_targets, output.attr_weight)
        return loss + self.relation_weight * heads


def _weighted_bce(
    logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor
) -> torch.Tensor:
    bce = F.binary_cross_entropy_with_logits(logits.float(), targets, reduction="none")
    counted = (weight.amax(-1) > 0).sum().clamp(min=1)  # items with any allowed outcome
    return (bce * weight).sum() / counted


__all__ = ["PAD", "VrdLoss", "VrdModel", "VrdOutput"]
