"""Trivial rules for YouTube-8M 2019 segments, scored on the same held-out validate videos
as a trained run (the task's own data and split), so the model's figure has a floor:

- "video prior": every rated segment of a video scores the same for a class (all a model
  that only knows video labels can say); the ranking within a class is then the file order.
- "segment centroid": a segment's mean feature against the class's centroid (the mean of
  the mean features of the training videos labelled with it, less the overall mean).
"""

import numpy as np

from dlf.tasks.base import Context
from dlf.tasks.yt8m.task import Yt8mTask, rated_map


def trivial_maps(task: Yt8mTask, ctx: Context) -> dict[str, float]:
    """MAP of each trivial rule on the held-out rated segments (ctx as `dlf train` builds it)."""
    train = task.data(ctx, "train")
    ctx.fitted.update(task.fit_facts(ctx, train))
    train_idx, valid_idx = task.split(ctx, train)
    rated = ctx.fitted["rated"]
    target = train.columns["target"](valid_idx).numpy()[:, rated]
    known = train.columns["target_mask"](valid_idx).numpy()[:, rated]

    def mean_features(idx: np.ndarray) -> np.ndarray:
        frames = train.columns["frames"](idx).numpy()
        mask = train.columns["frame_mask"](idx).numpy()[..., None]
        return (frames * mask).sum(1) / np.maximum(mask.sum(1), 1)

    videos = train_idx[train.extra["group"][train_idx] < 0]
    video_means = mean_features(videos)
    labels = train.columns["target"](videos).numpy()[:, rated]
    centroids = labels.T @ video_means / np.maximum(labels.sum(0)[:, None], 1)
    centre = video_means.mean(0)
    seg = mean_features(valid_idx) - centre
    return {
        "video prior": rated_map(np.ones_like(target), target, known),
        "segment centroid": rated_map(seg @ (centroids - centre).T, target, known),
    }
