"""How fast is dlf's Open Images 2019 detection metric at the real validation set's size?

Generates, in a temporary folder, truth and a submission the size of the challenge's
validation set (41,620 images, 500 classes with a 4-level hierarchy, ~7 boxes and ~9
verified image labels per image, ~48 detections per image: about 2 million), then times
(a) dlf: reading the five files and scoring (`evaluate_oid`), median of --repeats runs;
(b) the baseline: the plain loop-per-image-and-class reference written from the official
    evaluator's structure (tests/tasks/oid/reference.py), scoring only (no file reading),
    on a random subset of --baseline-images images, extrapolated per image to all images.
The official evaluator itself (TensorFlow + pandas) is not installed here; the reference
follows its loops (every image visits all 500 classes twice), so it stands in for it.
It also checks that dlf and the reference agree exactly on the subset. Usage:
    python bench/oid_eval.py [--images 41620] [--repeats 3] [--baseline-images 400]
"""

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the reference lives with the tests

from dlf.tasks.oid.files import (  # noqa: E402
    Boxes,
    Detections,
    ImageLabels,
    read_boxes,
    read_classes,
    read_hierarchy,
    read_image_labels,
    read_submission,
)
from dlf.tasks.oid.metric import evaluate_oid, oid_map  # noqa: E402
from tasks.oid.reference import reference_map  # noqa: E402

N_CLASSES = 500


def make_hierarchy(rng: np.random.Generator, names: list[str]) -> dict:
    """A root, then each class under the root or under an earlier class (depth <= 4)."""
    children: dict[int, list[int]] = {}
    depth = np.zeros(len(names), dtype=int)
    for c in range(len(names)):
        if c >= 20 and rng.random() < 0.7:
            p = int(rng.integers(0, min(c, 150)))
            if depth[p] < 3:
                children.setdefault(p, []).append(c)
                depth[c] = depth[p] + 1
                continue
        children.setdefault(-1, []).append(c)

    def node(c: int) -> dict:
        out: dict = {"LabelName": names[c] if c >= 0 else "/m/0bl9f"}
        if children.get(c):
            out["Subcategory"] = [node(k) for k in children[c]]
        return out

    return node(-1)


def generate(folder: Path, n_images: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    names = [f"/m/0{i:05x}" for i in range(N_CLASSES)]
    files = {k: folder / f for k, f in [("classes", "classes.csv"), ("hierarchy", "h.json"),
             ("boxes", "boxes.csv"), ("labels", "labels.csv"), ("pred", "sub.csv")]}  # fmt: skip
    files["classes"].write_text("".join(f"{n},Class {i}\n" for i, n in enumerate(names)))
    files["hierarchy"].write_text(json.dumps(make_hierarchy(rng, names)))
    ids = [f"{x:016x}" for x in rng.integers(0, 2**63, n_images)]
    popular = rng.zipf(1.3, 50_000) % N_CLASSES  # a few classes are everywhere

    box_lines, label_lines, sub_lines = [], [], []
    for image_id in ids:
        k = int(rng.poisson(6.3)) + 1
        cls = rng.choice(popular, k)
        xy = rng.random((k, 2)) * 0.65
        wh = 0.05 + rng.random((k, 2)) * 0.3
        group = (rng.random(k) < 0.08).astype(int)
        for c, (x, y), (w, h), g in zip(cls, xy, wh, group):
            box_lines.append(f"{image_id},xclick,{names[c]},1,{x:.6f},{x + w:.6f},{y:.6f},"
                             f"{y + h:.6f},0,0,{g},0,0\n")  # fmt: skip
        for c in set(cls.tolist()) | set(rng.choice(popular, 5).tolist()):
            label_lines.append(f"{image_id},verification,{names[c]},{int(rng.random() < 0.7)}\n")
        # detections: jittered truth boxes (some with the wrong class), plus clutter
        n = int(rng.poisson(48))
        src = rng.integers(0, k, n)
        near = rng.random(n) < 0.5
        dx = np.where(near, xy[src, 0] + rng.normal(0, 0.03, n), rng.random(n) * 0.8)
        dy = np.where(near, xy[src, 1] + rng.normal(0, 0.03, n), rng.random(n) * 0.8)
        dw = np.where(near, wh[src, 0], 0.05 + rng.random(n) * 0.3)
        dh = np.where(near, wh[src, 1], 0.05 + rng.random(n) * 0.3)
        dc = np.where(near & (rng.random(n) < 0.8), cls[src], rng.choice(popular, n))
        score = np.round(rng.random(n), 4)
        parts = [f"{names[c]} {s:.4f} {x:.5f} {y:.5f} {x + w:.5f} {y + h:.5f}"
                 for c, s, x, y, w, h in zip(dc, score, dx, dy, dw, dh)]  # fmt: skip
        sub_lines.append(f"{image_id},{' '.join(parts)}\n")
    files["boxes"].write_text(
        "ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,"
        "IsGroupOf,IsDepiction,IsInside\n" + "".join(box_lines)
    )
    files["labels"].write_text("ImageID,Source,LabelName,Confidence\n" + "".join(label_lines))
    files["pred"].write_text("ImageId,PredictionString\n" + "".join(sub_lines))
    return files


def subset(boxes: Boxes, labels: ImageLabels, dets: Detections, keep: set[str]):
    """The truth and detections of the images in `keep` only."""
    b = np.isin(boxes.image_ids, list(keep))
    lab = np.isin(labels.image_ids, list(keep))
    images = np.flatnonzero(np.isin(dets.image_ids, list(keep)))
    d = np.isin(dets.image, images)
    remap = np.full(len(dets.image_ids), -1)
    remap[images] = np.arange(len(images))
    return (
        Boxes(*(getattr(boxes, f)[b] for f in Boxes.__dataclass_fields__)),
        ImageLabels(*(getattr(labels, f)[lab] for f in ImageLabels.__dataclass_fields__)),
        Detections(
            dets.image_ids[images],
            remap[dets.image[d]],
            dets.labels[d],
            dets.scores[d],
            dets.boxes[d],
        ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=41_620)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--baseline-images", type=int, default=400)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        f = generate(Path(tmp), args.images)
        sizes = {k: f"{p.stat().st_size / 1e6:.0f} MB" for k, p in f.items()}
        print(f"generated in {time.perf_counter() - t:.0f} s: {sizes}")

        times, result = [], None
        for _ in range(args.repeats):
            t = time.perf_counter()
            result = evaluate_oid(f["pred"], f["boxes"], f["labels"], f["hierarchy"], f["classes"])
            times.append(time.perf_counter() - t)
        names = list(read_classes(f["classes"]))
        tree = read_hierarchy(f["hierarchy"], names)
        boxes, labels = read_boxes(f["boxes"], names), read_image_labels(f["labels"], names)
        dets = read_submission(f["pred"], names)
        t = time.perf_counter()
        oid_map(boxes, labels, dets, tree, len(names))
        scoring_only = time.perf_counter() - t
        print(f"{len(dets.image_ids)} images, {len(dets)} detections, {len(boxes)} boxes, "
              f"{len(labels)} image labels, {N_CLASSES} classes; mAP {result.map:.4f}")  # fmt: skip
        print(f"dlf read + score: median {statistics.median(times):.1f} s of "
              f"{[round(x, 1) for x in times]} (scoring alone {scoring_only:.1f} s)")  # fmt: skip

        rng = np.random.default_rng(1)
        keep = set(rng.choice(dets.image_ids, args.baseline_images, replace=False).tolist())
        sb, sl, sd = subset(boxes, labels, dets, keep)
        t = time.perf_counter()
        ref, ref_ap, _ = reference_map(sb, sl, sd, tree.ancestors, tree.descendants, N_CLASSES)
        base = time.perf_counter() - t
        mine = oid_map(sb, sl, sd, tree, N_CLASSES)
        agree = np.array_equal(mine.ap, ref_ap, equal_nan=True)
        per_image = base / len(keep)
        full = per_image * len(dets.image_ids)
        print(
            f"baseline (plain reference, scoring only) on {len(keep)} images: {base:.1f} s, "
            f"{per_image * 1e3:.0f} ms per image -> extrapolated to all images: {full:.0f} s"
        )
        print(f"dlf and the reference agree exactly on the subset: {agree} "
              f"(mAP {mine.map:.6f} vs {ref:.6f})")  # fmt: skip
        print(
            f"ratio: dlf (read + score) is {full / statistics.median(times):.0f}x faster than "
            "the extrapolated baseline (which does not even read the files)"
        )


if __name__ == "__main__":
    main()
