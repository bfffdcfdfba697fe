"""The shape every Kaggle task shares (DESIGN.md, "One task, five parts").

A task is a set of parts, each a function of its arguments (nothing is kept on `self`
between them); the driver in `runner.py` composes them the same way for train, valid and
test, and owns the order, the run folder, the Learner and the one inference loop:

1. read + data  `data(ctx, split)`: the competition's files into `Data` (loader columns
                over cached arrays, ids, what splitting and the report need);
                `fit_facts` (vocab, channels) once from the training data; `split`;
                `sampler`; `transforms(ctx, train)`;
2. model        `model(ctx)`: a registered zoo model plus the task's head;
3. loss, metric `loss(ctx)`, `metrics(ctx)`; `activation` and `dense` say how outputs
                become predictions (and how TTA maps them back; `tta_merge` when passes
                are merged, not averaged); `decode` turns a batch into per-item results;
4. post-process `fit_postprocess(ctx, preds, targets)` on validation predictions made with
                the run's TTA, `score(ctx, preds, targets, post)`: the competition metric;
5. write        `write(ctx, test, preds, post, out)`: the submission file;
                `evaluate(pred, truth)`: the metric on files, as Kaggle scored them.

Plus `synth`: a small dataset in the real layout. Task settings are a typed `Options`
dataclass (`--option key=value`, converted by type; unknown keys refused). What a task
learns from the data (a vocab, the channel count) is `fitted`, saved apart from the
settings in config.json.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader
from dlf.report.items import ValidItems, thumbnails
from dlf.tasks.common import array_loaders
from dlf.train.tta import TTAMerge

#: defaults shared by every task, for the TrainConfig fields left as None
BASE_DEFAULTS = {
    "seed": 42,
    "precision": "auto",
    "device": "auto",
    "tta": 1,
    "sync_bn": False,
    "compile": False,
}


@dataclass
class TrainConfig:
    """Everything needed to repeat a run; written to the run's `config.json`.

    A field left as None takes the task's default (then BASE_DEFAULTS) when the run starts,
    so None also means "not given": `--resume` can tell a setting given on the command
    line from one that was not."""

    task: str
    data: str | None = None
    out: str | None = None
    epochs: int | None = None
    arch: str | None = None
    size: int | None = None
    bs: int | None = None
    lr: float | None = None
    seed: int | None = None
    precision: str | None = None
    checkpoint_every: int | None = None  # steps between mid-epoch checkpoints
    options: dict = field(default_factory=dict)  # task-specific settings
    device: str | None = None  # auto, cpu, cuda, cuda:N or mps
    tta: int | str | None = None  # TTA (dlf.train.tta.TTASpec) for validation and submission alike
    use: list[str] | None = None  # a member's own parts, KIND=FILE:NAME (dlf.tasks.plugins)
    recipe: str | None = None  # a named set of settings of the task (`Task.recipes`), or none
    sync_bn: bool | None = None  # under torchrun: batch norm statistics over all ranks
    compile: bool | None = None  # train through torch.compile
    who: str | None = None  # the member who trained it, and their one-line note (the board)
    note: str | None = None

    def fill_defaults(self, task_defaults: dict) -> "TrainConfig":
        """Set every field left as None from the task's defaults, then BASE_DEFAULTS."""
        for k, v in {**BASE_DEFAULTS, **task_defaults}.items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        return self


@dataclass
class Parts:
    """What the driver trains: the loaders, the model, the loss and the metrics."""

    dls: Any
    model: nn.Module
    loss_func: Callable
    metrics: list
    main_metric: str  # the competition metric's name, as printed by `dlf evaluate`


@dataclass
class NoOptions:
    """A task without settings of its own."""


@dataclass
class Context:
    """What every part may read: the run's settings, the task's typed options, the facts
    fitted on the training data, the data folder, and where to log. Parts never write to it."""

    cfg: "TrainConfig"
    opts: Any
    fitted: dict
    data: Path
    log: Callable[[str], None] = print


@dataclass
class Data:
    """One split of a competition, ready for the loader.

    columns: what the loader slices per batch (see dlf.data.resident): named, {"image": ...,
             "mask": ...}, for a named batch whose "image" goes to the model and the rest
             to the loss; or a list, for a positional one.
    ids:     one id per item, in the order of the files (submission rows follow it).
    strata:  an array to stratify the split by (grades, has-a-mask), or None.
    images:  uint8 N x H x W x C, for the report's picture grids (None: no grid).
    extra:   anything else a later part of the same task needs (e.g. per-item flags).
    """

    columns: dict | list
    ids: list[str]
    strata: np.ndarray | None = None
    images: np.ndarray | None = None
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)


class Task:
    name = "task"
    metric_name = "metric"
    #: whether a larger metric is better (the board sorts its leaderboard by it)
    higher_is_better: ClassVar[bool] = True
    #: defaults for the TrainConfig fields left as None
    defaults: ClassVar[dict] = {}
    #: how many items `dlf synth` writes by default, and the embedded default dataset's size
    synth_n = 200
    #: the task's own settings (`--option key=value`), a dataclass with defaults
    Options: ClassVar[type] = NoOptions
    #: outputs are image-shaped maps (TTA maps them back before averaging)
    dense: ClassVar[bool] = False
    #: what `dlf evaluate` reads besides --pred: {option name: help}; each becomes a
    #: `--name PATH` argument and reaches `evaluate` as a keyword (dashes as underscores)
    truth_inputs: ClassVar[dict[str, str]] = {"truth": "the answer key (CSV)"}
    #: the competition's Kaggle slugs: in a kernel, `/kaggle/input/<slug>/` is the default
    #: data folder (the first that exists; see dlf.core.kaggle)
    kaggle_slugs: ClassVar[tuple[str, ...]] = ()
    #: named sets of TrainConfig fields (+ "options"), `--recipe NAME`: e.g. "kaggle", the
    #: public winning-style GPU settings, with sources in docs/tasks/<task>.md
    recipes: ClassVar[dict[str, dict]] = {}

    def synth(self, folder: Path, n: int, seed: int) -> None:
        raise NotImplementedError

    # 1. read and data
    def data(self, ctx: Context, split: str) -> Data:
        """split "train" (labelled, for training and validation) or "test"."""
        raise NotImplementedError

    def fit_facts(self, ctx: Context, train: Data) -> dict:
        """Facts learnt from the training data that the model and predict need; default none."""
        return {}

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def sampler(self, ctx: Context, train: Data, train_idx: np.ndarray) -> tuple[Any, list]:
        """A training sampler and the callbacks that drive it; default: plain shuffling."""
        return None, []

    def transforms(self, ctx: Context, train: bool) -> list:
        raise NotImplementedError

    def loaders(
        self, ctx: Context, train: Data, train_idx: np.ndarray, valid_idx: np.ndarray, sampler
    ) -> DataLoaders:
        """Training and validation loaders; default: ArrayLoaders over `train.columns` with
        the task's transforms. A task whose batches are not array slices (streamed shards,
        several model inputs) builds its own."""
        train_dl, valid_dl = array_loaders(train.columns, train_idx, valid_idx, ctx.cfg.bs, sampler)
        return DataLoaders(train_dl, valid_dl, batch_tfms=self.transforms(ctx))

    def inference_loaders(self, ctx: Context, test: Data, device) -> DataLoaders:
        """Loaders over the test split whose `valid` side applies the task's inference
        transforms (those without train_only), exactly as validation batches were encoded."""
        loader = ArrayLoader(test.columns, np.arange(len(test)), bs=ctx.cfg.bs * 2)
        return DataLoaders(loader, loader, batch_tfms=self.transforms(ctx), device=device)

    # 2. model
    def model(self, ctx: Context) -> nn.Module:
        raise NotImplementedError

    # 3. loss and metric
    def loss(self, ctx: Context) -> Callable:
        raise NotImplementedError

    def metrics(self, ctx: Context) -> list:
        return []

    def activation(self, ctx: Context) -> Callable | None:
        """Raw outputs -> what post-processing and the submission work on; None: as they are."""
        return None

    def tta_merge(self, ctx: Context) -> TTAMerge | None:
        """How TTA passes of outputs that are not maps come back together (boxes are merged,
        not averaged); None: averaged (mapped back first when `dense`)."""
        return None

    def decode(self, ctx: Context) -> Callable | None:
        """A batch of activated outputs -> a list of per-item results (ragged: boxes per
        image); None: predictions stay one tensor."""
        return None

    # 4. post-processing and the competition metric on validation
    def fit_postprocess(self, ctx: Context, preds, targets) -> dict:
        """Settings fitted on validation predictions (thresholds, ...); default none."""
        return {}

    def score(self, ctx: Context, preds, targets, post: dict) -> float:
        raise NotImplementedError

    def report(
        self, ctx: Context, train: Data, valid_idx: np.ndarray, preds, targets, post: dict
    ) -> dict:
        """Extra report content: `confusion`, `labels`, `samples` (see dlf.report), from the
        validation predictions; `train.images[valid_idx]` are the validation images."""
        return {}

    def valid_items(
        self, ctx: Context, train: Data, valid_idx: np.ndarray, preds, targets, post: dict
    ) -> ValidItems | None:
        """What each validation item looks like, for the meetup board (dlf.report.items):
        its kind, truth and prediction. Default: one class per item when the predictions are
        N x C class scores and the targets N class indices (names from `fitted["vocab"]`);
        None (no items on the board) otherwise. Tasks with masks, boxes or sets override it."""
        if not (isinstance(preds, torch.Tensor) and preds.ndim == 2):
            return None
        if not (
            isinstance(targets, torch.Tensor) and targets.ndim == 1 and len(targets) == len(preds)
        ):
            return None
        classes = [str(c) for c in ctx.fitted.get("vocab", range(preds.shape[1]))]
        ids = [train.ids[i] for i in valid_idx]
        conf, pred = preds.float().max(1)
        images = None if train.images is None else train.images[valid_idx]
        return ValidItems("label", ids, [classes[int(t)] for t in targets],
                          [classes[int(p)] for p in pred], classes=classes,
                          images=thumbnails(ids, images), note=[f"{c:.2f}" for c in conf.tolist()])  # fmt: skip

    # 5. write the submission, and score one as Kaggle did
    def write(self, ctx: Context, test: Data, preds, post: dict, out: Path) -> Path:
        raise NotImplementedError

    def evaluate(self, pred: Path, truth: Path) -> float:
        """The metric of submission `pred` against the answer key; a task with other truth
        inputs (`truth_inputs`) takes them as keywords instead of `truth`."""
        raise NotImplementedError
