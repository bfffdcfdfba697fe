"""The Learner with no image files at all: a small CNN learns to tell where a bright bar sits.

The data are generated tensors in plain `torch.utils.data.DataLoader`s, which `dlf.Learner`
takes as they are. Run it with `.venv/bin/python examples/week1_quickstart.py`: three epochs,
under a minute on 2 CPU cores, ending with a validation accuracy of about 0.99. For a folder
of your own images use the README's week-1 snippet or `dlf train folder`; `make demo` runs the
APTOS project.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import dlf


def bars(n: int, seed: int) -> TensorDataset:
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 4, (n,), generator=g)
    x = torch.randn(n, 1, 32, 32, generator=g) * 0.6
    for i, c in enumerate(y.tolist()):
        r = 4 + 7 * c
        x[i, 0, r : r + 3, 6:26] += 1.5
    return TensorDataset(x, y)


dlf.seed_everything(42)
dls = dlf.DataLoaders(
    DataLoader(bars(2048, 0), batch_size=64, shuffle=True), DataLoader(bars(512, 1), batch_size=256)
)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
    nn.Flatten(), nn.Linear(32, 4),
)  # fmt: skip
learn = dlf.Learner(model, dls, F.cross_entropy, metrics=[dlf.accuracy])
learn.fit_one_cycle(3, 1e-2)
print(f"validation accuracy {learn.recorder.values[-1]['accuracy']:.4f}")
