"""A small YouTube-8M 2019 dataset in the real layout, written by dlf's own TFRecord writer:

    DIR/train/train0000.tfrecord ...      id, labels, rgb, audio
    DIR/validate/validate0000.tfrecord    + segment_labels, segment_start_times, segment_scores
    DIR/test/test0000.tfrecord            id, rgb, audio
    DIR/vocabulary.csv                    the real columns
    DIR/sample_submission.csv             Class,Segments: the rated classes
    DIR/test_labels.csv                   the test ratings, in the official label-cache form

The signal: each class has a signature, a sparse +-1 pattern over 64 rgb and 32 audio
dimensions; the frames of the segments where a class is present carry all of it (amplitude
0.2 over noise of 0.6 per dimension: one frame is ambiguous, five are not). A video is
labelled with the classes present somewhere in it, in about a third of its segments, so the
video label says little about which segment. Distractors: decoys, the rgb part alone at 2.5x
the amplitude ("looks like it, does not sound like it"), in other segments of the videos
labelled with the class (40% of them) and in the videos not labelled with it; a fifth of the
videos have no label at all. A rated segment of validate/test is rated for one of its
video's rated classes; about a third are positive. So ranking a class's segments by anything
known per video (its labels, its mean feature) stays near that share, a segment's own mean
feature against the class's mean feature ranks the loud decoys first, and a model must learn
that the sound decides.
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
RGB_DIMS, AUDIO_DIMS = 64, 48  # signature size in each modality
AMPLITUDE = 0.2
DECOY = 2.0  # a decoy's rgb amplitude, relative to a present class's
NOISE = 0.6
DECOY_CLASSES = 3  # classes whose decoys each video carries besides its labels
RATED_PER_VIDEO = 5


def _signatures(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(full signatures, their rgb parts alone): N_CLASSES x 1152 each."""
    sig = np.zeros((N_CLASSES, FEATURES), np.float32)
    for c in range(N_CLASSES):
        dims = np.concatenate([rng.choice(RGB, RGB_DIMS, replace=False),
                               RGB + rng.choice(AUDIO, AUDIO_DIMS, replace=False)])  # fmt: skip
        sig[c, dims] = rng.choice([-1.0, 1.0], len(dims))
    rgb_only = sig.copy()
    rgb_only[:, RGB:] = 0.0
    return sig, rgb_only


def _video_ids(rng: np.random.Generator, n: int) -> list[str]:
    alphabet = np.array(list(string.ascii_letters + string.digits))
    ids: set[str] = set()
    while len(ids) < n:
        ids.add("".join(rng.choice(alphabet, 4)))
    return sorted(ids, key=lambda _: rng.random())


def _video(rng, sig, labelled: bool):
    """(uint8 frames T x 1152, labels, {class: positive segment indices})."""
    full, rgb_only = sig
    n_frames = int(rng.integers(4, 9)) * SEGMENT + int(rng.integers(0, SEGMENT))  # 20..44
    n_seg = n_frames // SEGMENT
    x = rng.normal(0.0, NOISE, (n_frames, FEATURES)).astype(np.float32)

    def add(segment: int, pattern: np.ndarray, amplitude: float) -> None:
        x[segment * SEGMENT : (segment + 1) * SEGMENT] += amplitude * pattern

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
            for s in range(n_seg):
                if s in present[int(c)]:
                    add(s, full[c], AMPLITUDE)
                elif rng.random() < 0.4:
                    add(s, rgb_only[c], DECOY * AMPLITUDE)
    # decoys of classes the video is not labelled with: as common as in labelled videos,
    # so the rgb part alone does not tell the video label either
    others = [c for c in range(N_CLASSES) if c not in present]
    for c in rng.choice(others, DECOY_CLASSES, replace=False):
        for s in range(n_seg):
            if rng.random() < 0.4:
                add(s, rgb_only[c], DECOY * AMPLITUDE)
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


def _write_split(
    folder: Path, split: str, rng, sig, n: int, ids: list[str], per_shard: int
) -> list[tuple]:
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
    for i in range(0, len(records), per_shard):
        write_records(folder / split / f"{split}{i // per_shard:04d}.tfrecord",
                      records[i : i + per_shard])  # fmt: skip
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
        # shards of n/8 videos: several per split, as streaming needs
        rows = _write_split(folder, split, rng, sig, k, ids[start : start + k], max(4, n // 8))
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
