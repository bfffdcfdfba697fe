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

import csv
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.augment import Normalize
from dlf.data.block import IMAGE_SUFFIXES, get_image_files
from dlf.data.cache import ImageCache
from dlf.data.image_dls import ImageDataLoaders
from dlf.models import create_model
from dlf.tasks.base import Parts, Task, TrainConfig
from dlf.tasks.common import predict_images
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


class FolderTask(Task):
    name = "folder"
    metric_name = "accuracy"
    defaults = {"epochs": 10, "arch": "resnet18", "size": 64, "bs": 16, "lr": 2e-3}
    synth_n = 450

    def synth(self, folder: Path, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        truth = ["image,label"]
        for split, count in (("train", n), ("test", max(15, n // 5))):
            for i in range(count):
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

    def build(self, cfg: TrainConfig, data: Path, log) -> Parts:
        channels = _channels_option(cfg.options.get("channels"))
        with _notes_to(log):
            dls = ImageDataLoaders.from_folder(
                data, valid_pct=0.2, size=cfg.size, bs=cfg.bs, seed=cfg.seed,
                channels=channels, progress=False,
            )  # fmt: skip
        # what prediction needs, saved in config.json so a run folder predicts on its own
        norm = next(t for t in dls.valid_tfms if isinstance(t, Normalize))
        mean, std = norm.stats(dls.channels)
        cfg.options.update(
            vocab=list(dls.vocab), channels=dls.channels, normalize={"mean": mean, "std": std}
        )
        train_idx, valid_idx = dls.datasets.splits
        log(f"classes: {', '.join(map(str, dls.vocab))}")
        log(
            f"{len(train_idx)} training and {len(valid_idx)} validation images, "
            f"{dls.channels} channel(s)"
            + (" (as configured)" if channels else " (decided from the images)")
        )
        self.dls = dls
        return Parts(dls, self.build_model(cfg), F.cross_entropy, [accuracy], "accuracy")

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        return create_model(
            cfg.arch,
            num_classes=len(cfg.options["vocab"]),
            in_chans=int(cfg.options.get("channels", 3)),
            pretrained=cfg.options.get("pretrained"),
        )

    def report_extras(self, learn, cfg: TrainConfig, post: dict) -> dict:
        preds, targets = learn.get_preds()
        vocab = [str(v) for v in cfg.options["vocab"]]
        probs = preds.float().softmax(-1)
        conf, pred = probs.max(-1)
        confusion = confusion_matrix(targets, pred, len(vocab))
        # the misclassified validation images, the most confidently wrong first
        wrong = (pred != targets).nonzero().flatten()
        worst = wrong[conf[wrong].argsort(descending=True)][:18].tolist()
        images = self.dls.datasets.caches[0].array
        valid_idx = self.dls.datasets.splits[1]
        samples = []
        for j in worst:
            img = np.asarray(images[valid_idx[j]])
            samples.append({
                "image": img[..., 0] if img.shape[-1] == 1 else img,
                "title": f"true {vocab[int(targets[j])]} / pred {vocab[int(pred[j])]} ({float(conf[j]):.2f})",
                "bad": True,
            })  # fmt: skip
        return {"confusion": confusion.numpy(), "labels": vocab, "samples": samples}

    def predict(
        self, model: nn.Module, cfg: TrainConfig, post: dict, data: Path, out: Path, tta: int, log
    ) -> Path:
        files = images_to_predict(data)
        opts = cfg.options
        channels = int(opts.get("channels", 3))  # runs saved before channels were: RGB
        norm = opts.get("normalize")
        normalize = Normalize(**norm) if norm else Normalize()
        # decoded and resized exactly as training cached them (read_image, to_uint8, resize)
        cache = ImageCache.build(files, cfg.size, channels=channels, progress=False)
        probs = predict_images(
            model, cache.array, [normalize], bs=cfg.bs * 2, tta=tta, act=lambda o: o.softmax(-1)
        )
        vocab = opts["vocab"]
        rows = ["image,label"]
        rows += [f"{f.name},{vocab[int(k)]}" for f, k in zip(files, probs.argmax(-1).tolist())]
        atomic_write_text(out, "\n".join(rows) + "\n")
        log(f"{len(files)} images from {files[0].parent if files else data} labelled")
        return out

    def evaluate(self, truth: Path, pred: Path) -> float:
        t, p = read_labels(truth), read_labels(pred)
        missing = [k for k in t if k not in p]
        if missing:
            raise DlfError(
                f"{pred}: no row for {len(missing)} image(s) of {truth}, e.g. {missing[0]}"
            )
        extra = [k for k in p if k not in t]
        if extra:
            raise DlfError(f"{pred}: {len(extra)} image(s) not in {truth}, e.g. {extra[0]}")
        return sum(t[k] == p[k] for k in t) / len(t)


def read_labels(path: Path) -> dict[str, str]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["image", "label"]:
            raise DlfError(f"{path} line 1: header is {header}, expected ['image', 'label']")
        out: dict[str, str] = {}
        for line_no, row in enumerate(reader, start=2):
            if len(row) != 2:
                raise DlfError(
                    f"{path} line {line_no}: expected 2 fields (image,label), found {len(row)}"
                )
            if row[0] in out:
                raise DlfError(
                    f"{path} line {line_no}: image {row[0]} appears twice; keep one row per image"
                )
            out[row[0]] = row[1]
    return out


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


def _channels_option(value) -> int | None:
    """`--option channels=1|3` (a string from the command line, an int from config.json)."""
    if value in (None, "", "auto"):
        return None
    if str(value) not in ("1", "3"):
        raise DlfError(f"--option channels={value}: expected 1, 3 or auto")
    return int(value)


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
