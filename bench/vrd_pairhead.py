"""The VRD pair head's inference time per image (dlf.tasks.vrd.model.VrdModel).

One image's detections (`--boxes` best boxes, 20 by default: `max_boxes`) become every
ordered pair scored by the relationship head, every box by the attribute head, and the
best 100 triplets are kept. Three ways, on the same random P3 features and boxes:

- dlf: `VrdModel._image_triplets`, all B*(B-1) pairs in one batched call of each head
  (one grid_sample for the union boxes);
- per-pair loop: the heads called once per pair and once per box, as a plain
  implementation would (the fast test's reference), then the same top-100;
- prior only: `prior_predictions` on the same boxes (no pixels: the baseline's path).

Also the whole model per image at the default 160 px, batch 16 (backbone, FPN, detection
head, decoding and the heads) against the detector alone, to give the heads' share. The
per-pair loop's rows are checked equal to dlf's before timing. Runs alternate the methods;
figures are medians over `--repeats`; ratios are each method's time over dlf's.

    python bench/vrd_pairhead.py [--boxes 20] [--repeats 7] [--threads 1]
"""

import argparse
import itertools
import statistics
import time

import numpy as np
import torch

from dlf.models import create_model
from dlf.tasks.vrd.files import IS, RELATIONSHIPS
from dlf.tasks.vrd.model import VrdModel
from dlf.tasks.vrd.prior import FrequencyPrior, prior_predictions

N_CLASSES, N_ATTRIBUTES, SIZE = 57, 5, 160


def random_prior(seed: int = 0) -> np.ndarray:
    """About 330 allowed triplets (the real list's size) with random probabilities."""
    rng = np.random.default_rng(seed)
    labels = N_CLASSES + N_ATTRIBUTES
    p = np.zeros((labels, labels, len(RELATIONSHIPS)))
    pair_rel = [r for r in range(len(RELATIONSHIPS)) if r != IS]
    for _ in range(280):
        p[rng.integers(N_CLASSES), rng.integers(N_CLASSES), rng.choice(pair_rel)] = rng.uniform(
            0.05, 0.6
        )
    for _ in range(50):
        p[rng.integers(N_CLASSES), N_CLASSES + rng.integers(N_ATTRIBUTES), IS] = rng.uniform(
            0.05, 0.6
        )
    return p


def per_pair_loop(model: VrdModel, level, boxes, scores, labels, keep: int = 100) -> torch.Tensor:
    b, prior = boxes.shape[1], model.prior
    features = model.box_features(level, boxes)
    rows = []
    for s, o in itertools.permutations(range(b), 2):
        pr = prior[labels[0, s], labels[0, o]]
        if not (pr > 0).any():
            continue
        si, oi = torch.tensor([[s]]), torch.tensor([[o]])
        p = torch.sigmoid(model.relation(level, boxes, features, labels, si, oi, pr[None, None]))[
            0, 0
        ]
        for r in torch.nonzero(pr > 0).flatten().tolist():
            if r != IS:
                rows.append([float(scores[0, s] * scores[0, o] * p[r]), labels[0, s], labels[0, o], r,
                             *boxes[0, s].tolist(), *boxes[0, o].tolist()])  # fmt: skip
    for i in range(b):
        pr = prior[labels[0, i], N_CLASSES:, IS]
        if not (pr > 0).any():
            continue
        p = torch.sigmoid(
            model.attribute(features[:, i : i + 1], labels[:, i : i + 1], pr[None, None])
        )[0, 0]
        for a in torch.nonzero(pr > 0).flatten().tolist():
            rows.append([float(scores[0, i] * p[a]), labels[0, i], N_CLASSES + a, IS,
                         *boxes[0, i].tolist(), *boxes[0, i].tolist()])  # fmt: skip
    rows.sort(key=lambda r: -r[0])
    return torch.tensor([[float(x) for x in r] for r in rows[:keep]])


def timed(fn, repeats: int, store: list) -> None:
    t = time.perf_counter()
    fn()
    store.append(time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--boxes", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    prior = random_prior()
    detector = create_model("fcos_resnet18", num_classes=N_CLASSES, fpn_channels=128, head_depth=2)
    model = VrdModel(
        detector, prior, N_CLASSES, IS, SIZE, max_boxes=args.boxes, score_floor=0.0
    ).eval()
    for p in model.parameters():  # the heads' last layers start at zero: move them off it
        if p.dim() == 2:
            torch.nn.init.normal_(p, std=0.05)

    g = torch.Generator().manual_seed(1)
    b = args.boxes
    level = torch.randn(1, 128, SIZE // 8, SIZE // 8, generator=g)
    xy = torch.rand(1, b, 2, generator=g) * SIZE * 0.7
    boxes = torch.cat([xy, xy + 8 + torch.rand(1, b, 2, generator=g) * SIZE * 0.3], -1)
    scores = torch.rand(1, b, generator=g) * 0.9 + 0.1
    labels = torch.randint(N_CLASSES, (1, b), generator=g)
    names = [f"/m/c{i}" for i in range(N_CLASSES)] + [f"/m/a{i}" for i in range(N_ATTRIBUTES)]
    freq = FrequencyPrior(labels=tuple(names), probs=prior, counts=np.zeros(prior.shape, np.int64),
                          allowed=prior > 0, smoothing=float("nan"))  # fmt: skip
    image_boxes = {
        "img": ((boxes[0] / SIZE).numpy(), [names[i] for i in labels[0]], scores[0].numpy())
    }

    with torch.no_grad():
        fast = model._image_triplets(level, boxes, scores, labels)[0]
        slow = per_pair_loop(model, level, boxes, scores, labels)
        fast = fast[fast[:, 0] > 0]
        assert len(fast) == len(slow) and torch.allclose(fast[:, 0], slow[:, 0], rtol=1e-4), (
            "disagree"
        )
        images = torch.randn(16, 3, SIZE, SIZE, generator=g)
        methods = {
            "dlf pair head (batched pairs)": lambda: model._image_triplets(
                level, boxes, scores, labels
            ),
            "per-pair loop": lambda: per_pair_loop(model, level, boxes, scores, labels),
            "prior only (prior_predictions)": lambda: prior_predictions(
                image_boxes, freq, top=100, max_boxes=b
            ),
            "whole model, batch 16, per image": lambda: model(images),
            "detector alone, batch 16, per image": lambda: model.detector(images),
        }
        times = {k: [] for k in methods}
        for _ in range(args.repeats):
            for name, fn in methods.items():
                timed(fn, 1, times[name])
    base = statistics.median(times["dlf pair head (batched pairs)"])
    print(f"{b} boxes per image ({b * (b - 1)} ordered pairs), {args.threads} torch thread(s), "
          f"medians of {args.repeats}")  # fmt: skip
    for name, t in times.items():
        med = statistics.median(t) / (16 if "batch 16" in name else 1)
        ratio = "" if "batch 16" in name else f"  ({statistics.median(t) / base:.2f}x dlf)"
        print(f"{name:40s} {1000 * med:9.2f} ms{ratio}")


if __name__ == "__main__":
    main()
