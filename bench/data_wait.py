"""How long does a default training run wait for data? The APTOS task at its defaults
(resnet18, 128 px, batch 32, precision auto, its device augmentation) on the embedded
synthetic data, trained by the Learner as `dlf train aptos` does; prints, per epoch, the
training images/s and the share of training time spent in `next(batch)` (loading plus
the batch transforms), which the Learner's Recorder measures in every run.

    python bench/data_wait.py               # 3 epochs
    python bench/data_wait.py --epochs 1    # smoke run
"""

import argparse
import statistics

import torch

from dlf.core import seed_everything
from dlf.tasks.aptos.task import AptosTask
from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import build_training, default_data
from dlf.train.learner import Learner


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--precision", default="auto")
    args = ap.parse_args()
    task = AptosTask()
    cfg = TrainConfig(task="aptos", epochs=args.epochs, precision=args.precision)
    cfg.fill_defaults(task.defaults)
    quiet = lambda s: None  # noqa: E731
    data = default_data(task, quiet)  # generated once, like `dlf train aptos` does
    seed_everything(cfg.seed)
    parts = build_training(task, cfg, data, quiet).parts
    learn = Learner(parts.model, parts.dls, parts.loss_func, metrics=parts.metrics,
                    precision=cfg.precision, logger=quiet)  # fmt: skip
    learn.fit_one_cycle(cfg.epochs, cfg.lr)
    stats = learn.recorder.stats
    setting = learn.precision.name + (", channels_last" if learn.channels_last else "")
    print(f"data wait: aptos defaults ({cfg.arch}, {cfg.size}px, batch {cfg.bs}, {setting}), "
          f"{len(learn.dls.train)} training batches per epoch, CPU {torch.get_num_threads()} threads")  # fmt: skip
    for s in stats:
        print(f"  epoch {s['epoch']}: {s['items_per_second']:6.1f} img/s training, "
              f"data wait {s['data_wait_share'] * 100:4.1f}% of training time")  # fmt: skip
    later = stats[1:] or stats  # the first epoch also pays one-off costs
    print(f"  median over epochs after the first: "
          f"{statistics.median(s['items_per_second'] for s in later):.1f} img/s, data wait "
          f"{statistics.median(s['data_wait_share'] for s in later) * 100:.1f}% (target: under 5%)")  # fmt: skip


if __name__ == "__main__":
    main()
