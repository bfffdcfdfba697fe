"""Images/s and model FLOP/s of a ResNet-18 training step: dlf's Learner vs plain PyTorch.

Model FLOPs: the forward pass counted by `torch.utils.flop_counter.FlopCounterMode`, times 3
for training (forward + backward for inputs and weights). The machine's peak: a large
matrix multiply timed in fp32 and in bf16, in this same run.

1. Screen the plain-PyTorch configurations (fp32, fp32 + channels_last, bf16 autocast,
   bf16 autocast + channels_last) and keep the fastest.
2. Alternate that plain loop with `dlf.Learner` at its defaults (precision auto, default
   callbacks) on the same model, batches and SGD; medians of the alternating runs.

    python bench/mfu.py                                   # 128 px, batch 32
    python bench/mfu.py --size 32 --steps 3 --repeats 1   # smoke run
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

import dlf
from dlf.models import create_model

PLAIN = {  # name: (autocast dtype or None, channels_last)
    "fp32": (None, False),
    "fp32+cl": (None, True),
    "bf16": (torch.bfloat16, False),
    "bf16+cl": (torch.bfloat16, True),
}


def matmul_peak(dtype: torch.dtype, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an n x n matrix multiply (best of `reps`)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 / best


def train_flops(size: int, bs: int) -> float:
    """Forward FLOPs of one batch, times 3 for a training step."""
    model = create_model("resnet18", num_classes=10)
    with FlopCounterMode(display=False) as counter:
        model(torch.randn(bs, 3, size, size))
    return 3.0 * counter.get_total_flops()


def make_batches(n: int, bs: int, size: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(1)
    return [
        (torch.randn(bs, 3, size, size, generator=g), torch.randint(0, 10, (bs,), generator=g))
        for _ in range(n)
    ]


def sgd(params, lr=0.01):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


class Plain:
    """A hand-written loop in one configuration; `run` trains one pass over the batches."""

    def __init__(self, cfg: str) -> None:
        self.dtype, cl = PLAIN[cfg]
        self.fmt = torch.channels_last if cl else torch.contiguous_format
        torch.manual_seed(0)
        self.model = create_model("resnet18", num_classes=10).to(memory_format=self.fmt)
        self.opt = sgd(self.model.parameters())

    def run(self, batches) -> float:
        self.model.train()
        t = time.perf_counter()
        for x, y in batches:
            with torch.autocast("cpu", dtype=self.dtype, enabled=self.dtype is not None):
                loss = F.cross_entropy(self.model(x.contiguous(memory_format=self.fmt)), y)
            loss.backward()
            self.opt.step()
            self.opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t


class Dlf:
    """dlf.Learner at its defaults (precision auto, Recorder and progress callbacks)."""

    def __init__(self, batches) -> None:
        torch.manual_seed(0)
        dls = dlf.DataLoaders(batches, None, device="cpu")
        model = create_model("resnet18", num_classes=10)
        self.learn = dlf.Learner(model, dls, F.cross_entropy, opt_func=sgd, logger=lambda s: None)
        self.setting = self.learn.precision.name + ("+cl" if self.learn.channels_last else "")

    def run(self, batches) -> float:
        t = time.perf_counter()
        self.learn.fit(1, 0.01)
        return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--steps", type=int, default=8, help="steps per timed run")
    ap.add_argument("--repeats", type=int, default=5, help="alternating dlf/plain runs")
    ap.add_argument("--screen", type=int, default=2, help="alternating runs per plain config")
    args = ap.parse_args()
    batches = make_batches(args.steps, args.bs, args.size)
    flops = train_flops(args.size, args.bs)
    peaks = {"fp32": matmul_peak(torch.float32), "bf16": matmul_peak(torch.bfloat16)}

    loops = {cfg: Plain(cfg) for cfg in PLAIN}
    for loop in loops.values():
        loop.run(batches[:2])  # warm-up
    screen = {cfg: [] for cfg in PLAIN}
    for _ in range(args.screen):  # alternating, like the main comparison
        for cfg, loop in loops.items():
            screen[cfg].append(loop.run(batches))
    screen = {cfg: statistics.median(ts) for cfg, ts in screen.items()}
    fastest = min(screen, key=screen.get)
    del loops
    plain, ours = Plain(fastest), Dlf(batches)
    plain.run(batches[:2])
    ours.run(batches)  # warm-up (one epoch)
    times = {"plain": [], "dlf": []}
    for _ in range(args.repeats):
        times["plain"].append(plain.run(batches))
        times["dlf"].append(ours.run(batches))

    n_img = args.steps * args.bs
    print(f"mfu: ResNet-18 {args.size}px, batch {args.bs}, SGD, {args.steps} steps per run, "
          f"CPU {torch.get_num_threads()} threads, median of {args.repeats} alternating runs")  # fmt: skip
    print(f"  model FLOPs per training step (3 x forward): {flops / 1e9:.1f} GFLOP "
          f"({flops / args.bs / 1e9:.2f} GFLOP per image)")  # fmt: skip
    print(f"  matmul peak: fp32 {peaks['fp32'] / 1e9:.0f} GFLOP/s, bf16 {peaks['bf16'] / 1e9:.0f} GFLOP/s")  # fmt: skip
    print(f"  plain configurations (screening, median of {args.screen} alternating runs):")
    for cfg, s in screen.items():
        print(f"    {cfg:8s} {n_img / s:7.1f} img/s")
    for name, label in (("plain", f"plain {fastest}"), ("dlf", f"dlf Learner ({ours.setting})")):
        s = statistics.median(times[name])
        dtype = (fastest if name == "plain" else ours.setting).split("+")[0]
        fps = flops * args.steps / s
        print(f"  {label:28s} {n_img / s:7.1f} img/s  {fps / 1e9:6.1f} GFLOP/s  "
              f"{fps / peaks[dtype] * 100:5.1f}% of the {dtype} matmul peak")  # fmt: skip
    ratio = statistics.median(times["plain"]) / statistics.median(times["dlf"])
    print(f"  dlf / plain speed: {ratio:.3f} (target: at least 0.97)")


if __name__ == "__main__":
    main()
