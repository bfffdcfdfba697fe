"""The new backbones' training step: dlf.Learner against the same model in a plain PyTorch loop.

For each model (DenseNet-121 and EfficientNet-B0 by default, any registered name with
--models), the same weights (seed 0), data, SGD and steps are trained by (a) a plain loop
(forward, cross entropy, backward, step, zero_grad) and (b) `dlf.Learner.fit(1)` with its
default callbacks (recorder on, progress bar on), both in the same precision and memory
format (fp32, contiguous, unless --precision says otherwise: the plain loop then does what
the Learner does, autocast and channels_last). Runs alternate a, b, a, b, ... so drift hits
both alike; the script prints the median images/s of each and the ratio dlf / plain.

Then, on any device, the memory of a training step's activations per image at 224 px: the
tensors autograd keeps for the backward pass (counted with saved_tensors_hooks), for the
new backbones beside ResNet-50, the figure behind DenseNet's memory note. On a GPU it also
prints each model's peak memory per image in the timed step (torch.cuda.max_memory_allocated).

    python bench/backbones.py                                   # CPU, 64 px, batch 16
    python bench/backbones.py --models densenet121 efficientnet_b0 resnet50 --size 128
    python bench/backbones.py --threads 1                       # steadier on a shared CPU
    python bench/backbones.py --steps 2 --repeats 1 --size 32   # smoke run
"""

import argparse
import contextlib
import io
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from dlf.core import resolve_precision
from dlf.models import create_model


def make_loader(steps: int, bs: int, size: int, classes: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(steps * bs, 3, size, size, generator=g)
    y = torch.randint(0, classes, (steps * bs,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=False)


def sgd(params, lr=0.01):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_plain(name: str, loader, device, precision: str, classes: int) -> float:
    p = resolve_precision(precision, device)
    torch.manual_seed(0)
    model = create_model(name, num_classes=classes).to(device)
    fmt = torch.channels_last if p.autocast else torch.contiguous_format  # the Learner's rule
    model = model.to(memory_format=fmt).train()
    opt = sgd(model.parameters())
    scaler = torch.amp.GradScaler(device.type) if p.needs_scaler else None
    sync(device)
    t = time.perf_counter()
    for x, y in loader:
        x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
        y = y.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=p.autocast_dtype, enabled=p.autocast):
            loss = F.cross_entropy(model(x), y)
        if scaler is None:
            loss.backward()
            opt.step()
        else:
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
        opt.zero_grad()
    sync(device)
    return time.perf_counter() - t


def run_dlf(name: str, loader, device, precision: str, classes: int) -> float:
    import dlf
    from dlf.train.callbacks import ProgressCallback

    torch.manual_seed(0)
    model = create_model(name, num_classes=classes)
    learn = dlf.Learner(model, dlf.DataLoaders(loader, None, device=device), F.cross_entropy,
                        opt_func=sgd, precision=precision, logger=lambda s: None)  # fmt: skip
    learn.cb(ProgressCallback).bar = True  # the bar on, as in a terminal
    sync(device)
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        learn.fit(1, 0.01)
    sync(device)
    return time.perf_counter() - t


def saved_activations_per_image(name: str, size: int, bs: int = 2) -> float:
    """MiB per image of the tensors autograd keeps for the backward pass of one training
    forward in fp32 (distinct storages, counted once): the activation memory of a step, on
    any device. This is what grows with the square of a dense block's length."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=10).train()
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        if t.device.type != "meta":
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(torch.randn(bs, 3, size, size))
    activations = sum(n for ptr, n in storages.items() if ptr not in params)  # weights are not
    return activations / 2**20 / bs


def peak_memory_per_image(name: str, loader, device, precision: str, classes: int) -> float:
    """MiB of GPU memory at the peak of a plain training epoch, per image of a batch."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    run_plain(name, loader, device, precision, classes)
    return torch.cuda.max_memory_allocated(device) / 2**20 / loader.batch_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=["densenet121", "efficientnet_b0"])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--bs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=10, help="training steps per run")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--precision", default="fp32", help="fp32, bf16, fp16 or auto (both sides)")
    ap.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads (default torch's; 1 is steadier on a shared machine)")  # fmt: skip
    ap.add_argument("--memory-size", type=int, default=224,
                    help="input size of the saved-activation count (0: skip it)")  # fmt: skip
    ap.add_argument("--memory-models", nargs="+", default=["resnet50", "densenet121",
                    "densenet161", "efficientnet_b0", "efficientnet_b4"])  # fmt: skip
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    loader = make_loader(args.steps, args.bs, args.size, args.classes)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"CPU {torch.get_num_threads()} threads"
    )
    print(f"backbones: training step, {args.size} px, batch {args.bs}, {args.steps} steps, SGD, "
          f"{args.precision}, {where}, median of {args.repeats} alternating runs")  # fmt: skip
    runners = {"plain": run_plain, "dlf": run_dlf}
    for name in args.models:
        for fn in runners.values():  # warm-up: first-call costs (allocator, cudnn) hit no one
            fn(name, loader, device, args.precision, args.classes)
        times = {k: [] for k in runners}
        for _ in range(args.repeats):
            for k, fn in runners.items():
                times[k].append(fn(name, loader, device, args.precision, args.classes))
        images = args.steps * args.bs
        plain = images / statistics.median(times["plain"])
        ours = images / statistics.median(times["dlf"])
        line = (f"  {name:18s} plain {plain:8.1f} img/s   dlf {ours:8.1f} img/s   "
                f"ratio dlf/plain {ours / plain:.3f}")  # fmt: skip
        if device.type == "cuda":
            mib = peak_memory_per_image(name, loader, device, args.precision, args.classes)
            line += f"   peak {mib:.1f} MiB/image"
        print(line, flush=True)
    if args.memory_size:
        print(f"activations autograd keeps for backward, fp32, {args.memory_size} px, per image:")
        for name in args.memory_models:
            mib = saved_activations_per_image(name, args.memory_size)
            print(f"  {name:18s} {mib:8.1f} MiB", flush=True)


if __name__ == "__main__":
    main()
