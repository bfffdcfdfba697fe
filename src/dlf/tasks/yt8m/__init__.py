"""YouTube-8M 2019 temporal localisation: the real files, the metric, the generator."""

from dlf.tasks.yt8m.files import (
    Video,
    decode_video,
    dequantize,
    find_shards,
    iter_videos,
    read_submission,
    read_vocabulary,
    write_submission,
)
from dlf.tasks.yt8m.metric import average_precision, evaluate_yt8m, read_truth, segment_map
from dlf.tasks.yt8m.synth import synth_yt8m

__all__ = [
    "Video",
    "average_precision",
    "decode_video",
    "dequantize",
    "evaluate_yt8m",
    "find_shards",
    "iter_videos",
    "read_submission",
    "read_truth",
    "read_vocabulary",
    "segment_map",
    "synth_yt8m",
    "write_submission",
]
