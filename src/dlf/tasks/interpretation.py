"""The run report's interpretation section, for every task whose model is a CNN classifier
(or a one-number regressor such as APTOS's grade): the validation items with the largest
loss, the errors of each class, and Grad-CAM heat maps on the worst of them. Tasks declare
nothing for it: a task qualifies when its outputs are one tensor per item (not maps, not
merged boxes, not decoded records), its data keeps the images for the report and its model
has a convolution to explain."""

import numpy as np
import torch

from dlf.tasks.base import Context, Data, Task
from dlf.train.interpret import Interpretation, cam_overlay, default_cam_layer, per_class_errors

#: how many of the worst validation items the report shows
WORST = 12


def _value(x: torch.Tensor, labels) -> str:
    """A target or an output as the report prints it: a class name or index, or a number."""
    x = x.float().reshape(-1)
    if len(x) > 1:  # class scores: the top class
        i = int(x.argmax())
        return labels[i] if i < len(labels) else str(i)
    v = float(x[0])
    if v.is_integer() and labels and 0 <= v < len(labels):
        return labels[int(v)]
    return f"{v:.2f}"


def interpretable(task: Task, ctx: Context, train: Data, model) -> bool:
    return (not task.dense and task.tta_merge(ctx) is None and task.decode(ctx) is None
            and train.images is not None and default_cam_layer(model) is not None)  # fmt: skip


def interpretation_report(
    task: Task, ctx: Context, learn, train: Data, valid_idx: np.ndarray, report: dict
) -> dict:
    """Report content (`tables`, `heatmaps`; see dlf.report.render_run_report) for a run whose
    task qualifies (see the module docstring); {} for any other. `report` is the task's own
    report content: its confusion matrix and labels give the per-class errors."""
    if not interpretable(task, ctx, train, learn.model):
        return {}
    try:
        interp = Interpretation.from_learner(learn)
    except ValueError:  # several outputs or targets per item: not a classifier
        return {}
    if interp.outputs.ndim > 2:
        return {}
    labels = list(report.get("labels") or [])
    worst = interp.top_losses(WORST).tolist()
    rows, heatmaps = [], []
    cams = interp.grad_cam(worst)
    for rank, (j, cam) in enumerate(zip(worst, cams), 1):
        true, out = _value(interp.targets[j], labels), _value(interp.outputs[j], labels)
        loss = float(interp.losses[j])
        item = int(valid_idx[j])
        rows.append({"rank": rank, "id": train.ids[item], "true": true, "predicted": out, "loss": loss})  # fmt: skip
        heatmaps.append({"image": cam_overlay(np.asarray(train.images[item]), cam.numpy()),
                         "title": f"{train.ids[item][:12]}: true {true} / {out}"})  # fmt: skip
    tables = {"Top losses (validation, largest first)": rows}
    if report.get("confusion") is not None and labels:
        tables["Errors per class (validation)"] = per_class_errors(report["confusion"], labels)
    return {"tables": tables, "heatmaps": heatmaps}


__all__ = ["WORST", "interpretable", "interpretation_report"]
