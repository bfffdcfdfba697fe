"""NMS: dlf's (a fixed point over the K x K overlap matrix, dlf.models.detection.nms) against
(a) the brute-force reference, greedy NMS as a plain Python loop over the boxes (the test
suite's reference), and (b) the usual PyTorch-only greedy loop: one step per kept box, each
suppressing the boxes that overlap it, on tensors. torchvision's compiled `batched_nms` is
timed too where it loads (it does not on this machine).

Boxes are jittered around a few hundred centres, as a detector's candidates are (many
overlaps), with `--classes` labels; NMS is per class at IoU 0.5. Every method's kept indices
are checked equal to the reference before timing. One torch thread by default: the loops
are single-threaded, and on a shared 2-core machine a second thread mostly waits. Runs alternate the methods; figures are
medians over `--repeats`, and the ratio is each method's time over dlf's.

    python bench/nms.py [--boxes 1000 4000] [--classes 1 80] [--repeats 7]
"""

import argparse
import statistics
import time

import torch

from dlf.models.detection import batched_nms, box_iou


def candidates(n: int, classes: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(max(1, n // 10), 2, generator=g) * 1000
    c = centres[torch.randint(len(centres), (n,), generator=g)] + torch.randn(n, 2, generator=g) * 8
    wh = 20 + torch.rand(n, 2, generator=g) * 60
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1)
    return boxes, torch.rand(n, generator=g), torch.randint(classes, (n,), generator=g)


def python_reference(boxes, scores, labels, thr):
    boxes, scores, labels = boxes.tolist(), scores.tolist(), labels.tolist()

    def iou(a, b):
        iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
        ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
        inter = iw * ih
        union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
        return inter / union if union > 0 else 0.0

    kept = []
    for i in sorted(range(len(scores)), key=lambda i: (-scores[i], i)):
        if all(labels[i] != labels[k] or iou(boxes[i], boxes[k]) <= thr for k in kept):
            kept.append(i)
    return torch.tensor(kept)


def torch_loop(boxes, scores, labels, thr):
    """Greedy NMS as pure-PyTorch code usually writes it: take the best remaining box, drop
    what it overlaps (same class), repeat."""
    order = torch.sort(scores, descending=True, stable=True).indices
    kept = []
    while order.numel():
        i = order[0]
        kept.append(int(i))
        rest = order[1:]
        iou = box_iou(boxes[i][None], boxes[rest])[0]
        order = rest[(iou <= thr) | (labels[rest] != labels[i])]
    return torch.tensor(kept)


def torchvision_nms():
    try:
        from torchvision.ops import batched_nms as tv

        tv(torch.zeros(1, 4), torch.zeros(1), torch.zeros(1, dtype=torch.long), 0.5)
        return lambda b, s, lab, thr: tv(b, s, lab, thr)
    except Exception as e:  # the compiled ops do not load here: say so and go on
        print(f"torchvision: skipped ({type(e).__name__}: {str(e).splitlines()[0][:80]})")
        return None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, nargs="+", default=[1000, 4000])
    ap.add_argument("--classes", type=int, nargs="+", default=[1, 80])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the loops use one)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    methods = {"dlf": batched_nms, "torch loop": torch_loop, "python reference": python_reference}
    tv = torchvision_nms()
    if tv is not None:
        methods["torchvision"] = tv
    print(f"NMS per class at IoU 0.5, CPU, {torch.get_num_threads()} threads, "
          f"median of {args.repeats} alternating runs")  # fmt: skip
    for n in args.boxes:
        for classes in args.classes:
            boxes, scores, labels = candidates(n, classes)
            expected = python_reference(boxes, scores, labels, 0.5)
            for name, fn in methods.items():  # correctness first, and a warm-up
                got = fn(boxes, scores, labels, 0.5)
                if name == "torchvision":  # it breaks score ties its own way; there are none
                    got = got.sort().values
                    same = torch.equal(got, expected.sort().values)
                else:
                    same = torch.equal(got, expected)
                assert same, f"{name} disagrees with the reference ({n} boxes, {classes} classes)"
            times = {k: [] for k in methods}
            for _ in range(args.repeats):
                for name, fn in methods.items():
                    t = time.perf_counter()
                    fn(boxes, scores, labels, 0.5)
                    times[name].append(time.perf_counter() - t)
            base = statistics.median(times["dlf"])
            print(f"  {n} boxes, {classes} classes, {len(expected)} kept:")
            for name, ts in times.items():
                med = statistics.median(ts)
                print(f"    {name:17s} {med * 1e3:9.2f} ms   {med / base:8.1f}x dlf's time")


if __name__ == "__main__":
    main()
