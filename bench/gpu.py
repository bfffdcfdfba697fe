"""The GPU path on one GPU, side by side in one run: ResNet-50 training speed, the data path,
the data-wait share of a real task run, and peak GPU memory. Self-contained: every input is
generated here (no downloads, no network); under 6 minutes on one H200 at the defaults.

1. Training images/s, ResNet-50 at 224 px, bf16 autocast + channels_last, the same batch
   resident on the device (the model's speed, not the data's): a plain PyTorch loop
   (forward, cross entropy, backward, SGD step) on dlf's resnet50; `dlf.Learner.fit` on the
   same model (default callbacks: Recorder and progress); timm's resnet50 in the plain loop
   (if timm is installed); each of the first two again under `torch.compile` (the Learner's
   `compile=True`, i.e. `dlf train --compile`; timed with --compile, on by default on a GPU). Timed windows alternate between them after a warm-up (compile
   happens there); medians, ratios against the plain loop. Lightning's Trainer (if
   installed) trains the same model for several epochs, timed per epoch by a callback,
   the first epoch being its warm-up. Peak memory (torch.cuda.max_memory_allocated) per side.
2. The data path, images/s to the device: dlf's decoded-image cache + ArrayLoader (pinned)
   + the batch augmentation on the device, against a torch DataLoader with 8 workers
   decoding each PNG with Pillow and augmenting it with Pillow (affine + brightness +
   contrast, the same draws as bench/data_throughput.py), pinned, copied non-blocking.
   Epochs alternate; medians.
3. The data-wait share of a real task run: `dlf train aptos` composed as the driver does it
   (resnet18, 128 px, batch 32, precision auto, its device augmentation) on generated data,
   as reported by the Recorder (share of training time spent in next(batch)).

    python bench/gpu.py              # on a GPU
    python bench/gpu.py --smoke      # tiny sizes, CPU or GPU: checks that every part runs
"""

import argparse
import contextlib
import io
import logging
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling bench scripts
from data_throughput import PillowPerItem, augment, make_pngs
from dlf.core import resolve_precision, seed_everything
from dlf.data import ArrayLoader, ImageCache, image_column
from dlf.data.augment import to_float
from dlf.data.loaders import DataLoaders
from dlf.models import create_model
from dlf.train.learner import Learner

CLASSES = 1000


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_gib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0


def peak_text(gib: float, device: torch.device) -> str:
    return f"peak {gib:6.2f} GiB" if device.type == "cuda" else "peak n/a (CPU)"


def installed(module: str) -> bool:
    try:
        __import__(module)
        return True
    except Exception:
        return False


def sgd(params, lr: float = 0.01) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


# ---------------------------------------------------------------- 1. training speed
class PlainLoop:
    """forward, loss, backward, step, zero_grad: what every framework wraps."""

    def __init__(self, model, batch, device, precision, warmup: int) -> None:
        self.model = model.to(device).to(memory_format=torch.channels_last).train()
        self.opt, self.batch, self.device = sgd(self.model.parameters()), batch, device
        self.p = resolve_precision(precision, device)
        self.window(warmup)

    def window(self, steps: int) -> None:
        x, y = self.batch
        for _ in range(steps):
            with torch.autocast(self.device.type, dtype=self.p.autocast_dtype,
                                enabled=self.p.autocast):  # fmt: skip
                loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)


class LearnerLoop:
    """dlf's Learner, default callbacks; one `fit(1)` per window over `steps` batches."""

    def __init__(self, model, batch, device, precision, warmup: int, compile: bool = False) -> None:
        self.batch, self.device = batch, device
        dls = DataLoaders([batch] * warmup, None, device=device)
        self.learn = Learner(model, dls, F.cross_entropy, opt_func=sgd, lr=0.01,
                             precision=precision, channels_last=True, compile=compile,
                             logger=lambda m: None)  # fmt: skip
        self.window(warmup)

    def window(self, steps: int) -> None:
        self.learn.dls = DataLoaders([self.batch] * steps, None, device=self.device)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            self.learn.fit(1)


class Repeat:
    """The same batch `n` times: an iterable Lightning takes as one loader (a list would be
    read as a list of loaders)."""

    def __init__(self, batch, n: int) -> None:
        self.batch, self.n = batch, n

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        return iter([self.batch] * self.n)


def lightning_speed(model, batch, steps, epochs, device, precision) -> tuple[list, float]:
    """Seconds per epoch of `steps` batches under Lightning's Trainer (first epoch dropped)."""
    import lightning as L

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.model = model.to(memory_format=torch.channels_last)

        def training_step(self, b, i):
            return F.cross_entropy(self.model(b[0]), b[1])

        def configure_optimizers(self):
            return sgd(self.parameters())

    class EpochTimer(L.Callback):
        def __init__(self):
            self.seconds = []

        def on_train_epoch_start(self, trainer, module):
            sync(device)
            self.t = time.perf_counter()

        def on_train_epoch_end(self, trainer, module):
            sync(device)
            self.seconds.append(time.perf_counter() - self.t)

    timer = EpochTimer()
    p = resolve_precision(precision, device)
    prec = {"bf16": "bf16-mixed", "fp16": "16-mixed"}.get(p.name, "32-true")
    reset_peak(device)
    with tempfile.TemporaryDirectory() as d, warnings.catch_warnings(), \
            contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):  # fmt: skip
        warnings.simplefilter("ignore")
        for name in ("lightning", "lightning.pytorch", "lightning.fabric"):  # its banners
            logging.getLogger(name).setLevel(logging.ERROR)
        trainer = L.Trainer(max_epochs=epochs + 1, accelerator="gpu" if device.type == "cuda" else "cpu",
                            devices=1, precision=prec, default_root_dir=d, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, callbacks=[timer])  # fmt: skip
        trainer.fit(Module(), Repeat(batch, steps))
    return timer.seconds[1:], peak_gib(device)


def training_speed(args, device: torch.device) -> None:
    bs, size, steps = args.bs, args.size, args.steps
    g = torch.Generator().manual_seed(0)
    x = torch.randn(bs, 3, size, size, generator=g).to(device)
    x = x.contiguous(memory_format=torch.channels_last)
    batch = (x, torch.randint(0, CLASSES, (bs,), generator=g).to(device))

    def resnet50():
        torch.manual_seed(0)
        return create_model("resnet50", num_classes=CLASSES)

    sides = {}
    builders = {
        "plain loop": lambda: PlainLoop(resnet50(), batch, device, args.precision, args.warmup),
        "dlf Learner": lambda: LearnerLoop(resnet50(), batch, device, args.precision, args.warmup),
    }
    if installed("timm"):
        import timm

        builders["timm resnet50, plain loop"] = lambda: PlainLoop(
            timm.create_model("resnet50", num_classes=CLASSES), batch, device, args.precision,
            args.warmup)  # fmt: skip
    if args.compile:
        builders["plain loop, compiled"] = lambda: PlainLoop(
            torch.compile(resnet50()), batch, device, args.precision, args.warmup)  # fmt: skip
        builders["dlf Learner, compiled"] = lambda: LearnerLoop(
            resnet50(), batch, device, args.precision, args.warmup, compile=True)  # fmt: skip
    setup_s = {}
    for name, build in builders.items():
        t = time.perf_counter()
        sides[name] = build()  # includes the warm-up steps (and compiling)
        sync(device)
        setup_s[name] = time.perf_counter() - t
    speeds = {name: [] for name in sides}
    peaks = dict.fromkeys(sides, 0.0)
    for _ in range(args.repeats):  # windows alternate, so drift hits every side alike
        for name, side in sides.items():
            reset_peak(device)
            sync(device)
            t = time.perf_counter()
            side.window(steps)
            sync(device)
            speeds[name].append(steps * bs / (time.perf_counter() - t))
            peaks[name] = max(peaks[name], peak_gib(device))
    p = resolve_precision(args.precision, device)
    print(f"1. training: resnet50, {size} px, batch {bs}, {p.name}"
          f"{' autocast' if p.autocast else ''}, channels_last, {steps} steps a window, "
          f"{args.repeats} windows, {args.warmup} warm-up steps")  # fmt: skip
    base = statistics.median(speeds["plain loop"])
    for name, s in speeds.items():
        med = statistics.median(s)
        print(f"   {name:28s} {med:9.1f} images/s  x{med / base:5.3f} of plain   "
              f"{peak_text(peaks[name], device)}   set-up+warm-up {setup_s[name]:6.1f} s")  # fmt: skip
    if installed("lightning"):
        secs, peak = lightning_speed(resnet50(), batch, steps, args.repeats, device, args.precision)
        med = statistics.median(steps * bs / s for s in secs)
        print(f"   {'Lightning Trainer (per epoch)':28s} {med:9.1f} images/s  x{med / base:5.3f} of plain   "
              f"{peak_text(peak, device)}")  # fmt: skip
    else:
        print("   Lightning Trainer: not installed, skipped")
    if not installed("timm"):
        print("   timm: not installed, skipped")
    sides.clear()
    if device.type == "cuda":
        torch.cuda.empty_cache()


# ---------------------------------------------------------------- 2. the data path
def to_device_epoch(loader, device, tfm=None) -> float:
    """Images/s of one pass: each batch copied to the device (non-blocking, pinned) and, for
    dlf, augmented there; synchronised at the end."""
    n, t = 0, time.perf_counter()
    for b in loader:
        xb = b[0] if isinstance(b, tuple | list) else b
        xb = xb.to(device, non_blocking=True)
        if tfm is not None:
            xb = tfm((to_float(xb),))[0]
        n += xb.shape[0]
    sync(device)
    return n / (time.perf_counter() - t)


def data_path(args, device: torch.device) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        paths = make_pngs(tmp, args.images, args.size)
        made = time.perf_counter() - t
        t = time.perf_counter()
        cache = ImageCache.build(paths, args.size, tmp / "cache", progress=False)
        built = time.perf_counter() - t
        ours = ArrayLoader([image_column(cache.array)], np.arange(len(paths)), bs=args.bs,
                           shuffle=True, seed=0, pin_memory=device.type == "cuda")  # fmt: skip
        tfm = augment("auto")
        pillow = DataLoader(PillowPerItem(paths), batch_size=args.bs, shuffle=True,
                            num_workers=args.workers, pin_memory=device.type == "cuda",
                            persistent_workers=args.workers > 0)  # fmt: skip
        speeds = {
            "dlf cache + device augmentation": [],
            f"Pillow per item, {args.workers} workers": [],
        }
        for _ in range(args.data_epochs):
            speeds["dlf cache + device augmentation"].append(to_device_epoch(ours, device, tfm))
            speeds[f"Pillow per item, {args.workers} workers"].append(
                to_device_epoch(pillow, device)
            )
        del pillow
    print(f"2. data path: {len(paths)} PNGs of {args.size} px (made in {made:.1f} s; cache built "
          f"in {built:.1f} s, once), batch {args.bs}, {args.data_epochs} epochs alternated")  # fmt: skip
    base = None
    for name, s in reversed(speeds.items()):
        med = statistics.median(s)
        base = base or med
        print(f"   {name:36s} {med:9.1f} images/s  x{med / base:5.2f} of Pillow")


# ---------------------------------------------------------------- 3. data wait in a task run
def data_wait(args, device: torch.device) -> None:
    from dlf.tasks.aptos.task import AptosTask
    from dlf.tasks.base import TrainConfig
    from dlf.tasks.runner import build_training, synth

    task = AptosTask()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["DLF_HOME"] = str(Path(tmp) / "home")  # the task's cache, thrown away after
        data = synth(task, Path(tmp) / "aptos", args.task_images, seed=0)
        cfg = TrainConfig(task="aptos", data=str(data), epochs=args.task_epochs,
                          size=args.task_size, device=str(device))  # fmt: skip
        cfg.fill_defaults(task.defaults)
        quiet = lambda s: None  # noqa: E731
        seed_everything(cfg.seed)
        parts = build_training(task, cfg, data, quiet).parts
        parts.dls.to(device)
        learn = Learner(parts.model, parts.dls, parts.loss_func, metrics=parts.metrics,
                        precision=cfg.precision, logger=quiet)  # fmt: skip
        reset_peak(device)
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            learn.fit_one_cycle(cfg.epochs, cfg.lr)
    stats = learn.recorder.stats
    setting = learn.precision.name + (", channels_last" if learn.channels_last else "")
    print(f"3. data wait: aptos ({cfg.arch}, {cfg.size} px, batch {cfg.bs}, {setting}), "
          f"{args.task_images} generated images, {cfg.epochs} epochs, on {device}")  # fmt: skip
    for s in stats:
        print(f"   epoch {s['epoch']}: {s['items_per_second']:8.1f} images/s, "
              f"{100 * s['data_wait_share']:5.1f}% of training time waiting for data")  # fmt: skip
    print(f"   {peak_text(peak_gib(device), device)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes: check that every part runs")
    ap.add_argument("--device", default=None, help="default: cuda if there is one, else cpu")
    ap.add_argument("--precision", default="bf16")
    ap.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                    help="also time torch.compile'd sides (default: on a GPU)")  # fmt: skip
    args = ap.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    full = dict(bs=128, size=224, steps=30, warmup=8, repeats=3, images=4096, workers=8,
                data_epochs=3, task_images=600, task_epochs=3, task_size=128)  # fmt: skip
    smoke = dict(bs=2, size=32, steps=2, warmup=1, repeats=1, images=16, workers=2,
                 data_epochs=1, task_images=24, task_epochs=1, task_size=32)  # fmt: skip
    for k, v in (smoke if args.smoke else full).items():
        setattr(args, k, v)
    if args.compile is None:
        args.compile = device.type == "cuda"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"bench/gpu.py{' --smoke' if args.smoke else ''} on {device} ({name}), "
        f"torch {torch.__version__}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
    )
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    t = time.perf_counter()
    training_speed(args, device)
    data_path(args, device)
    data_wait(args, device)
    print(f"total {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
