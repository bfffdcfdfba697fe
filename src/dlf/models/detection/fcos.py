"""FCOS (Tian et al. 2019, "FCOS: Fully Convolutional One-Stage Object Detection").

    backbone  any zoo classifier built with features_only: C3, C4, C5 (strides 8, 16, 32)
    neck      the FPN (dlf.models.fpn): P3, P4, P5 of `fpn_channels`; optionally P6, P7 by
              stride-2 convs on P5 (`extra_levels`), for objects larger than ~256 px
    head      shared by every level: a classification tower and a box tower of 3x3 conv,
              GroupNorm, ReLU; from them, per location, C class logits, 4 distances
              (left, top, right, bottom) to the box's sides, and a centerness logit

Why FCOS rather than RetinaNet: every location predicts at most one box directly, so there
are no anchors, and with them go the anchor sizes, aspect ratios and the IoU thresholds that
match anchors to boxes, all hyperparameters to tune per dataset. What replaces them, which
location answers for which box, is the short function in targets.py. Centerness (1 at a box's
centre, 0 at its edge) down-weights the poor boxes predicted from a box's border.

Distances are exp(scale_l * x) * stride_l: positive by construction, a learnt scalar per level
(the heads are shared, the object sizes are not), and in units of the level's stride so every
level's raw output has the same range. They are computed in float32 (exp overflows bf16
easily). The classification bias starts at -log((1 - 0.01) / 0.01), so every location first
says "background" with probability 0.99: otherwise the ~10^4 background locations swamp the
focal loss in the first steps (RetinaNet's prior-probability initialisation).

The output (`FCOSOutput`) flattens the levels and concatenates them, so targets, loss and
decoding are plain tensor code over P points; `decode_detections` turns it into boxes.
"""

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from dlf.models.detection.boxes import clip_boxes, ltrb_decode
from dlf.models.detection.nms import batched_nms
from dlf.models.detection.points import grid_points
from dlf.models.fpn import FPN
from dlf.models.registry import create_model, register_model


class FCOSOutput(NamedTuple):
    """Per location of every level, levels concatenated shallow to deep (P points in all)."""

    logits: torch.Tensor  # N x P x C class logits
    ltrb: torch.Tensor  # N x P x 4 distances in pixels (>= 0), float32
    centerness: torch.Tensor  # N x P centerness logits
    points: torch.Tensor  # P x 2 location x y in pixels
    strides: torch.Tensor  # P stride of each location's level


class Scale(nn.Module):
    """One learnable multiplier (per level: the head is shared, the sizes are not)."""

    def __init__(self, value: float = 1.0):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(value)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def _tower(channels: int, depth: int) -> nn.Sequential:
    # GroupNorm, not BatchNorm: the head sees every level and detection batches are small.
    layers = []
    for _ in range(depth):
        layers += [
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(math.gcd(32, channels), channels),
            nn.ReLU(inplace=True),
        ]
    return nn.Sequential(*layers)


class FCOSHead(nn.Module):
    def __init__(
        self,
        channels: int,
        num_classes: int,
        num_levels: int,
        depth: int = 4,
        prior_prob: float = 0.01,
    ):
        super().__init__()
        self.cls_tower = _tower(channels, depth)
        self.box_tower = _tower(channels, depth)
        self.cls_logits = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box_pred = nn.Conv2d(channels, 4, 3, padding=1)
        self.centerness = nn.Conv2d(channels, 1, 3, padding=1)  # on the box tower (FCOS v2)
        self.scales = nn.ModuleList(Scale() for _ in range(num_levels))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.cls_logits.bias, -math.log((1 - prior_prob) / prior_prob))

    def forward(
        self, features: list[torch.Tensor], strides: list[int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, ltrb, centerness = [], [], []
        for f, scale, stride in zip(features, self.scales, strides):
            c, b = self.cls_tower(f), self.box_tower(f)
            logits.append(_flatten(self.cls_logits(c)))
            distance = scale(self.box_pred(b)).float().clamp(max=12.0)  # exp(12) ~ 1.6e5
            ltrb.append(_flatten(distance.exp() * stride))
            centerness.append(_flatten(self.centerness(b))[..., 0])
        return torch.cat(logits, 1), torch.cat(ltrb, 1), torch.cat(centerness, 1)


def _flatten(x: torch.Tensor) -> torch.Tensor:
    """N x C x H x W -> N x (H*W) x C, locations row-major (as grid_points lists them)."""
    return x.flatten(2).transpose(1, 2)


class FCOS(nn.Module):
    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 80,
        fpn_channels: int = 256,
        head_depth: int = 4,
        extra_levels: int = 0,
        prior_prob: float = 0.01,
    ):
        super().__init__()
        if extra_levels not in (0, 1, 2):
            raise ValueError(f"extra_levels must be 0, 1 (P6) or 2 (P6, P7), not {extra_levels}")
        reductions = list(backbone.feature_reductions)
        missing = [s for s in (8, 16, 32) if s not in reductions]
        if missing:
            raise ValueError(f"the backbone gives no features at stride(s) {missing}")
        self.backbone = backbone
        self.num_classes = num_classes
        self.feature_index = [reductions.index(s) for s in (8, 16, 32)]  # C3, C4, C5
        channels = [backbone.feature_channels[i] for i in self.feature_index]
        self.fpn = FPN(channels, fpn_channels)
        # P6 from P5, P7 from relu(P6), by 3x3 stride-2 convs (FCOS's choice: P5, not C5).
        self.extra = nn.ModuleList(
            nn.Conv2d(fpn_channels, fpn_channels, 3, stride=2, padding=1)
            for _ in range(extra_levels)
        )
        self.strides = [8, 16, 32, 64, 128][: 3 + extra_levels]
        self.head = FCOSHead(fpn_channels, num_classes, len(self.strides), head_depth, prior_prob)

    def forward(self, x: torch.Tensor) -> FCOSOutput:
        return self.detect(self.pyramid(x), x)

    def pyramid(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The FPN levels P3, P4, P5 (and P6, P7), strides `self.strides`: what a second
        head (a relationship head pooling box features, say) reads besides the detector."""
        features = self.backbone(x)
        pyramid = self.fpn([features[i] for i in self.feature_index])
        for i, conv in enumerate(self.extra):
            pyramid.append(conv(pyramid[-1] if i == 0 else F.relu(pyramid[-1])))
        return pyramid

    def detect(self, pyramid: list[torch.Tensor], x: torch.Tensor) -> FCOSOutput:
        """The detection head on the pyramid of input `x`."""
        logits, ltrb, centerness = self.head(pyramid, self.strides)
        points, strides = grid_points([p.shape[-2:] for p in pyramid], self.strides, x.device)
        return FCOSOutput(logits, ltrb, centerness, points, strides)

    def param_groups(self) -> list[list[nn.Parameter]]:
        """[backbone, neck + head]: freeze the pretrained backbone first, as for a classifier."""
        new = [*self.fpn.parameters(), *self.extra.parameters(), *self.head.parameters()]
        return [list(self.backbone.parameters()), new]


def fcos_scores(output: FCOSOutput) -> torch.Tensor:
    """FCOS's detection score per location and class, N x P x C:
    sqrt(sigmoid(class logit) * sigmoid(centerness logit))."""
    cls = torch.sigmoid(output.logits.float())
    return (cls * torch.sigmoid(output.centerness.float())[..., None]).sqrt()


@torch.no_grad()
def decode_detections(
    output: FCOSOutput,
    score_thr: float = 0.05,
    nms_iou: float = 0.6,
    max_per_image: int = 100,
    pre_nms_topk: int = 1000,
    image_size: tuple[int, int] | None = None,
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Per image, (boxes K x 4 pixels, scores K, labels K), highest score first.

    The `pre_nms_topk` best (location, class) pairs of each image over `score_thr` (one topk
    for the batch), decoded to boxes (clipped to `image_size` (h, w) if given), then NMS per
    class at `nms_iou` and the best `max_per_image` kept.
    """
    scores = fcos_scores(output)
    n, p, c = scores.shape
    k = min(pre_nms_topk, p * c)
    top_scores, top_index = scores.reshape(n, p * c).topk(k, dim=1)  # N x k
    point_index, labels = top_index // c, top_index % c
    ltrb = output.ltrb.float().gather(1, point_index[..., None].expand(n, k, 4))
    boxes = ltrb_decode(output.points[point_index], ltrb)  # N x k x 4
    if image_size is not None:
        boxes = clip_boxes(boxes, image_size)
    results = []
    for b, s, lab in zip(boxes, top_scores, labels):  # NMS is per image
        confident = s > score_thr
        b, s, lab = b[confident], s[confident], lab[confident]
        keep = batched_nms(b, s, lab, nms_iou)[:max_per_image]
        results.append((b[keep], s[keep], lab[keep]))
    return results


def fcos(
    backbone: str,
    num_classes: int = 80,
    in_chans: int = 3,
    pretrained=None,
    **kwargs,
) -> FCOS:
    """FCOS on the registered classifier `backbone` (features_only); `pretrained` is that
    classifier's weights file, loaded into the backbone (the neck and head start fresh)."""
    encoder = create_model(backbone, in_chans=in_chans, features_only=True, pretrained=pretrained)
    return FCOS(encoder, num_classes=num_classes, **kwargs)


# `fcos_<backbone>`, made in a loop like unet_<encoder>.
FCOS_BACKBONES = ("resnet18", "resnet34", "resnet50", "resnext50_32x4d")


def _fcos_builder(backbone: str):
    def build(num_classes: int = 80, in_chans: int = 3, pretrained=None, **kwargs) -> FCOS:
        return fcos(backbone, num_classes, in_chans, pretrained, **kwargs)

    build.__name__ = f"fcos_{backbone}"
    build.__doc__ = f"FCOS on {backbone}: P3-P5 (extra_levels=2 adds P6, P7)."
    return build


for _backbone in FCOS_BACKBONES:
    register_model(_fcos_builder(_backbone))


__all__ = [
    "FCOS",
    "FCOS_BACKBONES",
    "FCOSHead",
    "FCOSOutput",
    "Scale",
    "decode_detections",
    "fcos",
    "fcos_scores",
]
