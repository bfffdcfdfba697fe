"""Frame features that fit in memory (the synthetic set, a few real shards): each split's
videos dequantised once into an `ArrayCache` (videos x longest video x 1,152 float32, zero
padded), and loader columns that cut clips out of it: a whole video for video-level
training, a 5-second segment for segment-level training and scoring. A batch is padded to
its longest clip only, with a frame mask.
"""

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dlf.data.cache import ArrayCache
from dlf.data.tfrecord import ReadStats
from dlf.tasks.common import cache_folder
from dlf.tasks.yt8m.files import FEATURES, MAX_FRAMES, Video, dequantize, iter_videos


@dataclass(frozen=True)
class RecordSource(os.PathLike):
    """One record of a shard, as a cache source: it stamps (size, mtime) as its shard does,
    so a rewritten shard remakes its videos' rows."""

    shard: str
    index: int

    def __fspath__(self) -> str:
        return self.shard

    def __str__(self) -> str:
        return self.shard


def read_split(shards: list[Path], skip_corrupt: bool, log=print) -> tuple[list[Video], list]:
    """Every video of the shards with its frames (uint8), and each one's RecordSource."""
    videos, sources = [], []
    stats = ReadStats()
    for shard in shards:
        for i, video in enumerate(iter_videos([shard], True, skip_corrupt, stats)):
            videos.append(video)
            sources.append(RecordSource(str(shard), i))
    if stats.skipped:
        log(f"skipped {stats.skipped} corrupt record(s): {'; '.join(stats.problems[:3])}")
    return videos, sources


def frame_cache(
    videos: list[Video], sources: list, data: Path, split: str, log=print
) -> ArrayCache:
    """The split's dequantised frames, N x T x 1152 float32 (T: its longest video, at most
    300), in dlf_home's cache (remade only for changed shards)."""
    longest = min(MAX_FRAMES, max((len(v.frames) for v in videos), default=1))
    rows = {src: v for src, v in zip(sources, videos)}

    def make_row(src: RecordSource) -> np.ndarray:
        frames = rows[src].frames[:longest]
        row = np.zeros((longest, FEATURES), np.float32)
        row[: len(frames)] = dequantize(frames)
        return row

    folder = cache_folder(data, split, longest, "yt8m-dequantised")
    log(f"frame cache for {len(videos)} {split} videos, up to {longest} frames: {folder}")
    return ArrayCache.build(sources, make_row, (longest, FEATURES), np.float32, folder=folder,
                            progress=False, recipe="yt8m-dequantised")  # fmt: skip


def clip_columns(
    frames: np.ndarray, rows: np.ndarray, starts: np.ndarray, lengths: np.ndarray
) -> dict:
    """Loader columns for clips `frames[rows[i], starts[i] : starts[i] + lengths[i]]`:
    "frames" B x L x 1152 and "frame_mask" B x L, L the longest clip of the batch."""
    rows, starts, lengths = (np.asarray(a, np.int64) for a in (rows, starts, lengths))
    t_max = frames.shape[1]

    def window(idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        steps = np.arange(max(1, int(lengths[idx].max())))
        mask = steps[None] < lengths[idx, None]
        return np.minimum(starts[idx, None] + steps[None], t_max - 1), mask

    def frame_column(idx: np.ndarray) -> torch.Tensor:
        at, mask = window(idx)
        clip = frames[rows[idx, None], at]  # B x L x 1152 (one gather from the cache)
        clip[~mask] = 0.0
        return torch.from_numpy(clip)

    def mask_column(idx: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(window(idx)[1])

    return {"frames": frame_column, "frame_mask": mask_column}


__all__ = ["RecordSource", "clip_columns", "frame_cache", "read_split"]
