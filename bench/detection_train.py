"""Detector training throughput: dlf's Learner against a plain PyTorch loop, same work.

Both train fcos_resnet18 (`dlf.models.detection`) with FCOSLoss (`dlf.train.detection`) and
SGD (momentum 0.9) from the same weights (seed 0) on the same batches: `--steps` named
batches {"image", "boxes", "box_labels"} of random rectangles on noise, made once before
timing. (a) is the loop a tutorial writes: forward, loss, backward, step, zero_grad. (b) is
`Learner.fit(1)` on those batches (default callbacks: recorder and progress bar), fp32 in
both so the arithmetic is the same. Runs alternate a, b, a, b, ...; figures are medians of
images/s, and the ratio is dlf's over plain's (1.0 = the Learner costs nothing).

    python bench/detection_train.py [--size 128] [--bs 8] [--steps 8] [--repeats 5]
"""

import argparse
import contextlib
import io
import statistics
import time

import torch

from dlf.data.loaders import DataLoaders
from dlf.models import create_model
from dlf.train.detection import FCOSLoss
from dlf.train.learner import Learner

COLOURS = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1], [0.1, 0.1, 0.9], [0.9, 0.9, 0.1]])


def make_batches(steps: int, bs: int, size: int, max_boxes: int = 6) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(steps):
        images = torch.rand(bs, 3, size, size, generator=g) * 0.6
        boxes, labels = torch.zeros(bs, max_boxes, 4), torch.full((bs, max_boxes), -1)
        for i in range(bs):
            for j in range(int(torch.randint(1, max_boxes + 1, (1,), generator=g))):
                w, h = torch.randint(size // 10, size // 2, (2,), generator=g).tolist()
                x = int(torch.randint(0, size - w, (1,), generator=g))
                y = int(torch.randint(0, size - h, (1,), generator=g))
                c = int(torch.randint(0, len(COLOURS), (1,), generator=g))
                images[i, :, y : y + h, x : x + w] = COLOURS[c][:, None, None]
                boxes[i, j], labels[i, j] = torch.tensor([x, y, x + w, y + h]), c
        batches.append({"image": images, "boxes": boxes, "box_labels": labels})
    return batches


def model():
    torch.manual_seed(0)
    return create_model("fcos_resnet18", num_classes=len(COLOURS))


def sgd(params, lr=0.01):
    return torch.optim.SGD(params, lr=lr, momentum=0.9)


def run_plain(batches) -> float:
    net, loss_func = model(), FCOSLoss()
    opt = sgd(net.parameters())
    net.train()
    t = time.perf_counter()
    for b in batches:
        loss = loss_func(net(b["image"]), b["boxes"], b["box_labels"])
        loss.backward()
        opt.step()
        opt.zero_grad()
    return time.perf_counter() - t


def run_dlf(batches) -> float:
    dls = DataLoaders(batches, None, device="cpu")  # batches are named: image -> model
    learn = Learner(model(), dls, FCOSLoss(), opt_func=sgd, precision="fp32", logger=lambda s: None)
    t = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        learn.fit(1, 0.01)
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    batches = make_batches(args.steps, args.bs, args.size)
    runners = {"plain": run_plain, "dlf": run_dlf}
    for fn in runners.values():  # warm-up: first-call costs hit no one
        fn(batches[:1])
    images = args.steps * args.bs
    rates = {k: [] for k in runners}
    for _ in range(args.repeats):
        for name, fn in runners.items():
            rates[name].append(images / fn(batches))
    print(f"detection training: fcos_resnet18, {args.size} px, batch {args.bs}, {args.steps} "
          f"steps, CPU fp32, {torch.get_num_threads()} threads, median of {args.repeats} "
          f"alternating runs")  # fmt: skip
    base = statistics.median(rates["plain"])
    for name, rs in rates.items():
        med = statistics.median(rs)
        runs = " ".join(f"{r:.2f}" for r in rs)
        print(f"  {name:6s} {med:8.2f} images/s   ratio to plain {med / base:.3f}   (runs: {runs})")


if __name__ == "__main__":
    main()
