"""Video classifiers on precomputed frame features (YouTube-8M: 1,024 rgb + 128 audio per
second): frames B x T x D and a frame mask B x T (1 = a real frame, 0 = padding) -> logits.

    video_nextvlad    NeXtVLAD pooling (Lin et al. 2018, "NeXtVLAD: An Efficient Neural
                      Network to Aggregate Frame-level Features for Large-scale Video
                      Classification", the best single model of YouTube-8M 2018): frames are
                      expanded and split into groups, each group softly assigned to K cluster
                      centres with a per-group attention weight, and the residuals to the
                      centres summed over frames and groups.
    video_attention   attention pooling: a learnt weight per frame (softmax over the real
                      frames) for each of a few heads, as in Long et al. 2018, "Attention
                      Clusters"; smaller and faster, for CPU runs.

Both end in the head of Miech et al. 2017, "Learnable pooling with Context Gating for video
classification": a hidden layer, then context gating (x * sigmoid(W x + b): the features
re-weight each other), then a linear classifier. Padding frames never reach the pooled
vector, so a clip padded to the longest in its batch scores as it would alone.
"""

import torch
import torch.nn.functional as F
from torch import nn

from dlf.models.registry import register_model
from dlf.models.weights import with_weights


class ContextGating(nn.Module):
    """y = x * sigmoid(W x + b) (Miech et al. 2017)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.gate(x))


def _mask(frames: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return frames.new_ones(frames.shape[:2])
    return mask.to(frames.dtype)


class NeXtVLAD(nn.Module):
    """B x T x D frames -> B x (clusters * expansion * D / groups) pooled descriptor."""

    def __init__(self, dim: int, clusters: int = 16, expansion: int = 2, groups: int = 8) -> None:
        super().__init__()
        if (expansion * dim) % groups:
            raise ValueError(
                f"expansion x dim ({expansion * dim}) must divide into {groups} groups"
            )
        self.clusters, self.groups = clusters, groups
        self.group_dim = expansion * dim // groups
        self.expand = nn.Linear(dim, expansion * dim)
        self.group_attention = nn.Linear(expansion * dim, groups)
        self.assign = nn.Linear(expansion * dim, groups * clusters, bias=False)
        self.assign_norm = nn.BatchNorm1d(groups * clusters)
        self.centres = nn.Parameter(torch.randn(self.group_dim, clusters) * 0.01)
        self.out_dim = clusters * self.group_dim

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        b, t, _ = frames.shape
        m = _mask(frames, mask)  # B x T
        x = self.expand(frames)  # B x T x (lambda D)
        # how much each group of each frame counts; padding frames count zero
        attention = torch.sigmoid(self.group_attention(x)) * m[..., None]  # B x T x G
        logits = self.assign(x).reshape(b * t, -1)
        logits = self.assign_norm(logits).reshape(b, t, self.groups, self.clusters)
        assign = logits.softmax(-1) * attention[..., None]  # B x T x G x K
        assign = assign.reshape(b, t * self.groups, self.clusters)
        groups = x.reshape(b, t * self.groups, self.group_dim)  # B x TG x d
        # residuals to the centres, summed over frames and groups: sum a (x - c)
        vlad = groups.transpose(1, 2) @ assign - self.centres * assign.sum(1, keepdim=True)
        vlad = F.normalize(vlad, dim=1)  # intra-normalisation per cluster
        return vlad.reshape(b, -1)


class AttentionPool(nn.Module):
    """B x T x D frames -> B x (heads * hidden): per head, a softmax weight over real frames."""

    def __init__(self, dim: int, hidden: int = 256, heads: int = 4) -> None:
        super().__init__()
        self.embed = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU())
        self.score = nn.Linear(hidden, heads)
        self.out_dim = hidden * heads

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        m = _mask(frames, mask)
        h = self.embed(frames)  # B x T x H
        scores = self.score(h).float().masked_fill(m[..., None] == 0, float("-inf"))
        weights = torch.nan_to_num(scores.softmax(1)).to(h.dtype)  # a clip of no frame: zeros
        return torch.einsum("bth,btk->bkh", h, weights).flatten(1)


class VideoClassifier(nn.Module):
    """pool -> dropout -> hidden (BatchNorm, ReLU) -> context gating -> linear classifier."""

    def __init__(self, pool: nn.Module, num_classes: int, hidden: int, drop_rate: float) -> None:
        super().__init__()
        self.pool = pool
        self.head_drop = nn.Dropout(drop_rate)
        self.hidden = nn.Sequential(
            nn.Linear(pool.out_dim, hidden), nn.BatchNorm1d(hidden), nn.ReLU()
        )
        self.gating = ContextGating(hidden)
        self.fc = nn.Linear(hidden, num_classes)
        self.num_classes, self.num_features = num_classes, hidden
        first = "pool.expand" if isinstance(pool, NeXtVLAD) else "pool.embed.0"
        self.pretrained_cfg = dict(first_conv=first, classifier="fc")

    def forward(self, frames: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.head_drop(self.pool(frames, mask))
        return self.fc(self.gating(self.hidden(pooled)))

    def param_groups(self) -> list[list[nn.Parameter]]:
        """Pooling (its first layer first), then hidden + gating, then the classifier."""
        stem = list(self.get_submodule(self.pretrained_cfg["first_conv"]).parameters())
        rest = [p for p in self.pool.parameters() if all(p is not q for q in stem)]
        return [stem + rest,
                [*self.hidden.parameters(), *self.gating.parameters()],
                list(self.fc.parameters())]  # fmt: skip


@register_model
def video_nextvlad(
    num_classes: int = 3862, in_chans: int = 1152, pretrained=None, clusters: int = 16,
    expansion: int = 2, groups: int = 8, hidden: int = 512, drop_rate: float = 0.5,
) -> VideoClassifier:  # fmt: skip
    """NeXtVLAD + context gating; `in_chans` is the feature size per frame."""
    pool = NeXtVLAD(in_chans, clusters, expansion, groups)
    return with_weights(VideoClassifier(pool, num_classes, hidden, drop_rate), pretrained)


@register_model
def video_attention(
    num_classes: int = 3862, in_chans: int = 1152, pretrained=None, hidden: int = 256,
    heads: int = 4, drop_rate: float = 0.3,
) -> VideoClassifier:  # fmt: skip
    """Attention pooling + context gating; `in_chans` is the feature size per frame."""
    pool = AttentionPool(in_chans, hidden, heads)
    return with_weights(VideoClassifier(pool, num_classes, hidden, drop_rate), pretrained)


__all__ = ["AttentionPool", "ContextGating", "NeXtVLAD", "VideoClassifier", "video_attention",
           "video_nextvlad"]  # fmt: skip
