"""YouTube-8M 2019 (temporal localisation) as a dlf task: which 5-second segments show a class.

The five parts: read (files.py: TFRecord shards of frame features, vocabulary.csv,
sample_submission.csv), data (frames.py: each split's dequantised frames cached once;
clips cut per batch and padded to the batch's longest with a frame mask), model (a video
classifier from the zoo, NeXtVLAD or attention pooling with context gating), loss and
metric (binary cross-entropy over the classes known for an item; MAP@100,000 over the rated
segments of held-out validate videos), write (every 5-second segment of the test videos
scored for the rated classes, ranked per class, the best 100,000 per class).

Training has two stages in one run, switched by epoch (so a resumed run switches alike):
video-level training on `train` (the video labels; every class known: present or not),
then segment-level fine-tuning on the rated segments of part of `validate` (only the rated
class of a segment is known; the others do not count in the loss). The other part of
validate is held out: its videos are chosen by a permutation of validate's videos drawn
from the run's seed (`holdout` of them, default half), all the rated segments of a video on
one side, and they score the validation MAP exactly as `dlf evaluate` scores a submission.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.data.loaders import DataLoaders, train_drop_last
from dlf.data.resident import ArrayLoader, array_column
from dlf.data.samplers import epoch_rng
from dlf.models import create_model
from dlf.report.items import ValidItems
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.yt8m.files import (
    FEATURES,
    SEGMENT,
    TOP_N,
    find_shards,
    read_submission_classes,
    read_vocabulary,
    segment_id,
    write_submission,
)
from dlf.tasks.yt8m.frames import clip_columns, frame_cache, read_split
from dlf.tasks.yt8m.metric import evaluate_yt8m
from dlf.tasks.yt8m.streaming import StagedLoader, train_stream
from dlf.tasks.yt8m.synth import synth_yt8m
from dlf.train.callbacks.core import Phase
from dlf.train.metrics import HostMetric

INPUTS = ("frames", "frame_mask")


@dataclass
class Yt8mOptions:
    """`--option` settings of the YouTube-8M task."""

    finetune_epochs: int = 6  # the last epochs train on validate's rated segments
    holdout: float = 0.5  # share of validate's videos held out to score the run
    skip_corrupt: bool = False  # skip records with a bad CRC (counted in the log), not stop
    stream: bool = False  # stream the train shards (the real 1.5 TB) instead of caching them
    workers: int = 2  # decoding processes when streaming
    buffer: int = 64  # records per stream's shuffle buffer when streaming


def masked_bce(logits: torch.Tensor, target: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over the (item, class) pairs whose answer is known."""
    loss = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none")
    known = known.float()
    return (loss * known).sum() / known.sum().clamp_min(1.0)


def rated_map(
    scores: np.ndarray, target: np.ndarray, known: np.ndarray, top_n: int = TOP_N
) -> float:
    """The competition's MAP (metric.segment_map's rules) over items x classes, vectorised for
    the real validate set: each class ranks every item by its score, cuts the ranking to
    `top_n`, then drops the items whose pair is not rated (`known`); AP = the sum of
    precision@i over the kept positives / the class's rated positives; the mean over the
    classes with one. NaN when no class has a rated positive."""
    aps = []
    for c in range(scores.shape[1]):
        rated = known[:, c] > 0
        positives = int((target[rated, c] > 0).sum())
        if positives == 0:
            continue
        order = np.argsort(-scores[:, c], kind="stable")[:top_n]  # the cut comes first
        hits = target[order[rated[order]], c] > 0
        precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
        aps.append(float(precision[hits].sum()) / positives)
    return float(np.mean(aps)) if aps else float("nan")


def top_segments(scores: np.ndarray, n: int) -> np.ndarray:
    """Indices of the `n` best scores, best first (ties: lower index first); a partition
    first, so the millions of real test segments are not all sorted per class."""
    if len(scores) > n:
        cut = np.partition(-scores, n - 1)[n - 1]  # the n-th best, negated
        candidates = np.flatnonzero(-scores <= cut)  # ties at the cut may add a few
    else:
        candidates = np.arange(len(scores))
    return candidates[np.argsort(-scores[candidates], kind="stable")][:n]


class StageSampler:
    """Video items for the first epochs, then rated segments: the same number of draws per
    epoch either way (the schedule counts steps), in an order drawn from torch's RNG at the
    epoch start (resumable). Positions index the training rows."""

    def __init__(self, is_segment: np.ndarray, length: int | None = None) -> None:
        self.videos = np.flatnonzero(~is_segment)
        self.segments = np.flatnonzero(is_segment)
        self.finetune = bool(length)  # a fixed length: segments only (the videos are streamed)
        self.length = length

    def __len__(self) -> int:
        if self.length:
            return self.length
        return len(self.videos) if len(self.videos) else len(self.segments)

    def epoch_indices(self) -> np.ndarray:
        rng = epoch_rng(None, 0)
        pool = (
            self.segments
            if (self.finetune and len(self.segments)) or not len(self.videos)
            else self.videos
        )
        reps = -(-len(self) // len(pool))
        return np.concatenate([rng.permutation(pool) for _ in range(reps)])[: len(self)]


class FinetuneSwitch:
    """Switch the sampler to rated segments for the last `finetune_epochs` epochs."""

    order = Phase.DATA

    def __init__(self, sampler: StageSampler, finetune_epochs: int, stream=None) -> None:
        self.sampler, self.finetune_epochs, self.stream = sampler, finetune_epochs, stream

    def before_epoch(self, learn) -> None:
        self.sampler.finetune = learn.epoch >= learn.n_epochs - self.finetune_epochs
        if self.stream is not None:  # the stream's order follows the epoch (exact resume)
            self.stream.set_epoch(learn.epoch)


class Yt8mTask(Task):
    name = "yt8m"
    metric_name = "map"
    kaggle_slugs = ("youtube8m-2019",)  # /kaggle/input/<slug>/ in a kernel
    defaults = {"epochs": 12, "arch": "video_attention", "bs": 32, "lr": 2e-3, "tta": 1}
    # --recipe kaggle: sources in docs/tasks/yt8m.md ("Kaggle recipe")
    recipes = {"kaggle": {"arch": "video_nextvlad", "bs": 256, "epochs": 8,
                          "options": {"stream": True, "workers": 4, "finetune_epochs": 2}}}  # fmt: skip
    synth_n = 240
    Options = Yt8mOptions
    truth_inputs = {
        "truth": "validate-style TFRecord shards with segment ratings (a folder), or a label "
        "CSV of '<video id>:<start>,<class>,<score>' lines"
    }

    def synth(self, folder: Path, n: int, seed: int) -> None:
        synth_yt8m(folder, n=n, seed=seed)

    # -- read and data ---------------------------------------------------------------------
    def _videos(self, ctx: Context, split: str) -> tuple:
        shards = find_shards(ctx.data, split)
        if not shards:
            raise DlfError(
                f"{ctx.data}: no {split} shards ({split}/*.tfrecord or {split}*.tfrecord); "
                "pass the competition's frame-level folder as --data"
            )
        return read_split(shards, ctx.opts.skip_corrupt, ctx.log)

    def data(self, ctx: Context, split: str) -> Data:
        if split != "train":
            videos, sources = self._videos(ctx, "test")
            frames = frame_cache(videos, sources, ctx.data, "test", ctx.log).array
            items = [
                (r, s)
                for r, v in enumerate(videos)
                for s in range(0, len(v.frames) - SEGMENT + 1, SEGMENT)
            ]
            rows, starts = (np.array([it[k] for it in items], np.int64) for k in (0, 1))
            columns = clip_columns(frames, rows, starts, np.full(len(items), SEGMENT))
            return Data(columns, [segment_id(videos[r].id, s) for r, s in items])

        vocab_path = ctx.data / "vocabulary.csv"
        if not vocab_path.is_file():
            raise DlfError(
                f"{vocab_path}: file not found; the data folder needs the competition's vocabulary.csv"
            )
        n_classes = max(read_vocabulary(vocab_path)) + 1
        stream = None
        if ctx.opts.stream:  # train videos come from the stream; validate is cached
            o, cfg = ctx.opts, ctx.cfg
            shards = find_shards(ctx.data, "train")
            if not shards:
                raise DlfError(f"{ctx.data}: no train shards to stream")
            stream = train_stream(
                shards, n_classes, cfg.bs, cfg.seed, o.workers, o.buffer, o.skip_corrupt
            )
            ctx.log(f"streaming {len(shards)} train shards, {len(stream)} batches per epoch")
            train_v, train_s = [], []
        else:
            train_v, train_s = self._videos(ctx, "train")
        valid_v, valid_s = self._videos(ctx, "validate")
        videos = train_v + valid_v
        split = "validate" if stream else "train+validate"
        frames = frame_cache(videos, train_s + valid_s, ctx.data, split, ctx.log).array

        # one item per video of train (every class known) and per rated segment of
        # validate (only its rated classes known): (row, start, length, id, group, target, known)
        items = []
        for r, v in enumerate(train_v):
            self._check_labels(v, n_classes, train_s[r])
            t = np.zeros(n_classes, np.float32)
            t[v.labels] = 1.0
            items.append((r, 0, len(v.frames), v.id, -1, t, np.ones(n_classes, np.float32)))
        for j, v in enumerate(valid_v):
            if v.segments is not None:
                self._check_labels(v, n_classes, valid_s[j])
                items += self._rated_items(v, len(train_v) + j, j, n_classes, valid_s[j])
        rows, starts, lengths, ids, group, target, known = zip(*items)
        group = np.array(group)
        if not (group >= 0).any():
            raise DlfError(
                f"{ctx.data}: the validate shards carry no segment ratings; use the 2019 validate set"
            )
        columns = {
            **clip_columns(frames, np.array(rows), np.array(starts), np.array(lengths)),
            "target": array_column(np.stack(target)),
            "target_mask": array_column(np.stack(known)),
        }
        extra = {
            "stream": stream,
            "group": group,
            "n_classes": n_classes,
            "rated": self._rated(ctx, valid_v, n_classes),
        }
        return Data(columns, list(ids), extra=extra)

    @staticmethod
    def _rated_items(video, row: int, group: int, n_classes: int, src) -> list[tuple]:
        by_start: dict[int, dict[int, float]] = {}
        for c, s, score in zip(*video.segments):
            by_start.setdefault(int(s), {})[int(c)] = float(score)  # rated twice: the last
        items = []
        for s, rated in sorted(by_start.items()):
            if s + SEGMENT > len(video.frames):
                raise DlfError(
                    f"{src.shard}: record {src.index}: video {video.id}: a segment is rated at "
                    f"{s} s but the video has only {len(video.frames)} frames"
                )
            t, k = np.zeros(n_classes, np.float32), np.zeros(n_classes, np.float32)
            for c, score in rated.items():
                t[c], k[c] = float(score > 0), 1.0
            items.append((row, s, SEGMENT, segment_id(video.id, s), group, t, k))
        return items

    @staticmethod
    def _check_labels(video, n_classes: int, src) -> None:
        labels = [video.labels] + ([video.segments[0]] if video.segments is not None else [])
        for arr in labels:
            if len(arr) and (arr.min() < 0 or arr.max() >= n_classes):
                raise DlfError(
                    f"{src.shard}: record {src.index}: video {video.id} has class {int(arr.max())} "
                    f"outside vocabulary.csv's {n_classes}; use the matching vocabulary"
                )

    @staticmethod
    def _rated(ctx: Context, valid_videos, n_classes: int) -> list[int]:
        """The segment-rated classes: sample_submission.csv's, else those rated in validate."""
        sample = ctx.data / "sample_submission.csv"
        if sample.is_file():
            rated = sorted(read_submission_classes(sample))
        else:
            rated = sorted(
                {int(c) for v in valid_videos if v.segments is not None for c in v.segments[0]}
            )
        outside = [c for c in rated if not 0 <= c < n_classes]
        if outside:
            raise DlfError(
                f"{sample}: class {outside[0]} is outside vocabulary.csv's {n_classes} classes; "
                "use the competition's matching files"
            )
        return rated

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        return {"n_classes": train.extra["n_classes"], "rated": train.extra["rated"]}

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        group = train.extra["group"]
        videos = np.unique(group[group >= 0])
        order = np.random.default_rng(ctx.cfg.seed).permutation(videos)
        held = set(order[: max(1, round(ctx.opts.holdout * len(videos)))].tolist())
        is_held = np.isin(group, list(held))
        if ctx.opts.finetune_epochs and not (group[~is_held] >= 0).any():
            ctx.log(
                "no rated segment left for fine-tuning (holdout takes them all): video labels only"
            )
        return np.flatnonzero(~is_held), np.flatnonzero(is_held)

    def sampler(self, ctx: Context, train: Data, train_idx: np.ndarray):
        stream = train.extra["stream"]
        length = len(stream) * ctx.cfg.bs if stream is not None else None
        sampler = StageSampler(train.extra["group"][train_idx] >= 0, length)
        return sampler, [FinetuneSwitch(sampler, ctx.opts.finetune_epochs, stream)]

    def transforms(self, ctx: Context, train: bool = True) -> list:
        return []

    def loaders(self, ctx, train, train_idx, valid_idx, sampler) -> DataLoaders:
        bs = ctx.cfg.bs
        train_dl = ArrayLoader(train.columns, train_idx, bs=bs, sampler=sampler,
                               drop_last=train_drop_last(len(sampler), bs))  # fmt: skip
        valid_dl = ArrayLoader(train.columns, valid_idx, bs=bs * 2, shuffle=False)
        if train.extra["stream"] is not None:
            train_dl = StagedLoader(train.extra["stream"], train_dl, sampler)
        return DataLoaders(train_dl, valid_dl, inputs=INPUTS)

    def inference_loaders(self, ctx: Context, test: Data, device) -> DataLoaders:
        loader = ArrayLoader(test.columns, np.arange(len(test)), bs=ctx.cfg.bs * 2)
        return DataLoaders(loader, loader, device=device, inputs=INPUTS)

    # -- model, loss, metric -----------------------------------------------------------------
    def model(self, ctx: Context):
        return create_model(ctx.cfg.arch, num_classes=ctx.fitted["n_classes"], in_chans=FEATURES)

    def loss(self, ctx: Context):
        return masked_bce

    def metrics(self, ctx: Context) -> list:
        rated = torch.tensor(ctx.fitted["rated"])

        def decode(pred, target, known):  # one record per batch: the rated classes only
            return [(pred[:, rated.to(pred.device)].float(), target[:, rated.to(pred.device)],
                     known[:, rated.to(pred.device)])]  # fmt: skip

        def score(records) -> float:
            p, t, k = (torch.cat([r[i] for r in records]).numpy() for i in range(3))
            return rated_map(p, t, k)

        return [HostMetric(decode, score, "map")]

    def activation(self, ctx: Context):
        rated = torch.tensor(ctx.fitted["rated"])
        return lambda out: torch.sigmoid(out[:, rated.to(out.device)].float())

    def score(self, ctx: Context, preds, targets, post: dict) -> float:
        target, known = targets
        rated = ctx.fitted["rated"]
        return rated_map(preds.numpy(), target[:, rated].numpy(), known[:, rated].numpy())

    def valid_items(self, ctx: Context, train: Data, valid_idx, preds, targets, post: dict):
        """Each validation segment as a set of rated classes: those its labels say are present,
        and those predicted with probability 0.5 or more (no pictures: the inputs are frame
        features). Classes are named from vocabulary.csv."""
        target, known = targets
        rated = ctx.fitted["rated"]
        names = read_vocabulary(ctx.data / "vocabulary.csv")
        label = [names.get(int(c), str(c)) for c in rated]
        present = (target[:, rated].bool() & known[:, rated].bool()).numpy()
        predicted = (preds >= 0.5).numpy()
        ids = [train.ids[i] for i in valid_idx]
        return ValidItems("tags", ids, [[label[j] for j in np.flatnonzero(r)] for r in present],
                          [[label[j] for j in np.flatnonzero(r)] for r in predicted])  # fmt: skip

    # -- write -------------------------------------------------------------------------------
    def write(self, ctx: Context, test: Data, preds, post: dict, out: Path) -> Path:
        scores = preds.numpy()
        ids = np.array(test.ids)
        ranked = {c: ids[top_segments(scores[:, j], TOP_N)].tolist()
                  for j, c in enumerate(ctx.fitted["rated"])}  # fmt: skip
        write_submission(out, ranked)
        ctx.log(f"{len(test)} test segments ranked for {len(ranked)} classes")
        return out

    def evaluate(self, pred: Path, truth: Path) -> float:
        return evaluate_yt8m(pred, truth)


__all__ = ["FinetuneSwitch", "StageSampler", "Yt8mOptions", "Yt8mTask", "masked_bce", "rated_map",
           "top_segments"]  # fmt: skip
