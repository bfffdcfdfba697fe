"""The YouTube-8M 2019 competition's files: frame-level TFRecord shards, vocabulary.csv,
sample_submission.csv and the `Class,Segments` submission.

A record is a `tf.train.SequenceExample`: context `id` (bytes), `labels` (int64, video
level) and, in validate, `segment_labels`, `segment_start_times` (seconds, multiples of 5)
and `segment_scores` (1 present, 0 rated absent); feature lists `rgb` (one 1,024-byte
string per frame, one frame per second) and `audio` (128 bytes per frame).
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlf.core.errors import DlfError
from dlf.data.table import read_table, write_table
from dlf.data.tfrecord import ReadStats, parse_sequence_example, read_records

RGB, AUDIO = 1024, 128  # bytes per frame
FEATURES = RGB + AUDIO
SEGMENT = 5  # seconds (= frames) per rated segment
MAX_FRAMES = 300
TOP_N = 100_000  # segment ids per class in a submission
VOCAB_HEADER = ("Index", "TrainVideoCount", "KnowledgeGraphId", "Name", "WikiUrl",
                "Vertical1", "Vertical2", "Vertical3", "WikiDescription")  # fmt: skip
SUBMISSION_HEADER = ("Class", "Segments")
SPLITS = ("train", "validate", "test")
_SEGMENT_ID = re.compile(r"([^\s:,]+):(\d+)")


def dequantize(frames: np.ndarray) -> np.ndarray:
    """uint8 features -> float32, as the official starter code: q * 4/255 + 4/512 - 2 (about
    [-2, 2]: each value at the middle of its 1/255 bin)."""
    return frames.astype(np.float32) * np.float32(4.0 / 255.0) + np.float32(4.0 / 512.0 - 2.0)


def quantize(values: np.ndarray) -> np.ndarray:
    """The inverse of `dequantize` (for writing synthetic frames)."""
    q = np.round((np.asarray(values, np.float64) + 2.0 - 4.0 / 512.0) * 255.0 / 4.0)
    return np.clip(q, 0, 255).astype(np.uint8)


@dataclass
class Video:
    """One record. frames: uint8 T x 1152 (rgb then audio), or None when not read;
    segments: (classes, start seconds, scores) of the rated segments, or None (no ratings)."""

    id: str
    labels: np.ndarray
    frames: np.ndarray | None
    segments: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _frames(steps: list, width: int, name: str, where: str) -> np.ndarray:
    for t, step in enumerate(steps):
        if not (isinstance(step, list) and len(step) == 1 and len(step[0]) == width):
            got = (
                f"{len(step[0])} bytes"
                if isinstance(step, list) and len(step) == 1
                else repr(step)[:40]
            )
            raise DlfError(
                f"{where}: frame {t} of {name!r} is {got}, expected one {width}-byte string; "
                "the shard is not YouTube-8M frame-level data"
            )
    return np.frombuffer(b"".join(s[0] for s in steps), np.uint8).reshape(len(steps), width)


def decode_video(record: bytes, where: str, frames: bool = True) -> Video:
    """A record as a `Video`; anything missing or malformed is one DlfError naming `where`
    (the shard and record index)."""
    ex = parse_sequence_example(record, where)
    vid = ex.context.get("id")
    if not (isinstance(vid, list) and len(vid) == 1):
        raise DlfError(f"{where}: no video 'id' in the record's context; not YouTube-8M data")
    video_id = vid[0].decode("utf-8", "replace")
    labels = ex.context.get("labels", np.zeros(0, np.int64))
    if isinstance(labels, list):
        labels = np.zeros(0, np.int64) if not labels else None
    if labels is None:
        raise DlfError(f"{where}: 'labels' is not an int64 list")
    segments = None
    if "segment_labels" in ex.context:
        seg = [
            ex.context.get(k) for k in ("segment_labels", "segment_start_times", "segment_scores")
        ]
        seg = [np.zeros(0) if isinstance(s, list) and not s else s for s in seg]
        if any(s is None or isinstance(s, list) for s in seg) or len({len(s) for s in seg}) != 1:
            raise DlfError(
                f"{where}: video {video_id}: segment_labels, segment_start_times and segment_scores "
                "must be number lists of one length"
            )
        cls, start, score = (
            seg[0].astype(np.int64),
            seg[1].astype(np.int64),
            seg[2].astype(np.float32),
        )
        bad = np.flatnonzero((start % SEGMENT != 0) | (start < 0))
        if bad.size:
            raise DlfError(
                f"{where}: video {video_id}: segment start time {int(start[bad[0]])} is not a "
                f"multiple of {SEGMENT} seconds; the ratings are malformed"
            )
        segments = (cls, start, score)
    out = None
    if frames:
        rgb, audio = ex.frames("rgb", RGB), ex.frames("audio", AUDIO)  # the fast path
        lists = ex.feature_lists if rgb is None or audio is None else {"rgb": 1, "audio": 1}
        if "rgb" not in lists:
            raise DlfError(f"{where}: video {video_id} has no 'rgb' frames; not frame-level data")
        if rgb is None:
            rgb = _frames(lists["rgb"], RGB, "rgb", where)  # says which frame is wrong
        if audio is None and "audio" in lists:
            audio = _frames(lists["audio"], AUDIO, "audio", where)
        if audio is None:
            audio = np.zeros((len(rgb), AUDIO), np.uint8) + 128  # dequantises to ~0
        if len(audio) != len(rgb):
            raise DlfError(
                f"{where}: video {video_id} has {len(rgb)} rgb frames but {len(audio)} audio frames"
            )
        out = np.concatenate([rgb, audio], axis=1)
    return Video(video_id, labels, out, segments)


def find_shards(folder: Path, split: str) -> list[Path]:
    """`split`'s shards: `folder/split/*.tfrecord`, else `folder/split*.tfrecord`, sorted."""
    folder = Path(folder)
    paths = sorted((folder / split).glob("*.tfrecord")) if (folder / split).is_dir() else []
    return paths or sorted(folder.glob(f"{split}*.tfrecord"))


def iter_videos(
    paths: Iterable[Path],
    frames: bool = True,
    skip_corrupt: bool = False,
    stats: ReadStats | None = None,
) -> Iterator[Video]:
    """The videos of the shards in order (see dlf.data.tfrecord.read_records for the errors)."""
    for path in paths:
        for i, record in enumerate(read_records(path, skip_corrupt=skip_corrupt, stats=stats)):
            yield decode_video(record, f"{path}: record {i}", frames)


def read_vocabulary(path: Path) -> dict[int, str]:
    """vocabulary.csv: {class index: name}."""
    _, rows = read_table(path, VOCAB_HEADER)
    vocab = {}
    for row in rows:
        try:
            vocab[int(row["Index"])] = row["Name"]
        except ValueError:
            raise DlfError(f"{row.where(path)}: Index is not an integer") from None
    return vocab


def read_submission_classes(path: Path) -> list[int]:
    """The classes of a `Class,Segments` file (sample_submission.csv: the rated 1,000)."""
    _, rows = read_table(path, SUBMISSION_HEADER)
    return [_class_of(row, path) for row in rows]


def _class_of(row, path) -> int:
    try:
        return int(row["Class"])
    except ValueError:
        raise DlfError(f"{row.where(path)}: Class is not an integer class index") from None


def segment_id(video_id: str, start: int) -> str:
    return f"{video_id}:{int(start)}"


def parse_segment_id(value: str, where: str) -> tuple[str, int]:
    """'<video id>:<start second>' -> (video id, start); a malformed one is one error line."""
    m = _SEGMENT_ID.fullmatch(value)
    if not m or int(m.group(2)) % SEGMENT:
        raise DlfError(
            f"{where}: segment id {value!r} is not '<video id>:<start second>' with a start "
            f"that is a multiple of {SEGMENT}; fix the submission"
        )
    return m.group(1), int(m.group(2))


def read_submission(path: Path, known: set[int] | None = None) -> dict[int, list[str]]:
    """A `Class,Segments` submission: {class: segment ids, best first}. A class outside
    `known`, a repeated class or segment, or a malformed segment id is one error line."""
    _, rows = read_table(path, SUBMISSION_HEADER, allow_empty=True)
    out: dict[int, list[str]] = {}
    for row in rows:
        cls = _class_of(row, path)
        if known is not None and cls not in known:
            raise DlfError(
                f"{row.where(path)}: unknown class {cls}; use the classes of the vocabulary"
            )
        if cls in out:
            raise DlfError(f"{row.where(path)}: class {cls} appears twice; give one row per class")
        segs = row["Segments"].split()
        for s in segs:
            parse_segment_id(s, f"{path} line {row.line} (class {cls})")
        if len(set(segs)) != len(segs):
            dup = next(s for i, s in enumerate(segs) if s in segs[:i])
            raise DlfError(f"{path} line {row.line}: class {cls} lists segment {dup} twice")
        out[cls] = segs
    return out


def write_submission(path: Path, ranked: dict[int, list[str]]) -> Path:
    """`Class,Segments`, one row per class in class order, segment ids best first."""
    return write_table(path, SUBMISSION_HEADER, [(c, " ".join(ranked[c])) for c in sorted(ranked)])


__all__ = [
    "AUDIO",
    "FEATURES",
    "MAX_FRAMES",
    "RGB",
    "SEGMENT",
    "TOP_N",
    "Video",
    "decode_video",
    "dequantize",
    "find_shards",
    "iter_videos",
    "parse_segment_id",
    "quantize",
    "read_submission",
    "read_submission_classes",
    "read_vocabulary",
    "segment_id",
    "write_submission",
]
