"""The VRD heads that look at pixels: a relationship head over (subject, object) box pairs
and an attribute head over single boxes (`is`).

Both read the same inputs a person would: what is inside the boxes (RoIAlign features of
one FPN level), which classes they are (learnt embeddings), and, for a pair, how the two
boxes sit (`pair_geometry`) plus what is inside the box enclosing both (where a hand meets
a mug, a cat's legs meet a table). Each relationship (attribute) is a separate yes/no
logit, because a pair can hold two relationships at once.

The frequency prior enters as a feature: its logit, log p - log(1 - p) of P(r | subject
class, object class), is added to the learnt logit, and the learnt part's last layer starts
at zero, so at step 0 the head says exactly what the prior says and training only has to
learn the corrections the pixels justify.
"""

import torch
from torch import nn

from dlf.models.detection.roi import roi_align_padded

#: numbers per pair from `pair_geometry`
GEOMETRY_FEATURES = 21


def pair_geometry(subject: torch.Tensor, obj: torch.Tensor, size: float) -> torch.Tensor:
    """Boxes (..., 4: x1 y1 x2 y2, pixels of a size x size input) of subjects and objects
    -> (..., 21) features of how they sit: the object's centre offset and log size ratio in
    units of the subject's size, its edges' offsets from the subject's, the gaps between
    one's bottom and the other's top (`on`, `under`), IoU and each box's share covered by
    the other (`inside_of`, `wears`), and both boxes in units of the picture."""
    eps = 1e-3
    sw = (subject[..., 2] - subject[..., 0]).clamp(min=eps)
    sh = (subject[..., 3] - subject[..., 1]).clamp(min=eps)
    ow = (obj[..., 2] - obj[..., 0]).clamp(min=eps)
    oh = (obj[..., 3] - obj[..., 1]).clamp(min=eps)
    dx = ((obj[..., 0] + obj[..., 2]) - (subject[..., 0] + subject[..., 2])) / (2 * sw)
    dy = ((obj[..., 1] + obj[..., 3]) - (subject[..., 1] + subject[..., 3])) / (2 * sh)
    edges = (obj - subject) / torch.stack([sw, sh, sw, sh], -1)
    bottom_to_top = (obj[..., 1] - subject[..., 3]) / sh  # ~0 when the subject rests on it
    top_to_bottom = (subject[..., 1] - obj[..., 3]) / sh
    ix = torch.minimum(subject[..., 2], obj[..., 2]) - torch.maximum(subject[..., 0], obj[..., 0])
    iy = torch.minimum(subject[..., 3], obj[..., 3]) - torch.maximum(subject[..., 1], obj[..., 1])
    inter = ix.clamp(min=0) * iy.clamp(min=0)
    iou = inter / (sw * sh + ow * oh - inter).clamp(min=eps)
    features = torch.stack(
        [dx, dy, torch.log(ow / sw), torch.log(oh / sh), *edges.unbind(-1), bottom_to_top,
         top_to_bottom, iou, inter / (sw * sh), inter / (ow * oh)], -1
    )  # fmt: skip
    return torch.cat([features.clamp(-10, 10), subject / size, obj / size], -1)


def union_boxes(subject: torch.Tensor, obj: torch.Tensor) -> torch.Tensor:
    """The box enclosing each pair (the metric's phrase box)."""
    return torch.cat([torch.minimum(subject[..., :2], obj[..., :2]),
                      torch.maximum(subject[..., 2:], obj[..., 2:])], -1)  # fmt: skip


def prior_logit(p: torch.Tensor) -> torch.Tensor:
    """log p - log(1 - p), finite: sigmoid of it gives p back."""
    p = p.clamp(1e-4, 1 - 1e-4)
    return torch.log(p) - torch.log1p(-p)


class BoxFeatures(nn.Module):
    """RoIAlign of each box on one FPN level (`stride`), out x out cells, then a linear map:
    N x M x 4 boxes -> N x M x dim."""

    def __init__(self, channels: int, stride: int, dim: int = 256, out: int = 4) -> None:
        super().__init__()
        self.stride, self.out = stride, out
        self.proj = nn.Sequential(nn.Linear(channels * out * out, dim), nn.ReLU(inplace=True))

    def forward(self, level: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        pooled = roi_align_padded(
            level, boxes, self.out, spatial_scale=1 / self.stride, sampling_ratio=1
        )
        return self.proj(pooled.flatten(2))


def _scorer(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    last = nn.Linear(hidden, outputs)
    nn.init.zeros_(last.weight)  # starts as the prior alone (module docstring)
    nn.init.zeros_(last.bias)
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(inplace=True), last)


class RelationHead(nn.Module):
    """Logits of every relationship for pairs of boxes.

    forward(level, boxes N x M x 4, box_features N x M x D, classes N x M, subject and
    object indices N x P into the M boxes, prior N x P x R) -> N x P x R logits."""

    def __init__(self, channels: int, stride: int, n_classes: int, n_relations: int,
                 dim: int = 256, embed: int = 32, hidden: int = 256, size: int = 160) -> None:  # fmt: skip
        super().__init__()
        self.size = size
        self.union = BoxFeatures(channels, stride, dim)
        self.classes = nn.Embedding(n_classes, embed)
        self.geometry = nn.Sequential(nn.Linear(GEOMETRY_FEATURES, 64), nn.ReLU(inplace=True))
        self.score = _scorer(3 * dim + 2 * embed + 64, hidden, n_relations)

    def forward(self, level, boxes, box_features, classes, s_idx, o_idx, prior) -> torch.Tensor:
        def pick(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:  # N x M x ... -> N x P x ...
            return x.gather(
                1, idx.view(*idx.shape, *[1] * (x.dim() - 2)).expand(-1, -1, *x.shape[2:])
            )

        bs, bo = pick(boxes, s_idx), pick(boxes, o_idx)
        union = self.union(level, union_boxes(bs, bo))
        x = torch.cat([pick(box_features, s_idx), pick(box_features, o_idx), union,
                       self.classes(pick(classes, s_idx)), self.classes(pick(classes, o_idx)),
                       self.geometry(pair_geometry(bs, bo, self.size))], -1)  # fmt: skip
        return self.score(x) + prior_logit(prior)


class AttributeHead(nn.Module):
    """Logits of every attribute for single boxes: box features and class embedding, plus
    the prior's logit of P(attribute | class, is)."""

    def __init__(self, n_classes: int, n_attributes: int, dim: int = 256, embed: int = 32,
                 hidden: int = 128) -> None:  # fmt: skip
        super().__init__()
        self.classes = nn.Embedding(n_classes, embed)
        self.score = _scorer(dim + embed, hidden, n_attributes)

    def forward(self, box_features, classes, prior) -> torch.Tensor:
        x = torch.cat([box_features, self.classes(classes)], -1)
        return self.score(x) + prior_logit(prior)


__all__ = [
    "GEOMETRY_FEATURES",
    "AttributeHead",
    "BoxFeatures",
    "RelationHead",
    "pair_geometry",
    "prior_logit",
    "union_boxes",
]
