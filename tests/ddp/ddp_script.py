"""One small Learner run, written to be started alone or as a rank under torchrun:

    python ddp_script.py OUT --bs 16
    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_script.py OUT --bs 8

The main rank saves the final weights, the recorded losses and metrics, and the validation
predictions to OUT (torch.save), for the tests to compare. Each rank gives the Checkpoint and
CSVLogger a folder of its own, rankR/ beside OUT, and says what it logged in saidR.json: only
rank 0 may write or speak. No random augmentation and no
dropout: the only randomness is the init and the epoch order, drawn alike on every rank.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from dlf.core.dist import is_main_process, process_group, rank
from dlf.core.seed import seed_everything
from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader, array_column
from dlf.train.callbacks import Checkpoint, CSVLogger, GradientAccumulation
from dlf.train.learner import Learner
from dlf.train.metrics import QWK, AccumMetric, accuracy


def data(n: int = 100, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Four classes from a noisy linear rule on 6 features: learnable, not separable."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    w = rng.normal(size=(6, 4)).astype(np.float32)
    y = (x @ w + rng.normal(scale=1.0, size=(n, 4))).argmax(1).astype(np.int64)
    return x, y


def sgd(groups, lr):
    return torch.optim.SGD(groups, lr=lr, momentum=0.9)


def train_and_save(out: str, bs: int, accumulate: int = 1, epochs: int = 3) -> None:
    """Train (as one rank when torchrun started this process) and save the results."""
    with process_group("cpu"):
        seed_everything(0)
        x, y = data()
        cols = [array_column(x), array_column(y)]
        # 64 training rows: 4 global batches of 16; 36 validation rows: 18 a rank, 3 batches
        train = ArrayLoader(cols, np.arange(64), bs=bs, shuffle=True, drop_last=True)
        valid = ArrayLoader(cols, np.arange(64, 100), bs=7)
        dls = DataLoaders(train, valid, device="cpu")
        model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4))
        metrics = [accuracy, QWK(4), AccumMetric(lambda p, t: F.cross_entropy(p, t), "ce")]
        folder = Path(out).parent / f"rank{rank()}"
        cbs = [Checkpoint(folder, every_steps=3), CSVLogger(folder / "metrics.csv")]
        cbs += [GradientAccumulation(accumulate)] if accumulate > 1 else []
        said: list[str] = []
        learn = Learner(model, dls, F.cross_entropy, opt_func=sgd, lr=0.05, metrics=metrics,
                        cbs=cbs, precision="fp32", logger=said.append)  # fmt: skip
        learn.fit(epochs)
        preds, targets = learn.get_preds()
        (Path(out).parent / f"said{rank()}.json").write_text(json.dumps(said))
        if is_main_process():
            torch.save({"weights": model.state_dict(), "values": learn.recorder.values,
                        "losses": learn.recorder.losses, "preds": preds, "targets": targets},
                       out)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--bs", type=int, required=True)
    p.add_argument("--accumulate", type=int, default=1)
    p.add_argument("--epochs", type=int, default=3)
    args = p.parse_args()
    train_and_save(args.out, args.bs, args.accumulate, args.epochs)


if __name__ == "__main__":
    main()
