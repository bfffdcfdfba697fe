"""Your own project: image classification from class-named folders (the week-1 path).

Layout: DIR/train/CLASS/*.png|jpg and either DIR/valid/CLASS/* or a seeded 20% split;
optionally DIR/test/* for `dlf predict`, which writes `image,label`. `dlf evaluate` scores
such a file against a truth file of the same form by accuracy.
"""

import csv
from pathlib import Path

import numpy as np
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.block import get_image_files
from dlf.data.image_dls import ImageDataLoaders
from dlf.models import create_model
from dlf.tasks.base import Parts, Task, TrainConfig
from dlf.tasks.common import progress
from dlf.train.metrics import accuracy, confusion_matrix
from dlf.train.tta import tta_predict

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

    def build(self, cfg: TrainConfig, data: Path, log) -> Parts:
        if not (data / "train").is_dir():
            raise DlfError(
                f"{data}: no train/ folder; the folder task wants DIR/train/CLASS/* images"
            )
        dls = ImageDataLoaders.from_folder(
            data, valid_pct=0.2, size=cfg.size, bs=cfg.bs, seed=cfg.seed, progress=False
        )
        cfg.options["vocab"] = list(dls.vocab)
        log(f"classes: {', '.join(map(str, dls.vocab))}")
        self.dls = dls
        return Parts(dls, self.build_model(cfg), F.cross_entropy, [accuracy], "accuracy")

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        return create_model(
            cfg.arch,
            num_classes=len(cfg.options["vocab"]),
            pretrained=cfg.options.get("pretrained"),
        )

    def report_extras(self, learn, cfg: TrainConfig, post: dict) -> dict:
        preds, targets = learn.get_preds()
        vocab = cfg.options["vocab"]
        n = len(vocab)
        pred = preds.argmax(-1)
        confusion = confusion_matrix(targets, pred, n)
        return {"confusion": confusion.numpy(), "labels": [str(v) for v in vocab]}

    def predict(
        self, model: nn.Module, cfg: TrainConfig, post: dict, data: Path, out: Path, tta: int, log
    ) -> Path:
        files = sorted(get_image_files(data / "test")) if (data / "test").is_dir() else []
        if not files:
            raise DlfError(f"{data / 'test'}: no test images to predict; put them in DIR/test/")
        cfg_data = Path(cfg.data)
        device = next(model.parameters()).device  # where `dlf predict --device` put it
        dls = ImageDataLoaders.from_folder(
            cfg_data, valid_pct=0.2, size=cfg.size, bs=cfg.bs, seed=cfg.seed, progress=False,
            device=device,
        )  # fmt: skip
        model = model.eval()
        rows = ["image,label"]
        vocab = cfg.options["vocab"]
        for i in range(0, len(files), cfg.bs):
            chunk = files[i : i + cfg.bs]
            (xb,) = dls.test_batch(chunk)[:1]
            probs = tta_predict(model, xb, tta, act=lambda o: o.softmax(-1))
            rows += [f"{f.name},{vocab[int(k)]}" for f, k in zip(chunk, probs.argmax(-1).tolist())]
        atomic_write_text(out, "\n".join(rows) + "\n")
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
