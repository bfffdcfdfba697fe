"""The training set streamed, for the real 1.5 TB of train shards: video items decoded in
worker processes (dlf.data.stream.ShardStream), padded per batch, dequantised in the main
process; then, for the fine-tuning epochs, rated segments from the in-memory validate cache.
"""

import functools
from collections.abc import Iterator

import numpy as np

from dlf.core.errors import DlfError
from dlf.data.stream import ShardStream, pad_collate
from dlf.tasks.yt8m.files import decode_video


def decode_train_item(record: bytes, where: str, n_classes: int) -> dict:
    """A train record -> {"frames": uint8 T x 1152, "target": multi-hot, "target_mask": ones}."""
    video = decode_video(record, where)
    target = np.zeros(n_classes, np.float32)
    if len(video.labels) and (video.labels.min() < 0 or video.labels.max() >= n_classes):
        raise DlfError(
            f"{where}: video {video.id} has a class outside vocabulary.csv's {n_classes}"
        )
    target[video.labels] = 1.0
    return {"frames": video.frames, "target": target, "target_mask": np.ones(n_classes, np.float32)}


def collate_train(items: list[dict]) -> dict:
    """Pad to the batch's longest video (with a frame mask), then dequantise (uint8 crosses
    the process boundary: a quarter of the bytes)."""
    batch = pad_collate(items)
    batch["frames"] = batch["frames"].float() * (4.0 / 255.0) + (4.0 / 512.0 - 2.0)
    return batch


def train_stream(shards, n_classes: int, bs: int, seed: int, workers: int, buffer: int,
                 skip_corrupt: bool) -> ShardStream:  # fmt: skip
    decode = functools.partial(decode_train_item, n_classes=n_classes)
    return ShardStream(shards, decode, collate_train, bs=bs, seed=seed, buffer=buffer,
                       workers=workers, skip_corrupt=skip_corrupt)  # fmt: skip


class StagedLoader:
    """Video batches from the stream, then (once the sampler is fine-tuning) segment batches
    from the array loader; as many batches per epoch either way."""

    def __init__(self, stream: ShardStream, segments, sampler) -> None:
        self.stream, self.segments, self.sampler = stream, segments, sampler

    def __len__(self) -> int:
        return len(self.stream)

    def __iter__(self) -> Iterator[dict]:
        return iter(self.segments) if self.sampler.finetune else iter(self.stream)


__all__ = ["StagedLoader", "collate_train", "decode_train_item", "train_stream"]
