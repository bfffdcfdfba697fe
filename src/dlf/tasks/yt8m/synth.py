"""A small YouTube-8M 2019 dataset in the real layout, written by dlf's own TFRecord writer:

    DIR/train/train0000.tfrecord ...      id, labels, rgb, audio
    DIR/validate/validate0000.tfrecord    + segment_labels, segment_start_times, segment_scores
    DIR/test/test0000.tfrecord            id, rgb, audio
    DIR/vocabulary.csv                    the real columns
    DIR/sample_submission.csv             Class,Segments: the rated classes
    DIR/test_labels.csv                   the test ratings, in the official label-cache form

The signal: each class has a signature, a sparse +-1 pattern over 96 of the 1,152 feature
dimensions; frames of the segments where a class is present carry it (amplitude 0.2 over
noise of 0.6 per dimension: one frame is ambiguous, five are not). A video is labelled with
the classes present somewhere in it, in about a third of its segments, so the video label
says little about which segment. Distractors: other segments of a video carry half the
signature of a class the video is not labelled with, and a fifth of the videos have no label
at all and only such half-strength signals. A rated segment of validate/test is rated for one
of its video's classes; about a third of the rated segments are positive, so ranking a
class's segments by anything known per video (its labels, its mean feature) stays near that
share, while a model that looks at the segment's own frames can do far better.
"""

import string
from pathlib import Path

import numpy as np

from dlf.data.table import write_table
from dlf.data.tfrecord import encode_sequence_example, write_records
from dlf.tasks.yt8m.files import (
    AUDIO,
    FEATURES,
    RGB,
    SEGMENT,
    SUBMISSION_HEADER,
    VOCAB_HEADER,
    quantize,
    segment_id,
)

N_CLASSES = 12  # the vocabulary
N_RATED = 8  # classes rated at segment level (listed in sample_submission.csv)
SIGNATURE_DIMS = 96
AMPLITUDE = 0.2
NOISE = 0.6
VIDEOS_PER_SHARD = 40
RATED_PER_VIDEO = 5


def _signatures(rng: np.random.Generator) -> np.ndarray:
    sig = np.zeros((N_CLASSES, FEATURES), np.float32)
    for c in range(N_CLASSES):
        dims = rng.choice(FEATURES, SIGNATURE_DIMS, replace=False)
        sig[c, dims] = rng.choice([-1.0, 1.0], SIGNATURE_DIMS)
    return sig


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    ids: set[str] = set()
    while len(ids) < n:
        ids.add("".join(rng.choice(alphabet, 4)))
    return sorted(ids, key=lambda _: rng.random())


def _video(rng, sig, labelled: bool):
    """(uint8 frames T x 1152, labels, {class: positive segment indices})."""
    n_frames = int(rng.integers(4, 9)) * SEGMENT + int(rng.integers(0, SEGMENT))  # 20..44
    n_seg = n_frames // SEGMENT
    x = rng.normal(0.0, NOISE, (n_frames, FEATURES)).astype(np.float32)
    present: dict[int, np.ndarray] = {}
    if labelled:
        # rated classes are the common ones, as in the real data
        n_labels = 1 + int(rng.random() < 0.3)
        pool = np.arange(N_CLASSES)
        p = np.where(pool < N_RATED, 3.0, 1.0)
        for c in rng.choice(pool, n_labels, replace=False, p=p / p.sum()):
            k = max(1, round(n_seg * rng.uniform(0.2, 0.45)))
            start = int(rng.integers(0, n_seg - k + 1))
            present[int(c)] = np.arange(start, start + k)
            for s in present[int(c)]:
                x[s * SEGMENT : (s + 1) * SEGMENT] += AMPLITUDE * sig[c]
    # distractors: half-strength signatures of classes the video is not labelled with
    others = [c for c in range(N_CLASSES) if c not in present]
    for s in range(n_seg):
        if rng.random() < 0.3:
            c = int(rng.choice(others))
            x[s * SEGMENT : (s + 1) * SEGMENT] += 0.5 * AMPLITUDE * sig[c]
    return quantize(x), np.array(sorted(present), np.int64), present


def _ratings(rng, present: dict, n_seg: int) -> tuple[list, list, list]:
    """Five rated segments for one of the video's rated classes: 1-2 positives, the rest
    negatives (fewer if the video is short)."""
    rated = [c for c in present if c < N_RATED]
    if not rated:
        return [], [], []
    c = int(rng.choice(rated))
    pos = list(present[c])
    neg = [s for s in range(n_seg) if s not in pos]
    k_pos = min(len(pos), int(rng.integers(1, 3)))
    chosen_pos = list(rng.choice(pos, k_pos, replace=False))
    chosen_neg = list(rng.choice(neg, min(len(neg), RATED_PER_VIDEO - k_pos), replace=False))
    segs = sorted(chosen_pos + chosen_neg)
    return [c] * len(segs), [int(s) * SEGMENT for s in segs], [float(s in pos) for s in segs]


def _write_split(folder: Path, split: str, rng, sig, n: int, ids: list[str]) -> list[tuple]:
    (folder / split).mkdir(parents=True, exist_ok=True)
    records, rated_rows = [], []
    for vid in ids[:n]:
        frames, labels, present = _video(rng, sig, labelled=rng.random() >= 0.2)
        ctx: dict = {"id": [vid.encode()]}
        if split != "test":
            ctx["labels"] = labels
        cls, starts, scores = _ratings(rng, present, len(frames) // SEGMENT)
        if split == "validate":
            ctx["segment_labels"] = np.array(cls, np.int64)
            ctx["segment_start_times"] = np.array(starts, np.int64)
            ctx["segment_scores"] = np.array(scores, np.float32)
        rated_rows += [(segment_id(vid, s), c, v) for c, s, v in zip(cls, starts, scores)]
        lists = {"rgb": [[f[:RGB].tobytes()] for f in frames],
                 "audio": [[f[RGB:RGB + AUDIO].tobytes()] for f in frames]}  # fmt: skip
        records.append(encode_sequence_example(ctx, lists))
    for i in range(0, len(records), VIDEOS_PER_SHARD):
        write_records(folder / split / f"{split}{i // VIDEOS_PER_SHARD:04d}.tfrecord",
                      records[i : i + VIDEOS_PER_SHARD])  # fmt: skip
    return rated_rows


def synth_yt8m(folder: Path, n: int = 240, seed: int = 0) -> None:
    """`n` training videos, n/2 validate, n/4 test, in the real layout (see the module)."""
    rng = np.random.default_rng(seed)
    sig = _signatures(rng)
    counts = {"train": n, "validate": max(8, n // 2), "test": max(4, n // 4)}
    ids = _video_ids(rng, sum(counts.values()))
    start = 0
    test_rows = []
    for split, k in counts.items():
        rows = _write_split(folder, split, rng, sig, k, ids[start : start + k])
        start += k
        if split == "test":
            test_rows = rows
    vocab = [(c, int(rng.integers(100, 5000)), f"/m/0syn{c:03d}", f"Class {c}",
              f"https://en.wikipedia.org/wiki/Class_{c}", "Synthetic", "", "",
              f"Synthetic class {c}") for c in range(N_CLASSES)]  # fmt: skip
    write_table(folder / "vocabulary.csv", VOCAB_HEADER, vocab)
    examples = " ".join(s for s, _, _ in test_rows[:3])
    write_table(folder / "sample_submission.csv", SUBMISSION_HEADER,
                [(c, examples) for c in range(N_RATED)])  # fmt: skip
    (folder / "test_labels.csv").write_text("".join(f"{s},{c},{v:g}\n" for s, c, v in test_rows))


__all__ = ["synth_yt8m"]
