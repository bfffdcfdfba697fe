"""1-D sequence classifiers: the four baselines of MNIST-1D (Greydanus & Kobak, ICML 2024) and
a residual 1-D CNN that beats them.

Every model takes a batch of sequences B x L (or B x C x L) and returns B x num_classes
logits. The paper's four are built to its sizes (its `notebooks/models.py`), and their
parameter counts are the paper's (tests/test_papers_mnist1d.py checks them):

    mnist1d_logistic   linear 40 -> 10                                        410
    mnist1d_mlp        40 -> 100 -> (+ residual 100 -> 100) -> 10          15,210
    mnist1d_cnn        conv 5/2, 3/2, 3/2 with 25 channels -> flatten -> 10  5,210
    mnist1d_gru        bidirectional GRU, hidden 6, every step -> 10        5,134

`mnist1d_resnet` is not the paper's: circular padding (MNIST-1D's translation wraps
around), batch norm, residual blocks and a global pool, for the "beat the paper" recipe.
"""

import torch
from torch import nn

from dlf.models.registry import register_model
from dlf.models.weights import with_weights


def _as_channels(x: torch.Tensor, in_chans: int) -> torch.Tensor:
    """B x L -> B x 1 x L; B x C x L passes through."""
    return x.unsqueeze(1) if x.dim() == 2 and in_chans == 1 else x


class LogisticRegression1d(nn.Module):
    """One linear layer on the flattened sequence: the paper's logistic regression."""

    def __init__(self, seq_len: int = 40, num_classes: int = 10, in_chans: int = 1) -> None:
        super().__init__()
        self.linear = nn.Linear(in_chans * seq_len, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1))


class MLP1d(nn.Module):
    """The paper's MLP: two hidden layers of `hidden`, the second one residual."""

    def __init__(
        self, seq_len: int = 40, num_classes: int = 10, in_chans: int = 1, hidden: int = 100
    ) -> None:
        super().__init__()
        self.linear1 = nn.Linear(in_chans * seq_len, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.linear1(x.flatten(1)).relu()
        h = h + self.linear2(h).relu()
        return self.linear3(h)


def _conv_len(n: int, k: int, s: int, p: int) -> int:
    return (n + 2 * p - k) // s + 1


class CNN1d(nn.Module):
    """The paper's CNN: three strided convolutions (kernels 5, 3, 3, stride 2, padding 1),
    ReLU, and a linear classifier on the flattened last map (40 -> 19 -> 10 -> 5 steps)."""

    def __init__(
        self, seq_len: int = 40, num_classes: int = 10, in_chans: int = 1, channels: int = 25
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.conv1 = nn.Conv1d(in_chans, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        n = _conv_len(_conv_len(_conv_len(seq_len, 5, 2, 1), 3, 2, 1), 3, 2, 1)
        self.linear = nn.Linear(channels * n, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(_as_channels(x, self.in_chans)).relu()
        h = self.conv2(h).relu()
        h = self.conv3(h).relu()
        return self.linear(h.flatten(1))


class GRU1d(nn.Module):
    """The paper's GRU: a bidirectional GRU over the sequence (one value per step), its
    outputs at every step concatenated and classified by one linear layer."""

    def __init__(
        self,
        seq_len: int = 40,
        num_classes: int = 10,
        in_chans: int = 1,
        hidden: int = 6,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.gru = nn.GRU(in_chans, hidden, batch_first=True, bidirectional=bidirectional)
        self.linear = nn.Linear((2 if bidirectional else 1) * hidden * seq_len, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = _as_channels(x, self.in_chans).transpose(1, 2)  # B x L x C: one step per value
        out, _ = self.gru(steps)  # the initial state is zeros, as in the paper
        return self.linear(out.flatten(1))


class ResBlock1d(nn.Module):
    """conv-BN-ReLU-conv-BN plus the input, then ReLU; circular padding keeps the length."""

    def __init__(self, channels: int, kernel: int = 5) -> None:
        super().__init__()
        pad = kernel // 2

        def conv() -> nn.Conv1d:
            return nn.Conv1d(channels, channels, kernel, padding=pad, padding_mode="circular", bias=False)  # fmt: skip

        self.body = nn.Sequential(
            conv(), nn.BatchNorm1d(channels), nn.ReLU(inplace=True), conv(), nn.BatchNorm1d(channels)
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.body(x)).relu()


class ResNet1d(nn.Module):
    """A small residual 1-D CNN: a circular stem, `depth` residual blocks at full length,
    global average and max pooling, one linear layer. Translation-equivariant up to the pool,
    which MNIST-1D's wrapping shift rewards."""

    def __init__(
        self,
        num_classes: int = 10,
        in_chans: int = 1,
        channels: int = 32,
        depth: int = 3,
        kernel: int = 5,
        drop_rate: float = 0.0,
    ) -> None:
        super().__init__()
        self.in_chans = in_chans
        self.stem = nn.Sequential(
            nn.Conv1d(in_chans, channels, kernel, padding=kernel // 2, padding_mode="circular", bias=False),
            nn.BatchNorm1d(channels),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.blocks = nn.Sequential(*[ResBlock1d(channels, kernel) for _ in range(depth)])
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(2 * channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(self.stem(_as_channels(x, self.in_chans)))
        pooled = torch.cat([h.mean(-1), h.amax(-1)], dim=1)
        return self.fc(self.drop(pooled))


@register_model
def mnist1d_logistic(pretrained=None, **kwargs) -> LogisticRegression1d:
    return with_weights(LogisticRegression1d(**kwargs), pretrained)


@register_model
def mnist1d_mlp(pretrained=None, **kwargs) -> MLP1d:
    return with_weights(MLP1d(**kwargs), pretrained)


@register_model
def mnist1d_cnn(pretrained=None, **kwargs) -> CNN1d:
    return with_weights(CNN1d(**kwargs), pretrained)


@register_model
def mnist1d_gru(pretrained=None, **kwargs) -> GRU1d:
    return with_weights(GRU1d(**kwargs), pretrained)


@register_model
def mnist1d_resnet(pretrained=None, **kwargs) -> ResNet1d:
    return with_weights(ResNet1d(**kwargs), pretrained)


__all__ = [
    "CNN1d",
    "GRU1d",
    "LogisticRegression1d",
    "MLP1d",
    "ResBlock1d",
    "ResNet1d",
    "mnist1d_cnn",
    "mnist1d_gru",
    "mnist1d_logistic",
    "mnist1d_mlp",
    "mnist1d_resnet",
]
