"""The VRD evaluator on a submission of the real test set's size: about 100,000 images with
100 predicted triplets each (ten million triplets, a file of about 1.3 GB).

The truth keeps the real validation density (2.6 triplets per image): each benchmark image
copies the triplets of a random real validation image (../shared/real/oid-vrd-2019; random
triplets of the real classes when that folder is absent). Each image's 100 predictions are
a jittered copy of each truth triplet (IoU around the 0.5 threshold, so hits and misses)
plus triplets of the image's own labels with random boxes and relationships, so nearly
all are scored by the verified-label filter and the matching does real work.

Timed: `evaluate_vrd` (read the submission and the truth, score), median of --repeats.
Baseline, measured in the same run: the plain loop-by-loop reference of the tests
(tests/tasks/vrd/vrd_reference.py, written from the official evaluator's structure),
given rows already parsed, on the first --baseline-images images, extrapolated linearly
to all images (its work is per image, plus one sort); its figures are checked against
dlf's on that subset.

    python bench/vrd_eval.py                                   # the full size
    python bench/vrd_eval.py --images 2000 --baseline-images 200 --repeats 1   # smoke run
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from dlf.tasks.vrd.files import RELATIONSHIPS, Triplets, read_vrd, write_submission
from dlf.tasks.vrd.metric import evaluate_vrd, vrd_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from tasks.vrd.vrd_reference import reference_score

REAL_VALID = (
    Path(__file__).resolve().parents[2]
    / "shared/real/oid-vrd-2019/challenge-2019-validation-vrd.csv"
)


def source_truth(rng: np.random.Generator) -> Triplets:
    """The real validation triplets, or random ones of that shape when the file is absent."""
    if REAL_VALID.is_file():
        return read_vrd(REAL_VALID)
    n, images = 4000, 1500
    lo = rng.uniform(0, 0.7, (n, 2, 2))
    boxes = np.concatenate([lo, lo + rng.uniform(0.05, 0.3, (n, 2, 2))], axis=2)
    return Triplets.build(
        [f"v{i}" for i in rng.integers(0, images, n)],
        [f"/m/c{i}" for i in rng.integers(0, 57, n)],
        [f"/m/c{i}" for i in rng.integers(0, 57, n)],
        [RELATIONSHIPS[i] for i in rng.integers(0, 9, n)],
        boxes[:, 0],
        boxes[:, 1],
    )


def make_truth(src: Triplets, n_images: int, rng: np.random.Generator) -> Triplets:
    """n_images images, each a copy of a random source image's triplets."""
    by_image = np.argsort(src.image, kind="stable")
    starts = np.searchsorted(src.image[by_image], np.arange(len(src.image_ids) + 1))
    picked = rng.integers(0, len(src.image_ids), n_images)
    counts = starts[picked + 1] - starts[picked]
    rows = by_image[np.repeat(starts[picked], counts) + _ranks(counts)]
    out = src.take(rows)
    ids = np.array([f"{i:016x}" for i in range(n_images)])
    return Triplets(
        image_ids=ids, image=np.repeat(np.arange(n_images, dtype=np.int32), counts),
        label_names=out.label_names, label1=out.label1, label2=out.label2,
        relation=out.relation, box1=out.box1, box2=out.box2,
    )  # fmt: skip


def make_predictions(truth: Triplets, per_image: int, rng: np.random.Generator) -> Triplets:
    """per_image triplets for every truth image: a jittered copy of each truth triplet,
    the rest triplets of the image's own labels with random boxes and relationships."""
    n_images = len(truth.image_ids)
    n = n_images * per_image
    image = np.repeat(np.arange(n_images, dtype=np.int32), per_image)
    slot = np.tile(np.arange(per_image), n_images)
    # each image's truth triplets, to copy (the first slots) and to take labels from
    by_image = np.argsort(truth.image, kind="stable")
    starts = np.searchsorted(truth.image[by_image], np.arange(n_images + 1))
    counts = starts[1:] - starts[:-1]
    has = counts[image] > 0
    source = np.zeros(n, np.int64)
    source[has] = by_image[starts[image[has]] + slot[has] % counts[image[has]]]
    copy = has & (slot < counts[image])

    def jitter(box: np.ndarray) -> np.ndarray:
        size = np.maximum(box[:, 2:] - box[:, :2], 0.01)
        moved = box + rng.normal(0, 0.12, box.shape) * np.concatenate([size, size], axis=1)
        moved = np.clip(moved, 0, 1)
        return np.concatenate(
            [np.minimum(moved[:, :2], moved[:, 2:]), np.maximum(moved[:, :2], moved[:, 2:])], axis=1
        )

    def random_boxes(k: int) -> np.ndarray:
        lo = rng.uniform(0, 0.8, (k, 2))
        return np.concatenate([lo, np.minimum(lo + rng.uniform(0.02, 0.4, (k, 2)), 1)], axis=1)

    box1, box2 = random_boxes(n), random_boxes(n)
    box1[copy], box2[copy] = jitter(truth.box1[source[copy]]), jitter(truth.box2[source[copy]])
    label1 = rng.integers(0, len(truth.label_names), n).astype(np.int32)
    label2 = rng.integers(0, len(truth.label_names), n).astype(np.int32)
    label1[has], label2[has] = truth.label1[source[has]], truth.label2[source[has]]
    swap = has & ~copy & (rng.random(n) < 0.5)  # other pairings of the image's labels
    label2[swap] = truth.label1[source[swap]]
    relation = rng.integers(0, len(RELATIONSHIPS), n).astype(np.int8)
    relation[copy] = truth.relation[source[copy]]
    confidence = rng.random(n) * np.where(copy, 1.0, 0.6)
    return Triplets(
        image_ids=truth.image_ids, image=image, label_names=truth.label_names,
        label1=label1, label2=label2, relation=relation, box1=box1.astype(np.float32),
        box2=box2.astype(np.float32), confidence=confidence,
    )  # fmt: skip


def _ranks(counts: np.ndarray) -> np.ndarray:
    """0..c-1 for each count c, concatenated."""
    return np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)


def plain_rows(t: Triplets, keep: np.ndarray) -> list[tuple]:
    names, rel = t.label_names, np.array(RELATIONSHIPS)
    rows = zip(
        t.image_ids[t.image[keep]].tolist(), names[t.label1[keep]].tolist(),
        names[t.label2[keep]].tolist(), rel[t.relation[keep]].tolist(),
        t.box1[keep].tolist(), t.box2[keep].tolist(),
    )  # fmt: skip
    if t.confidence is None:
        return list(rows)
    return [(c, *r) for c, r in zip(t.confidence[keep].tolist(), rows)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=100_000)
    ap.add_argument("--per-image", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-images", type=int, default=1000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    truth = make_truth(source_truth(rng), args.images, rng)
    preds = make_predictions(truth, args.per_image, rng)
    with tempfile.TemporaryDirectory() as tmp:
        truth_path, sub_path = Path(tmp) / "truth.csv", Path(tmp) / "submission.csv"
        _write_truth(truth_path, truth)
        t0 = time.perf_counter()
        write_submission(sub_path, preds)
        write_s = time.perf_counter() - t0
        size_mb = sub_path.stat().st_size / 1e6
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = evaluate_vrd(sub_path, truth_path)
            times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        in_memory = vrd_score(read_vrd(truth_path), None, preds)
        score_s = time.perf_counter() - t0

    # The baseline: the plain reference on the first images, rows already parsed.
    sub_images = min(args.baseline_images, args.images)
    t_keep = np.flatnonzero(truth.image < sub_images)
    p_keep = np.flatnonzero(preds.image < sub_images)
    t_rows, p_rows = plain_rows(truth, t_keep), plain_rows(preds, p_keep)
    t0 = time.perf_counter()
    want = reference_score(t_rows, p_rows)
    base_s = (time.perf_counter() - t0) * args.images / sub_images
    got = vrd_score(truth.take(t_keep), None, preds.take(p_keep))
    agree = abs(got.score - want["score"]) < 1e-9

    dlf_s = statistics.median(times)
    print(f"VRD evaluator: {args.images} images x {args.per_image} predicted triplets "
          f"({len(preds):,}; submission {size_mb:.0f} MB, written in {write_s:.1f} s), "
          f"{len(truth):,} truth triplets, {result.n_scored:,} scored")  # fmt: skip
    print(f"  score {result.score:.4f} (relationships mAP {result.map_relationships:.4f}, "
          f"Recall@50 {result.recall50:.4f}, phrases mAP {result.map_phrases:.4f}); "
          f"in memory {in_memory.score:.4f}")  # fmt: skip
    print(f"  dlf evaluate_vrd (read both files + score): median {dlf_s:.1f} s of {args.repeats} "
          f"({', '.join(f'{t:.1f}' for t in times)}); vrd_score alone {score_s:.1f} s")  # fmt: skip
    print(f"  baseline, the plain reference (rows already parsed) on {sub_images} images, "
          f"extrapolated x{args.images / sub_images:.0f}: {base_s:.1f} s; agrees with dlf there: {agree}")  # fmt: skip
    print(f"  ratio: dlf is {base_s / dlf_s:.1f}x faster than the baseline")


def _write_truth(path: Path, t: Triplets) -> None:
    from dlf.data.table import write_table
    from dlf.tasks.vrd.files import VRD_HEADER

    b1, b2 = t.box1.tolist(), t.box2.tolist()
    names = t.label_names
    rows = (
        (t.image_ids[t.image[i]], names[t.label1[i]], names[t.label2[i]],
         *(f"{v:.6f}" for v in (b1[i][0], b1[i][2], b1[i][1], b1[i][3], b2[i][0], b2[i][2], b2[i][1], b2[i][3])),
         RELATIONSHIPS[t.relation[i]])
        for i in range(len(t))
    )  # fmt: skip
    write_table(path, VRD_HEADER, rows)


if __name__ == "__main__":
    main()
