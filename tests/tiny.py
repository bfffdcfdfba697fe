"""Shared test fixtures: a tiny CNN and a small learnable image dataset."""

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dlf import DataLoaders, seed_everything


class TinyCNN(nn.Module):
    """Small enough to train in milliseconds; has BN and dropout (dropout draws from the RNG)."""

    def __init__(self, n_classes: int = 3, p: float = 0.1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(p), nn.Linear(16, n_classes))

    def forward(self, x):
        return self.head(self.body(x))

    def param_groups(self):
        return [list(self.body.parameters()), list(self.head.parameters())]


def make_data(n: int = 96, seed: int = 0):
    """Three classes that differ by where a bright blob sits: learnable, not trivial."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 3, (n,), generator=g)
    x = torch.randn(n, 1, 12, 12, generator=g) * 0.5
    for i in range(n):
        r = 2 + 4 * int(y[i])
        x[i, 0, r : r + 3, 4:8] += 2.0
    return x, y


def make_loaders(bs: int = 16, n: int = 96, workers: int = 0):
    x, y = make_data(n)
    train = DataLoader(
        TensorDataset(x[: n * 3 // 4], y[: n * 3 // 4]),
        batch_size=bs,
        shuffle=True,
        num_workers=workers,
    )
    valid = DataLoader(TensorDataset(x[n * 3 // 4 :], y[n * 3 // 4 :]), batch_size=bs)
    return train, valid


def make_dls() -> DataLoaders:
    seed_everything(0)
    train, valid = make_loaders()
    return DataLoaders(train, valid, device="cpu")
