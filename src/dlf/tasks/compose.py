"""How the driver composes a task's parts: the same order for train, lr-find and predict."""

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlf.data.loaders import DataLoaders
from dlf.tasks.base import Context, Data, Parts, Task, TrainConfig
from dlf.tasks.options import parse_options
from dlf.tasks.plugins import MemberPart, data_from_dataset, member_parts, swap_blocks
from dlf.train.learner import Learner


@dataclass
class Training:
    """What the driver composed from a task's parts for training."""

    ctx: Context
    train: Data
    valid_idx: np.ndarray
    parts: Parts
    callbacks: list
    member: dict[str, MemberPart] = dataclasses.field(default_factory=dict)  # --use parts


def context(task: Task, cfg: TrainConfig, data: Path, log, fitted: dict | None = None) -> Context:
    """The settings every part reads, with the task's options parsed by their types."""
    opts = parse_options(task.Options, cfg.options, task.name)
    return Context(cfg=cfg, opts=opts, fitted=dict(fitted or {}), data=Path(data), log=log)


def build_training(task: Task, cfg: TrainConfig, data: Path, log) -> Training:
    """read -> columns -> facts -> split -> sampler -> loaders -> model, loss, metrics: the same
    composition for every task (the order also fixes the random draws, so runs repeat)."""
    ctx = context(task, cfg, data, log)
    member = member_parts(cfg.use)  # a member's own parts (--use), in place of the task's
    train = task.data(ctx, "train")
    if "dataset" in member:
        train = data_from_dataset(member["dataset"], ctx.data, cfg.size, train)
    ctx = dataclasses.replace(ctx, fitted=task.fit_facts(ctx, train))
    train_idx, valid_idx = task.split(ctx, train)
    sampler, callbacks = task.sampler(ctx, train, train_idx)
    dls = task.loaders(ctx, train, train_idx, valid_idx, sampler)
    model = model_with_member_parts(task.model(ctx), member)
    loss = member["loss"].obj if "loss" in member else task.loss(ctx)
    parts = Parts(dls, model, loss, task.metrics(ctx), task.metric_name)
    if member:
        log(f"your parts in this run: {'; '.join(p.label for p in member.values())}")
    return Training(ctx, train, np.asarray(valid_idx), parts, callbacks, member)


def model_with_member_parts(model, member: dict[str, MemberPart]):
    """The task's model, with a member's residual block in place of dlf's (--use)."""
    if "block" in member:
        swap_blocks(model, member["block"].obj)
    return model


def inference_loaders(task: Task, ctx: Context, test: Data, device) -> DataLoaders:
    """The task's loaders over the test split (see Task.inference_loaders)."""
    return task.inference_loaders(ctx, test, device)


def predictions(task: Task, ctx: Context, learn: Learner, dl=None) -> tuple:
    """The one inference loop, on `dl` (default: the validation set), with the task's
    activation and the run's TTA, under the learner's precision: validation scoring and the
    submission are predicted alike."""
    return learn.get_preds(dl, act=task.activation(ctx), tta=ctx.cfg.tta, dense=task.dense,
                           merge=task.tta_merge(ctx), decode=task.decode(ctx))  # fmt: skip
