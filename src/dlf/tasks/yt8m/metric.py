"""YouTube-8M 2019's metric, MAP@100,000 over rated segments, as Kaggle computed it with the
official `segment_eval_inference.py` (google/youtube-8m), written anew:

1. The truth is the rated (segment, class) pairs, each with its score (1 = present, 0 =
   rated absent); a pair rated twice keeps its last score. A class's positives are its
   pairs with score > 0.
2. Per class, the submission's segment ids are cut to the first 100,000 *before* anything
   else, then every id whose (segment, class) pair was not rated is dropped; the ranks are
   those of the remaining list.
3. AP = sum of precision@i over the positions i of the kept positives, divided by the
   class's number of rated positive segments (not by the positives found): missing a
   positive costs, and an empty list scores 0.
4. MAP = the mean AP over the classes that have a rated positive segment.

Where the script itself breaks under Python 3, dlf does what it meant: video ids are text
(not `b'...'` reprs), the header line and the line end are not part of the ids. Where it is
silent: a rated class missing from the submission scores 0 (the script averages over the
submitted classes only, which equals this for a full submission, as Kaggle's were); a
submitted class with no rated positive is not averaged (the script fails on it); a segment id
listed twice for a class is refused (the script would count it twice).
"""

from collections.abc import Sequence
from pathlib import Path

from dlf.core.errors import DlfError
from dlf.tasks.yt8m.files import (
    TOP_N,
    find_shards,
    iter_videos,
    parse_segment_id,
    read_submission,
    read_vocabulary,
    segment_id,
)

Truth = dict[tuple[str, int], float]  # (segment id, class) -> rated score


def average_precision(ratings: Sequence[float], num_positives: int) -> float:
    """AP of one class's ranked, rated list (unrated pairs already dropped): the sum of
    precision@i over the positives, divided by all of the class's rated positives."""
    if num_positives <= 0:
        return 0.0
    hits, total = 0, 0.0
    for i, score in enumerate(ratings, start=1):
        if score > 0:
            hits += 1
            total += hits / i
    return total / num_positives


def segment_map(truth: Truth, submission: dict[int, list[str]], top_n: int = TOP_N) -> float:
    """MAP@top_n of a submission {class: segment ids, best first} against the rated pairs."""
    positives: dict[int, int] = {}
    for (_, cls), score in truth.items():
        if score > 0:
            positives[cls] = positives.get(cls, 0) + 1
    if not positives:
        raise DlfError("the truth has no positively rated segment; nothing to score")
    aps = []
    for cls in sorted(positives):
        kept = submission.get(cls, [])[:top_n]  # the cut comes before dropping unrated pairs
        ratings = [truth[(seg, cls)] for seg in kept if (seg, cls) in truth]
        aps.append(average_precision(ratings, positives[cls]))
    return sum(aps) / len(aps)


def read_label_csv(path: Path) -> Truth:
    """The official label cache: lines `<video id>:<start>,<class>,<score>`, no header."""
    truth: Truth = {}
    try:
        lines = Path(path).read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise DlfError(f"{path}: cannot read the label file ({e})") from None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        parts = [p.strip() for p in line.split(",")]
        where = f"{path} line {n} ({line!r})"
        if len(parts) != 3:
            raise DlfError(f"{where}: expected '<video id>:<start>,<class>,<score>'")
        vid, start = parse_segment_id(parts[0], where)
        try:
            cls, score = int(parts[1]), float(parts[2])
        except ValueError:
            raise DlfError(f"{where}: class must be an integer and score a number") from None
        truth[(segment_id(vid, start), cls)] = score
    return truth


def read_truth(path: Path) -> Truth:
    """Rated pairs from a folder of TFRecord shards with segment ratings (the shards in it,
    else in its validate/ subfolder), or from a label CSV."""
    path = Path(path)
    if path.is_file():
        return read_label_csv(path)
    if not path.is_dir():
        raise DlfError(f"{path}: not found; pass the folder of rated shards or a label CSV")
    shards = sorted(path.glob("*.tfrecord")) or find_shards(path, "validate")
    if not shards:
        raise DlfError(f"{path}: no .tfrecord shards (nor validate/*.tfrecord) in the folder")
    truth: Truth = {}
    for video in iter_videos(shards, frames=False):
        if video.segments is None:
            continue
        for cls, start, score in zip(*video.segments):
            truth[(segment_id(video.id, start), int(cls))] = float(score)
    if not truth:
        raise DlfError(
            f"{path}: the shards carry no segment ratings (segment_labels); use validate shards"
        )
    return truth


def known_classes(truth_path: Path, truth: Truth) -> set[int]:
    """The classes a submission may name: the vocabulary (vocabulary.csv beside the truth
    or one folder up) and the rated ones."""
    rated = {cls for _, cls in truth}
    base = Path(truth_path) if Path(truth_path).is_dir() else Path(truth_path).parent
    for folder in (base, base.parent):
        if (folder / "vocabulary.csv").is_file():
            return rated | set(read_vocabulary(folder / "vocabulary.csv"))
    return rated


def evaluate_yt8m(pred: Path, truth: Path) -> float:
    """`dlf evaluate yt8m --truth DIR|labels.csv --pred submission.csv`."""
    rated = read_truth(truth)
    return segment_map(rated, read_submission(pred, known_classes(truth, rated)))


__all__ = [
    "Truth",
    "average_precision",
    "evaluate_yt8m",
    "known_classes",
    "read_label_csv",
    "read_truth",
    "segment_map",
]
