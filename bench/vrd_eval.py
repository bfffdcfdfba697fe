"""The VRD evaluator on a submission of the real test set's size: about 100,000 images with
100 predicted triplets each (ten million triplets, a file of about 1.3 GB).

The truth keeps the real validation density (2.6 triplets per image): each benchmark image
copies the triplets of a random real validation image (../shared/real/oid-vrd-2019; random
triplets of the real classes when that folder is absent). Each image's 100 predictions are
a jittered copy of each truth triplet (IoU around the 0.5 threshold, so hits and misses)
plus triplets of the image's own labels with random boxes and relationships, so nearly
all are scored by the verified-label filter and the matching does real work.

Timed, median of --repeats: dlf reading both files (read_submission, read_vrd) and
scoring (vrd_score). Baseline, measured in the same run and alternating with dlf: plain
reading (csv rows, str.split, one float() per number, a tuple per triplet) and the plain
loop-by-loop reference of the tests (tests/tasks/vrd/vrd_reference.py, written from the
official evaluator's structure) on the first --baseline-images images, extrapolated
linearly to all images (its work is per image, plus one sort); its score on that subset
is checked against dlf's.

    python bench/vrd_eval.py                                   # the full size
    python bench/vrd_eval.py --images 2000 --baseline-images 200 --repeats 1   # smoke run
"""

import argparse
import csv
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from dlf.tasks.vrd.files import (
    RELATIONSHIPS,
    Triplets,
    read_submission,
    read_vrd,
    write_submission,
)
from dlf.tasks.vrd.labelmap import OFFICIAL_LABEL_IDS
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


def plain_read_submission(path: Path) -> list[tuple]:
    """The baseline's reading: csv rows, split, one float() per number, one tuple per triplet."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for image_id, text in reader:
            t = text.split()
            for k in range(0, len(t), 12):
                rows.append((
                    float(t[k]), image_id, t[k + 1], t[k + 6], t[k + 11],
                    tuple(float(v) for v in t[k + 2 : k + 6]),
                    tuple(float(v) for v in t[k + 7 : k + 11]),
                ))  # fmt: skip
    return rows


def plain_read_truth(path: Path) -> list[tuple]:
    rows = []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        for r in reader:
            x = [float(v) for v in r[3:11]]  # XMin1,XMax1,YMin1,YMax1,XMin2,...
            rows.append(
                (r[0], r[1], r[2], r[11], (x[0], x[2], x[1], x[3]), (x[4], x[6], x[5], x[7]))
            )
    return rows


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
    sub_images = min(args.baseline_images, args.images)
    scale = args.images / sub_images
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        _write_truth(tmp / "truth.csv", truth)
        t0 = time.perf_counter()
        write_submission(tmp / "sub.csv", preds)
        write_s = time.perf_counter() - t0
        size_mb = (tmp / "sub.csv").stat().st_size / 1e6
        # the baseline's subset: the first images, as files too
        t_keep = np.flatnonzero(truth.image < sub_images)
        p_keep = np.flatnonzero(preds.image < sub_images)
        _write_truth(tmp / "truth_part.csv", truth.take(t_keep))
        part = preds.take(p_keep)
        write_submission(tmp / "sub_part.csv", replace(part, image_ids=part.image_ids[:sub_images]))
        dlf, base = {"read": [], "score": []}, {"read": [], "score": []}
        for _ in range(args.repeats):  # alternate, so that drift in the machine's load hits both
            t0 = time.perf_counter()
            sub, truth_read = read_submission(tmp / "sub.csv"), read_vrd(tmp / "truth.csv")
            t1 = time.perf_counter()
            result = vrd_score(truth_read, None, sub)
            t2 = time.perf_counter()
            dlf["read"].append(t1 - t0)
            dlf["score"].append(t2 - t1)
            del sub, truth_read
            t0 = time.perf_counter()
            p_rows, t_rows = (
                plain_read_submission(tmp / "sub_part.csv"),
                plain_read_truth(tmp / "truth_part.csv"),
            )
            t1 = time.perf_counter()
            want = reference_score(t_rows, p_rows, label_ids=OFFICIAL_LABEL_IDS)
            t2 = time.perf_counter()
            base["read"].append((t1 - t0) * scale)
            base["score"].append((t2 - t1) * scale)
        same = evaluate_vrd(tmp / "sub_part.csv", tmp / "truth_part.csv")
    agree = abs(same.score - want["score"]) < 1e-9
    med = {
        k: {part: statistics.median(v) for part, v in d.items()}
        for k, d in (("dlf", dlf), ("base", base))
    }
    total = {k: med[k]["read"] + med[k]["score"] for k in med}
    load = os.getloadavg()[0]
    print(f"VRD evaluator: {args.images} images x {args.per_image} predicted triplets "
          f"({len(preds):,}; submission {size_mb:.0f} MB, written in {write_s:.1f} s), "
          f"{len(truth):,} truth triplets, {result.n_scored:,} scored; "
          f"{os.cpu_count()} CPUs, load average {load:.1f}")  # fmt: skip
    print(f"  score {result.score:.4f} (relationships mAP {result.map_relationships:.4f}, "
          f"Recall@50 {result.recall50:.4f}, phrases mAP {result.map_phrases:.4f})")  # fmt: skip
    print(f"  dlf (read_submission + read_vrd, then vrd_score), median of {args.repeats}: "
          f"{total['dlf']:.1f} s = read {med['dlf']['read']:.1f} s + score {med['dlf']['score']:.1f} s")  # fmt: skip
    print(f"  baseline, plain csv/float() reading + the plain reference of the tests, on the first "
          f"{sub_images} images, extrapolated x{scale:.0f}, median of {args.repeats}: "
          f"{total['base']:.1f} s = read {med['base']['read']:.1f} s + score {med['base']['score']:.1f} s; "
          f"same score as dlf on that subset: {agree}")  # fmt: skip
    print(f"  ratio baseline / dlf: {total['base'] / total['dlf']:.1f}x in all, "
          f"{med['base']['score'] / med['dlf']['score']:.1f}x scoring alone")  # fmt: skip


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
