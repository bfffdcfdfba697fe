"""What does the training loop itself cost? The same small CNN, data, optimizer and steps,
trained by (a) a plain PyTorch loop, (b) dlf.Learner with its default callbacks (progress
bar and recorder on), and, where installed (`make bench-env`), (c) PyTorch Lightning's
Trainer with its defaults and (d) fastai's Learner.

Runs alternate a, b, c, d, a, b, ... so machine drift hits all alike; the script prints
the median seconds of each and the ratio to (a). Usage:
    python bench/loop_overhead.py [--steps 60] [--repeats 7] [--bs 64]
"""

import argparse
import contextlib
import io
import logging
import statistics
import sys
import tempfile
import time
import warnings

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip


def make_loader(steps: int, bs: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps * bs, 3, 32, 32, generator=g)
    y = torch.randint(0, 10, (steps * bs,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=True)


def sgd(params, lr=0.05):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def run_plain(loader) -> float:
    torch.manual_seed(0)
    model = small_cnn()
    opt = sgd(model.parameters())
    t = time.perf_counter()
    model.train()
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad()
    return time.perf_counter() - t


def run_dlf(loader) -> float:
    import dlf
    from dlf.train.callbacks import ProgressCallback

    torch.manual_seed(0)
    learn = dlf.Learner(small_cnn(), dlf.DataLoaders(loader, None, device="cpu"), F.cross_entropy,
                        opt_func=sgd, precision="fp32", logger=lambda s: None)  # fmt: skip
    learn.cb(ProgressCallback).bar = True  # the bar on, as in a terminal
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        learn.fit(1, 0.05)
    return time.perf_counter() - t


def run_lightning(loader) -> float:
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = small_cnn()

        def training_step(self, batch, i):
            x, y = batch
            return F.cross_entropy(self.model(x), y)

        def configure_optimizers(self):
            return sgd(self.parameters())

    torch.manual_seed(0)
    module = Module()
    quiet = (contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()))
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings(), quiet[0], quiet[1]:
        warnings.simplefilter("ignore")
        logging.getLogger("lightning").setLevel(logging.ERROR)  # its banner goes to a logger
        trainer = L.Trainer(max_epochs=1, accelerator="cpu", devices=1, default_root_dir=d,
                            enable_model_summary=False)  # fmt: skip
        t = time.perf_counter()
        trainer.fit(module, loader)
        return time.perf_counter() - t


def run_fastai(loader) -> float:
    from functools import partial

    from fastai.callback.core import Callback, CancelValidException
    from fastai.data.core import DataLoaders as FDataLoaders
    from fastai.learner import Learner as FLearner
    from fastai.optimizer import OptimWrapper

    class NoValidation(Callback):  # fit() always validates; the others do not, so skip it
        def before_validate(self):
            raise CancelValidException

    torch.manual_seed(0)
    dls = FDataLoaders(loader, loader, device=torch.device("cpu"))
    opt = partial(OptimWrapper, opt=partial(torch.optim.SGD, momentum=0.9))
    learn = FLearner(dls, small_cnn(), loss_func=F.cross_entropy, opt_func=opt, lr=0.05)
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        learn.fit(1, 0.05, cbs=[NoValidation()])
    return time.perf_counter() - t


def available(name: str) -> bool:
    try:
        __import__({"lightning": "lightning", "fastai": "fastai.learner"}[name])
        return True
    except Exception as e:  # a peer that cannot be imported is reported as skipped
        print(f"{name}: skipped ({type(e).__name__}: {str(e).splitlines()[0][:80]})")
        return False


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--bs", type=int, default=64)
    args = ap.parse_args()
    runners = {"plain": run_plain, "dlf": run_dlf}
    for peer, fn in (("lightning", run_lightning), ("fastai", run_fastai)):
        if available(peer):
            runners[peer] = fn
    loader = make_loader(args.steps, args.bs)
    times = {k: [] for k in runners}
    for fn in runners.values():  # warm-up: first-call costs (imports, allocator) hit no one
        fn(loader)
    for _ in range(args.repeats):
        for name, fn in runners.items():
            times[name].append(fn(loader))
    base = statistics.median(times["plain"])
    print(f"loop overhead: {args.steps} steps of a small CNN, batch {args.bs}, CPU fp32, "
          f"{torch.get_num_threads()} threads, median of {args.repeats} alternating runs")  # fmt: skip
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:10s} {med:7.3f} s   ratio to plain {med / base:.3f}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
