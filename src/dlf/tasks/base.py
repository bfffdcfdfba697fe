"""The shape every Kaggle task shares (DESIGN.md, "One task, five parts").

A task module subclasses `Task` and fills in its parts:

1. read     the competition's real files into items (`read_train`, `read_test`);
2. data     items into `DataLoaders` (`dataloaders`);
3. model    a zoo model plus the task's head (`model`);
4. loss and metric, the metric exactly as the competition defines it (`loss`, `metrics`,
            `fit_postprocess` for thresholds fitted on validation, `evaluate` on files);
5. predict and write the submission file (`predict`).

Plus `synth`: a small dataset in the real layout. The shared driver in `runner.py` does
everything else (run folder, config, logging, checkpoints, report), once for all tasks.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from torch import nn

from dlf.data.loaders import DataLoaders

#: defaults shared by every task, for the TrainConfig fields left as None
BASE_DEFAULTS = {"seed": 42, "precision": "auto", "device": "auto"}


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

    def fill_defaults(self, task_defaults: dict) -> "TrainConfig":
        """Set every field left as None from the task's defaults, then BASE_DEFAULTS."""
        for k, v in {**BASE_DEFAULTS, **task_defaults}.items():
            if getattr(self, k) is None:
                setattr(self, k, v)
        return self


@dataclass
class Parts:
    """What a task hands the driver for training."""

    dls: DataLoaders
    model: nn.Module
    loss_func: object
    metrics: list
    main_metric: str  # the competition metric's name, as printed by `dlf evaluate`


class Task:
    name = "task"
    metric_name = "metric"
    #: defaults for the TrainConfig fields left as None
    defaults: ClassVar[dict] = {}
    #: how many items `dlf synth` writes by default, and the embedded default dataset's size
    synth_n = 200

    def synth(self, folder: Path, n: int, seed: int) -> None:
        raise NotImplementedError

    def build(self, cfg: TrainConfig, data: Path, log) -> Parts:
        raise NotImplementedError

    def fit_postprocess(self, learn, cfg: TrainConfig) -> dict:
        """Settings fitted on validation (thresholds, ...) stored in config.json; default none."""
        return {}

    def final_score(self, learn, cfg: TrainConfig, post: dict) -> float:
        """The competition metric on the validation set, after post-processing."""
        return learn.validate()[self.metric_name]

    def report_extras(self, learn, cfg: TrainConfig, post: dict) -> dict:
        """Extra report content: `confusion`, `labels`, `samples` (see dlf.report)."""
        return {}

    def extra_callbacks(self, cfg: TrainConfig) -> list:
        """Task-specific training callbacks (e.g. a sampler schedule); default none."""
        return []

    def build_model(self, cfg: TrainConfig) -> nn.Module:
        raise NotImplementedError

    def predict(
        self, model: nn.Module, cfg: TrainConfig, post: dict, data: Path, out: Path, tta: int, log
    ) -> Path:
        raise NotImplementedError

    def evaluate(self, truth: Path, pred: Path) -> float:
        raise NotImplementedError
