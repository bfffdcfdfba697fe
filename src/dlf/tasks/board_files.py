"""What a run saves at training time for the meetup board (`dlf meetup`): the facts measured
during training (`board.json`) and the validation items as the task declares them
(`valid_items.json`/`.npz`). Written once, after the validation score, into the run folder."""

import dataclasses
import json
import math
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from dlf.core.atomic import atomic_write_text
from dlf.report.items import save_items
from dlf.report.runs import BOARD_JSON
from dlf.tasks.base import Task, TrainConfig
from dlf.tasks.options import options_dict, parse_options
from dlf.train.learner import Learner

MAX_LR_POINTS = 400  # the learning-rate curve, thinned: enough for a plot, small on disk


def bare_model(learn: Learner) -> torch.nn.Module:
    """The model without a DistributedDataParallel wrapper: the board's figures are taken on
    the main rank alone, and a wrapped forward could wait for the other ranks."""
    return getattr(learn.model, "module", learn.model)


def forward_flops(learn: Learner) -> int | None:
    """FLOPs of one forward pass per item, counted by torch's FlopCounterMode on the first
    validation batch; None when the model's ops cannot be counted (a custom kernel)."""
    batch = next(iter(learn.dls.valid), None)
    if batch is None:
        return None
    xb, _ = learn.dls.split(batch)
    n = len(xb[0])
    model = bare_model(learn)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(*xb)
        return counter.get_total_flops() // max(1, n)
    except (RuntimeError, NotImplementedError, TypeError):
        return None  # a figure the board can go without; the run itself is fine
    finally:
        model.train(was_training)


def default_settings(task: Task) -> dict:
    """The settings a run given no options would have: the board names defaults with them."""
    cfg = TrainConfig(task=task.name).fill_defaults(task.defaults)
    cfg.options = options_dict(parse_options(task.Options, {}, task.name))
    return dataclasses.asdict(cfg)


def _median(xs: list[float]) -> float | None:
    xs = sorted(x for x in xs if not math.isnan(x))
    return xs[len(xs) // 2] if xs else None


def write_board_files(
    task: Task, run: Path, learn: Learner, ctx, train, valid_idx, preds, target, post
) -> None:
    """board.json (facts, lr curve, defaults) and the task's validation items, if it has any."""
    rec = learn.recorder
    lrs = list(rec.lrs)
    step = max(1, math.ceil(len(lrs) / MAX_LR_POINTS))
    facts = {
        "params": sum(p.numel() for p in bare_model(learn).parameters()),
        "flops_per_item": forward_flops(learn),
        "train_seconds": sum(s["train_seconds"] for s in rec.stats),
        "items_per_second": _median([s["items_per_second"] for s in rec.stats]),
        "device": str(learn.device),
        "precision": learn.precision.name,
    }
    board = {
        "facts": facts,
        "higher_is_better": task.higher_is_better,
        "defaults": default_settings(task),
        # the lr of every `step`-th training step, and how many steps an epoch had
        "lr": {"every": step, "values": lrs[::step], "steps": len(lrs)},
    }
    atomic_write_text(run / BOARD_JSON, json.dumps(board, indent=1))
    items = task.valid_items(ctx, train, valid_idx, preds, target, post)
    if items is not None:
        save_items(run, items)


__all__ = ["default_settings", "forward_flops", "write_board_files"]
