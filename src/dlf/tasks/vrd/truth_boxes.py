"""The heads of a trained vrd run scored alone: the validation images' own truth boxes
(score 1) take the detector's place, so the figure compares with the prior on the same
truth boxes and says what the heads read from the pixels, whatever the detector finds."""

from pathlib import Path

import torch

from dlf.tasks.compose import context
from dlf.tasks.runner import load_run
from dlf.tasks.vrd.metric import VrdResult, vrd_score
from dlf.tasks.vrd.predict import rows_to_triplets, to_rows
from dlf.tasks.vrd.task import VrdTask, _truth
from dlf.train.checkpoint import load_weights


def heads_on_truth_boxes(run: Path, data: Path | None = None) -> tuple[VrdResult, VrdResult]:
    """(the run's heads on the validation truth boxes, the prior on the same boxes)."""
    task, run = VrdTask(), Path(run)
    cfg, fitted, _ = load_run(task, run)
    ctx = context(task, cfg, Path(data or cfg.data), lambda _: None, fitted)
    train = task.data(ctx, "train")
    train_idx, valid_idx = task.split(ctx, train)
    dls = task.loaders(ctx, train, train_idx, valid_idx, None).to("cpu")
    model = task.model(ctx).eval()
    load_weights(model, run / "model.safetensors")
    rows, targets = [], []
    with torch.no_grad():
        for batch in dls.valid:
            labels = batch["box_labels"].long()
            level = model.detector.pyramid(batch["image"])[0]
            ranked = model.rank_boxes(level, batch["boxes"].float(), (labels >= 0).float(), labels)
            rows += to_rows(ranked, cfg.size)
            targets.append(tuple(batch[k] for k in ("boxes", "box_labels", "triplets", "verified")))
    targets = tuple(torch.cat(t) for t in zip(*targets))
    ids = [f"{i:08d}" for i in range(len(rows))]
    truth, verified = _truth(targets, ids, fitted["labels"])
    heads = vrd_score(truth, verified, rows_to_triplets(rows, ids, fitted["labels"]))
    return heads, task._result(ctx, None, targets)


__all__ = ["heads_on_truth_boxes"]
