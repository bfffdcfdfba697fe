"""FCOS's loss: classification, box and centerness terms over the targets of each location.

    classification  focal loss (alpha 0.25, gamma 2) on every location and class, one-hot
                    targets (background: all zeros), summed and divided by the number of
                    positive locations in the batch (at least 1): the ~10^4 easy background
                    locations must not dilute the few that hold an object
    box             GIoU loss (1 - GIoU of the decoded boxes) on the positive locations,
                    weighted by their centerness target, so boxes predicted from a box's
                    border matter less; divided by the sum of those weights
    centerness      binary cross-entropy of the centerness logit against its target, on the
                    positive locations, divided by their number

Everything is masked sums over all locations (no boolean indexing), so a training step never
waits for the device, and everything is computed in float32 whatever the autocast dtype.
"""

import torch
from torch import nn

from dlf.models.detection import FCOSOutput, fcos_targets, giou_loss, ltrb_decode
from dlf.train.losses import binary_cross_entropy_with_logits, focal_loss


class FCOSLoss(nn.Module):
    """`loss(output, boxes, box_labels)`: boxes N x M x 4 (x1 y1 x2 y2 pixels of the model's
    input), box_labels N x M (class index, -1 for padding or a box dropped by augmentation)."""

    def __init__(
        self,
        alpha: float = 0.25,
        gamma: float = 2.0,
        center_radius: float | None = 1.5,
        box_weight: float = 1.0,
    ):
        super().__init__()
        self.alpha, self.gamma = alpha, gamma
        self.center_radius, self.box_weight = center_radius, box_weight

    def components(
        self, output: FCOSOutput, boxes: torch.Tensor, box_labels: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """The three terms, each a scalar: {"cls": ..., "box": ..., "centerness": ...}."""
        cls_t, ltrb_t, centerness_t = fcos_targets(
            output.points, output.strides, boxes, box_labels, self.center_radius
        )
        logits = output.logits.float()
        positive = cls_t >= 0  # N x P
        pos = positive.float()
        num_pos = pos.sum().clamp(min=1)

        onehot = torch.zeros_like(logits)
        onehot.scatter_(-1, cls_t.clamp(min=0)[..., None], pos[..., None])
        cls = focal_loss(logits, onehot, self.alpha, self.gamma, reduction="sum") / num_pos

        # Background locations have zero targets and zero weight; giou_loss stays finite there.
        weight = centerness_t * pos
        pred_boxes = ltrb_decode(output.points, output.ltrb.float())
        true_boxes = ltrb_decode(output.points, ltrb_t)
        box = (giou_loss(pred_boxes, true_boxes) * weight).sum() / weight.sum().clamp(min=1e-6)

        bce = binary_cross_entropy_with_logits(
            output.centerness.float(), centerness_t, reduction="none"
        )
        centerness = (bce * pos).sum() / num_pos
        return {"cls": cls, "box": box, "centerness": centerness}

    def forward(
        self, output: FCOSOutput, boxes: torch.Tensor, box_labels: torch.Tensor
    ) -> torch.Tensor:
        parts = self.components(output, boxes, box_labels)
        return parts["cls"] + self.box_weight * parts["box"] + parts["centerness"]


__all__ = ["FCOSLoss"]
