"""The model's outputs for RxRx1: a softmax over all 1,139 classes, or the cosine / ArcFace
head, and optionally the cell type as a second head.

Cosine head: the logit of class j is cos(theta_j), the cosine between the L2-normalised
feature and the L2-normalised class weight W_j. ArcFace (Deng et al. 2019, "ArcFace:
Additive Angular Margin Loss for Deep Face Recognition", eq. 3) trains it with

    L = -log( e^{s cos(theta_y + m)} / (e^{s cos(theta_y + m)} + sum_{j != y} e^{s cos theta_j}) )

an angular margin m added to the target's angle and a scale s. The margin belongs to the
loss only: at inference the class scores are s cos(theta_j).
"""

import torch
import torch.nn.functional as F
from torch import nn


class CosineHead(nn.Module):
    """Features -> cos(theta_j) for each class j, in -1..1."""

    def __init__(self, in_features: int, n_classes: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n_classes, in_features))
        nn.init.xavier_uniform_(self.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(F.normalize(x.float(), dim=-1), F.normalize(self.weight.float(), dim=-1))


def arcface_logits(cos: torch.Tensor, target: torch.Tensor, s: float, m: float) -> torch.Tensor:
    """s cos(theta_j), with the target's angle widened by m: s cos(theta_y + m).

    theta = arccos(cos) after a clamp just inside -1..1 (arccos has an infinite slope at the
    ends). m = 0 gives the plain cosine softmax (the normalised-softmax head)."""
    if m == 0:
        return s * cos
    theta = torch.acos(cos.clamp(-1 + 1e-6, 1 - 1e-6))
    target_cos = torch.cos(theta.gather(1, target[:, None]) + m)
    return s * cos.scatter(1, target[:, None], target_cos)


class RecursionNet(nn.Module):
    """A backbone's pooled features -> class outputs (logits, or cosines for the cosine
    head), followed by the cell-type logits when `n_cell_types` > 0 (one tensor, split by
    the loss and the activation)."""

    def __init__(
        self, backbone: nn.Module, n_features: int, n_classes: int, cosine: bool, n_cell_types: int
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = (
            CosineHead(n_features, n_classes) if cosine else nn.Linear(n_features, n_classes)
        )
        self.cell_head = nn.Linear(n_features, n_cell_types) if n_cell_types else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone(x)
        out = self.head(f)
        if self.cell_head is not None:
            out = torch.cat([out.float(), self.cell_head(f).float()], dim=1)
        return out


__all__ = ["CosineHead", "RecursionNet", "arcface_logits"]
