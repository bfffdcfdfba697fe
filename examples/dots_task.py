"""A complete small competition, as a study-group member would add their own (see
docs/tasks/your-own-project.md): count the dots in an image.

The "competition" files:

    train.csv        image_id,count      how many dots each training image shows
    test.csv         image_id            the images to predict
    images/<image_id>.png                48 x 48 RGB
    submission       image_id,count      one row per test image, a whole count
    metric           RMSE of the counts  (lower is better)

Use it from this folder, with no edit of dlf:

    dlf synth dots_task:DotsTask dots                      # a dataset in that layout
    dlf train dots_task:DotsTask --data dots --out runs/dots
    dlf predict dots_task:DotsTask --run runs/dots          # runs/dots/submission.csv
    dlf evaluate dots_task:DotsTask --truth dots/test_labels.csv --pred runs/dots/submission.csv
"""

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from dlf.core.errors import DlfError
from dlf.data import Dihedral, Normalize, align, read_table, unique_ids, write_table
from dlf.data.resident import array_column, image_column
from dlf.data.splits import stratified_kfold_splitter
from dlf.models import create_model
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import build_cache
from dlf.train.metrics import AccumMetric

MAX_DOTS = 6


def rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The competition metric: root mean squared error of the counts."""
    return (pred.double().view(-1) - target.double().view(-1)).pow(2).mean().sqrt()


def whole_counts(pred: torch.Tensor) -> torch.Tensor:
    """A submission holds whole, non-negative counts."""
    return pred.view(-1).round().clamp(min=0)


@dataclass
class DotsOptions:
    """`--option` settings (none needed; one to show how)."""

    pretrained: str | None = None


class DotsTask(Task):
    name = "dots"
    metric_name = "rmse"
    higher_is_better = False  # an error: the meetup board ranks the smallest first
    defaults = {"epochs": 8, "arch": "resnet18", "size": 48, "bs": 32, "lr": 2e-3}
    synth_n = 400
    Options = DotsOptions

    def synth(self, folder: Path, n: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        (folder / "images").mkdir()
        rows = {"train": [], "test": []}
        for i in range(n + max(40, n // 4)):
            split = "train" if i < n else "test"
            count = int(rng.integers(0, MAX_DOTS + 1))
            image_id = f"{split}_{i:05d}"
            draw_dots(rng, count).save(folder / "images" / f"{image_id}.png")
            rows[split].append((image_id, count))
        write_table(folder / "train.csv", ("image_id", "count"), rows["train"])
        write_table(folder / "test.csv", ("image_id",), [(i,) for i, _ in rows["test"]])
        write_table(folder / "test_labels.csv", ("image_id", "count"), rows["test"])

    # 1. read and data: the CSV into ids and counts, the images into a decoded cache
    def data(self, ctx: Context, split: str) -> Data:
        header = ("image_id", "count") if split == "train" else ("image_id",)
        csv = ctx.data / f"{split}.csv"
        _, rows = read_table(csv, header)
        ids = list(unique_ids(rows, "image_id", csv, what="image"))
        paths = [ctx.data / "images" / f"{i}.png" for i in ids]
        size = ctx.cfg.size
        cache = build_cache(paths, ctx.data, split, size, recipe="dots", log=ctx.log, channels=3)
        columns = {"image": image_column(cache.array)}  # a named batch: {"image", "count"}
        counts = None
        if split == "train":
            counts = np.array([_count(r, csv) for r in rows])
            columns["count"] = array_column(counts.astype(np.float32))
        return Data(columns, ids, strata=counts, images=cache.array)

    def split(self, ctx: Context, train: Data):
        return stratified_kfold_splitter(train.strata, k=5, fold=0, seed=ctx.cfg.seed)(train.ids)

    def transforms(self, ctx: Context) -> list:
        return [Dihedral(), Normalize()]  # dots have no up or left

    # 2. model, 3. loss and metric
    def model(self, ctx: Context):
        return create_model(ctx.cfg.arch, num_classes=1, pretrained=ctx.opts.pretrained)

    def loss(self, ctx: Context):
        return lambda pred, target: F.mse_loss(pred.view(-1).float(), target.float())

    def metrics(self, ctx: Context) -> list:
        return [AccumMetric(lambda p, t: rmse(whole_counts(p.float()), t), name="rmse")]

    def activation(self, ctx: Context):
        return lambda out: out.view(-1).float()

    # 4. the metric on validation, as the submission will be scored
    def score(self, ctx: Context, preds, counts, post: dict) -> float:
        return float(rmse(whole_counts(preds), counts))

    # 5. write the submission, and score one as the competition does
    def write(self, ctx: Context, test: Data, preds, post: dict, out: Path) -> Path:
        counts = whole_counts(preds).long().tolist()
        return write_table(out, ("image_id", "count"), zip(test.ids, counts))

    def evaluate(self, pred: Path, truth: Path) -> float:
        t, p = read_counts(truth), read_counts(pred)
        ids = align(t, p, truth, pred, column="image_id", what="test image")
        return math.sqrt(sum((t[i] - p[i]) ** 2 for i in ids) / len(ids))


def read_counts(path: Path) -> dict[str, int]:
    _, rows = read_table(path, ("image_id", "count"))
    return {i: _count(r, path) for i, r in unique_ids(rows, "image_id", path, what="image").items()}


def _count(row, path) -> int:
    try:
        return int(row["count"])
    except ValueError:
        raise DlfError(f"{row.where(path)}: count {row['count']!r} is not a whole number") from None


def draw_dots(rng: np.random.Generator, count: int, size: int = 48) -> Image.Image:
    """`count` dots of random size, colour and place, on a noisy background."""
    bg = rng.integers(0, 200, 3)
    pixels = np.clip(bg + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
    im = Image.fromarray(pixels)
    draw = ImageDraw.Draw(im)
    for _ in range(count):
        r = rng.uniform(2.5, 4.5)
        x, y = rng.uniform(r, size - r, 2)
        colour = tuple(int(v) for v in (bg + rng.integers(80, 160, 3)) % 256)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=colour)
    return im
