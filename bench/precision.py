"""Training throughput by precision and memory format, with the loss it reaches.

ResNet-18 (10 classes, cross entropy) and the APTOS model (as `dlf.tasks.aptos` builds it:
resnet18 with a one-number regression head, smooth L1 on the grade) at each size, batch 32,
SGD, on the CPU, in four configurations:

    fp32   fp32 + channels_last   bf16 autocast   bf16 autocast + channels_last

Every run starts from the same weights (seed 0) on the same fixed, learnable batches and
trains `--steps` steps; images/s counts the steps after the first `--warmup`, and the final
loss (mean of the last 3 steps) shows whether a faster configuration still trains. Runs
alternate the configurations (fp32, fp32+cl, bf16, bf16+cl, fp32, ...) so drift hits all
alike; figures are medians. The script also names what `--precision auto` picks here
(`dlf.core.resolve_precision` plus the Learner's channels_last rule).

    python bench/precision.py                                  # 128 and 224 px
    python bench/precision.py --sizes 32 --steps 4 --repeats 1 # smoke run
"""

import argparse
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from dlf.core import resolve_precision
from dlf.models import create_model
from dlf.tasks.aptos.task import AptosTask, grade_loss
from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import context
from dlf.train.learner import has_conv

CONFIGS = {  # name: (autocast dtype or None, channels_last)
    "fp32": (None, False),
    "fp32+cl": (None, True),
    "bf16": (torch.bfloat16, False),
    "bf16+cl": (torch.bfloat16, True),
}


def resnet18_cls():
    return create_model("resnet18", num_classes=10), F.cross_entropy


def aptos_model():
    task = AptosTask()
    cfg = TrainConfig(task="aptos").fill_defaults(task.defaults)
    return task.model(context(task, cfg, Path("."), print)), grade_loss


MODELS = {"resnet18": resnet18_cls, "aptos": aptos_model}


def make_batches(kind: str, n: int, bs: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Fixed batches a model can learn from: noise plus a per-class colour, so the loss
    falls within a few steps and a configuration that breaks training stands out."""
    g = torch.Generator().manual_seed(1)
    n_cls = 10 if kind == "resnet18" else 5
    tint = torch.randn(n_cls, 3, 1, 1, generator=g)
    out = []
    for _ in range(n):
        y = torch.randint(0, n_cls, (bs,), generator=g)
        x = torch.randn(bs, 3, size, size, generator=g) + tint[y]
        out.append((x, y if kind == "resnet18" else y.float()))
    return out


def train_run(kind: str, batches, steps: int, warmup: int, cfg: str) -> tuple[float, float]:
    """One run from fresh weights: (images per second after warm-up, final loss)."""
    dtype, channels_last = CONFIGS[cfg]
    torch.manual_seed(0)
    model, loss_func = MODELS[kind]()
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    losses = []
    for i in range(steps):
        if i == warmup:
            t0 = time.perf_counter()
        x, y = batches[i % len(batches)]
        x = x.contiguous(memory_format=fmt)
        with torch.autocast("cpu", dtype=dtype, enabled=dtype is not None):
            loss = loss_func(model(x), y)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.detach())
    seconds = time.perf_counter() - t0
    final = torch.stack(losses[-3:]).float().mean().item()
    return (steps - warmup) * x.shape[0] / seconds, final


def auto_choice(kind: str) -> str:
    p = resolve_precision("auto", "cpu")
    model, _ = MODELS[kind]()
    cl = p.autocast and has_conv(model)  # the Learner's rule (channels_last=None)
    return ("bf16" if p.autocast else "fp32") + ("+cl" if cl else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--sizes", nargs="+", type=int, default=[128, 224])
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8, help="steps per run, warm-up included")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--data-batches", type=int, default=4, help="distinct fixed batches")
    args = ap.parse_args()
    print(f"precision: batch {args.bs}, SGD, {args.steps} steps per run ({args.warmup} warm-up), "
          f"CPU {torch.get_num_threads()} threads, median of {args.repeats} alternating runs")  # fmt: skip
    for kind in args.models:
        auto = auto_choice(kind)
        for size in args.sizes:
            batches = make_batches(kind, args.data_batches, args.bs, size)
            speed = {c: [] for c in CONFIGS}
            loss = {c: [] for c in CONFIGS}
            for _ in range(args.repeats):
                for cfg in CONFIGS:
                    s, l = train_run(kind, batches, args.steps, args.warmup, cfg)
                    speed[cfg].append(s)
                    loss[cfg].append(l)
            base = statistics.median(speed["fp32"])
            base_loss = statistics.median(loss["fp32"])
            print(f"{kind} {size}px:")
            for cfg in CONFIGS:
                s, l = statistics.median(speed[cfg]), statistics.median(loss[cfg])
                mark = "   <- --precision auto" if cfg == auto else ""
                print(f"  {cfg:8s} {s:7.1f} img/s  x{s / base:4.2f} vs fp32   final loss "
                      f"{l:.4f} ({(l / base_loss - 1) * 100:+.1f}% vs fp32){mark}")  # fmt: skip
    print(f"--precision auto on this CPU: {auto}")


if __name__ == "__main__":
    main()
