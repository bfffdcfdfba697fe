"""Your own project: image classification from class-named folders (the week-1 path).

Layout, one rule for Python and the command line (`dlf.data.image_dls.class_folders`): the
classes are the subfolders of DIR/train if it exists, else of DIR; DIR/valid/CLASS/* is the
validation set if it exists, else a seeded 20% of the images; DIR/test/ is never a class.
Images directly in a folder of classes belong to no class and are ignored (with a note).

Channels: decided from all the images (1 if every one is single-channel, else 3) or forced
with `--option channels=1` (or 3); the model's `in_chans` and the normalisation follow.

`dlf predict folder --run RUN --data X` labels X/test/* (or, without X/test/, the images
directly in X) and writes `image,label`; it needs only the run folder (classes, size,
channels and normalisation are saved in its config.json), never the training images.
`dlf evaluate` scores such a file against a truth file of the same form by accuracy.
"""

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.augment import Normalize, aug_transforms
from dlf.data.block import IMAGE_SUFFIXES, get_image_files
from dlf.data.cache import ImageCache
from dlf.data.image_dls import ImageDataLoaders
from dlf.data.resident import image_column
from dlf.data.table import align, read_table, unique_ids, write_table
from dlf.models import create_model
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import progress
from dlf.train.metrics import accuracy, confusion_matrix

SHAPES = ("circle", "square", "triangle")


def draw_shape(rng: np.random.Generator, kind: str, size: int = 64) -> Image.Image:
    """A shape of random size, place and colours on a noisy background."""
    bg = rng.integers(0, 256, 3)
    img = np.clip(bg + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    r = rng.uniform(0.15, 0.35) * size
    cx, cy = rng.uniform(r, size - r, 2)
    fill = tuple(int(v) for v in (bg + rng.choice([-1, 1]) * rng.integers(70, 140, 3)) % 256)
    if kind == "circle":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif kind == "square":
        d.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    else:
        d.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    return im


@dataclass
class FolderOptions:
    """`--option` settings of the folder task."""

    channels: Literal[1, 3] | None = None  # None: decided from the images
    pretrained: str | None = None  # a weights file (never a download)


class FolderTask(Task):
    name = "folder"
    metric_name = "accuracy"
    defaults = {"epochs": 10, "arch": "resnet18", "size": 64, "bs": 16, "lr": 2e-3}
    synth_n = 450
    Options = FolderOptions

    def synth(self, folder: Path, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        truth = ["image,label"]
        for split, count in (("train", n), ("test", max(15, n // 5))):
            for i in progress(range(count), count, f"{split} images"):
                kind = SHAPES[i % len(SHAPES)]
                name = f"{kind}_{i:05d}.png"
                if split == "train":
                    path = folder / "train" / kind / name
                else:
                    name = f"img_{i:05d}.png"
                    path = folder / "test" / name
                    truth.append(f"{name},{kind}")
                path.parent.mkdir(parents=True, exist_ok=True)
                draw_shape(rng, kind).save(path)
        atomic_write_text(folder / "test_labels.csv", "\n".join(truth) + "\n")

    # -- read and data ---------------------------------------------------------------------
    def data(self, ctx: Context, split: str) -> Data:
        cfg = ctx.cfg
        if split != "train":  # decoded and resized exactly as training cached them
            files = images_to_predict(ctx.data)
            cache = ImageCache.build(files, cfg.size, channels=ctx.fitted["channels"],
                                     progress=sys.stderr.isatty())  # fmt: skip
            ctx.log(f"{len(files)} images to label from {files[0].parent}")
            return Data([image_column(cache.array)], [f.name for f in files], images=cache.array)
        with _notes_to(ctx.log):
            dls = ImageDataLoaders.from_folder(
                ctx.data, valid_pct=0.2, size=cfg.size, bs=cfg.bs, seed=cfg.seed,
                channels=ctx.opts.channels, progress=sys.stderr.isatty(),
            )  # fmt: skip
        ds = dls.datasets
        mean, std = Normalize().stats(dls.channels)  # from_folder's default normalisation
        facts = {"vocab": [str(v) for v in dls.vocab], "channels": dls.channels,
                 "normalize": {"mean": mean, "std": std}}  # fmt: skip
        return Data(list(ds.columns), [str(i) for i in ds.items], images=ds.caches[0].array,
                    extra={"splits": ds.splits, "facts": facts})  # fmt: skip

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        # what prediction needs, saved in config.json so a run folder predicts on its own
        facts = train.extra["facts"]
        ctx.log(f"classes: {', '.join(facts['vocab'])}")
        return facts

    def split(self, ctx: Context, train: Data) -> tuple:
        train_idx, valid_idx = train.extra["splits"]
        forced = " (forced)" if ctx.opts.channels else " (decided from the images)"
        ctx.log(f"{len(train_idx)} training and {len(valid_idx)} validation images, "
                f"{ctx.fitted['channels']} channel(s){forced}")  # fmt: skip
        return train_idx, valid_idx

    def transforms(self, ctx: Context) -> list:
        return [*aug_transforms(), Normalize(**ctx.fitted["normalize"])]

    # -- model, loss, metric ---------------------------------------------------------------
    def model(self, ctx: Context) -> nn.Module:
        return create_model(ctx.cfg.arch, num_classes=len(ctx.fitted["vocab"]),
                            in_chans=ctx.fitted["channels"], pretrained=ctx.opts.pretrained)  # fmt: skip

    def loss(self, ctx: Context):
        return F.cross_entropy

    def metrics(self, ctx: Context) -> list:
        return [accuracy]

    def activation(self, ctx: Context):
        return lambda out: out.float().softmax(-1)

    def score(self, ctx: Context, probs, targets, post: dict) -> float:
        return float((probs.argmax(-1) == targets).double().mean())

    def report(self, ctx: Context, train: Data, valid_idx, probs, targets, post: dict) -> dict:
        vocab = ctx.fitted["vocab"]
        conf, pred = probs.max(-1)
        confusion = confusion_matrix(targets, pred, len(vocab))
        # the misclassified validation images, the most confidently wrong first
        wrong = (pred != targets).nonzero().flatten()
        worst = wrong[conf[wrong].argsort(descending=True)][:18].tolist()
        samples = []
        for j in worst:
            img = np.asarray(train.images[valid_idx[j]])
            samples.append({
                "image": img[..., 0] if img.shape[-1] == 1 else img,
                "title": f"true {vocab[int(targets[j])]} / pred {vocab[int(pred[j])]} ({float(conf[j]):.2f})",
                "bad": True,
            })  # fmt: skip
        return {"confusion": confusion.numpy(), "labels": vocab, "samples": samples}

    # -- write the submission --------------------------------------------------------------
    def write(self, ctx: Context, test: Data, probs, post: dict, out: Path) -> Path:
        vocab = ctx.fitted["vocab"]
        rows = [(name, vocab[int(k)]) for name, k in zip(test.ids, probs.argmax(-1).tolist())]
        return write_table(out, ("image", "label"), rows)

    def evaluate(self, pred: Path, truth: Path) -> float:
        t, p = read_labels(truth), read_labels(pred)
        ids = align(t, p, truth, pred, column="image", what="test image")
        return sum(t[k] == p[k] for k in ids) / len(ids)


def read_labels(path: Path) -> dict[str, str]:
    """An `image,label` file (a submission or an answer key) -> {image: label}."""
    _, rows = read_table(path, ("image", "label"))
    return {k: r["label"] for k, r in unique_ids(rows, "image", path, what="image").items()}


def images_to_predict(data: Path) -> list[Path]:
    """The images to predict: data/test/* if that folder exists, else the images in data."""
    data = Path(data)
    if (data / "test").is_dir():
        files = get_image_files(data / "test")
    else:
        files = sorted(
            p for p in data.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
        )
    if not files:
        raise DlfError(
            f"{data}: no images to predict; pass --data with the images, or with a test/ folder of them"
        )
    return files


@contextmanager
def _notes_to(log) -> Iterator[None]:
    """Notes the data code logs (files in no class, thin classes) go to the run's log too."""

    class Forward(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log(record.getMessage())

    logger = logging.getLogger("dlf.data")
    handler, propagate = Forward(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False  # printed once, by the run log
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
