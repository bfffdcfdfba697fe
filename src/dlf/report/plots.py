"""Plots for run reports, rendered to PNG bytes with matplotlib's Agg backend (no display).

Figures are made without pyplot, so drawing a report neither opens a window nor switches
the backend of whoever imported dlf (a notebook keeps its inline plots)."""

import io
import textwrap
from collections.abc import Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle


def _figure(**kw) -> Figure:
    fig = Figure(**kw)
    FigureCanvasAgg(fig)  # an Agg canvas of its own: text extents can be measured
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")  # Agg, whatever the backend
    return buf.getvalue()


def plot_curves(
    rows: Sequence[dict], metric_names: Sequence[str], runs: Sequence[str] | None = None
) -> bytes:
    """Loss (left) and metrics (right) per epoch. `rows` may hold several runs (a `run` key)."""
    fig = _figure(figsize=(10, 3.6))
    ax_loss, ax_metric = fig.subplots(1, 2)
    groups = {}
    for r in rows:
        groups.setdefault(r.get("run", ""), []).append(r)
    for run, rs in groups.items():
        epochs = [r["epoch"] for r in rs]
        prefix = f"{run} " if run else ""
        ax_loss.plot(epochs, [r["train_loss"] for r in rs], marker="o", label=f"{prefix}train")
        ax_loss.plot(epochs, [r["valid_loss"] for r in rs], marker="o", label=f"{prefix}valid")
        for m in metric_names:
            ax_metric.plot(epochs, [r.get(m, np.nan) for r in rs], marker="o", label=f"{prefix}{m}")
    ax_loss.set(title="loss", xlabel="epoch")
    ax_metric.set(title="metrics", xlabel="epoch")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=8)
    return _png(fig)


def plot_schedule(lrs: Sequence[float], losses: Sequence[float]) -> bytes:
    """Learning rate and training loss per step."""
    fig = _figure(figsize=(10, 3.2))
    ax_lr, ax_loss = fig.subplots(1, 2)
    ax_lr.plot(lrs)
    ax_lr.set(title="learning rate (head group)", xlabel="step")
    ax_loss.plot(losses, alpha=0.4, label="batch")
    if len(losses) > 10:
        k = max(2, len(losses) // 30)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax_loss.plot(np.arange(k - 1, len(losses)), smooth, label=f"mean of {k}")
    ax_loss.set(title="training loss", xlabel="step")
    ax_loss.legend(fontsize=8)
    for ax in (ax_lr, ax_loss):
        ax.grid(alpha=0.3)
    return _png(fig)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str]) -> bytes:
    """Counts per (actual, predicted) class. Long class names are wrapped and the cells
    widened to fit them; names that would still collide are set on one line (the predicted
    ones upright)."""
    matrix = np.asarray(matrix)
    n = len(labels)
    wrapped = [textwrap.fill(str(s), 14, max_lines=3, placeholder="...") for s in labels]
    one_line = [textwrap.shorten(str(s), 30, placeholder="...") for s in labels]
    fig = _figure()
    ax = fig.subplots()
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), wrapped, fontsize=9)
    ax.set_yticks(range(n), wrapped, fontsize=9)
    ax.set(xlabel="predicted", ylabel="actual", title="confusion matrix")
    top = matrix.max() if matrix.size else 0
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            color = "white" if matrix[i, j] > top / 2 else "black"
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", color=color, fontsize=9)
    # Cells as wide as the widest name, within a figure of about 12 inches: a fixed 0.6 inch
    # let "no pneumothorax" run into "pneumothorax" on SIIM's two-class matrix.
    widest = max((_extent(t).width for t in ax.get_xticklabels()), default=0.0) / fig.dpi
    cell = min(max(0.6, widest + 0.15), 1.4, max(0.3, 12 / max(n, 1)))
    fig.set_size_inches(1.0 + cell * n, 0.8 + cell * n)
    fig.canvas.draw()  # place the ticks at this size before measuring where they fall
    if _collide(ax.get_xticklabels()):
        ax.set_xticks(range(n), one_line, fontsize=9, rotation=90)
    if _collide(ax.get_yticklabels()):
        ax.set_yticks(range(n), one_line, fontsize=9)
    return _png(fig)


def _extent(text):
    return text.get_window_extent(text.figure.canvas.get_renderer())


def _collide(texts) -> bool:
    """Do any two of these drawn texts overlap?"""
    boxes = [_extent(t) for t in texts if t.get_text()]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1 :])


def plot_samples(samples: Sequence[dict], cols: int = 6) -> bytes:
    """A grid of images titled 'true / pred'; each sample has `image` (HxWx3 or HxW uint8),
    `title`, and optionally `mask` (HxW bool) drawn as an overlay, `pred_mask` as a contour,
    `boxes` (true, solid yellow) and `pred_boxes` (dashed cyan) as (x1, y1, x2, y2, text) in
    the image's pixels, and `bad` (red title)."""
    n = max(1, len(samples))
    rows = (n + cols - 1) // cols
    fig = _figure(figsize=(2.0 * cols, 2.2 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, s in zip(axes.flat, samples):
        img = np.asarray(s["image"])
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        if s.get("mask") is not None:
            ax.imshow(
                np.ma.masked_where(~np.asarray(s["mask"], bool), np.ones(img.shape[:2])),
                cmap="autumn",
                alpha=0.4,
            )
        if s.get("pred_mask") is not None:
            ax.contour(
                np.asarray(s["pred_mask"], float), levels=[0.5], colors="cyan", linewidths=0.8
            )
        for key, colour, style in (("boxes", "yellow", "-"), ("pred_boxes", "cyan", "--")):
            for x1, y1, x2, y2, text in s.get(key) or ():
                ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                           edgecolor=colour, linestyle=style, linewidth=0.8))  # fmt: skip
                ax.text(x1, y1, text, fontsize=5, color=colour, va="bottom")
        ax.set_title(s.get("title", ""), fontsize=8, color="red" if s.get("bad") else "black")
    return _png(fig)


def plot_lr_find(lrs: Sequence[float], losses: Sequence[float], suggestions) -> bytes:
    """The learning-rate sweep (`dlf.train.LRFinder`): loss against lr, suggestions marked."""
    from dlf.train.lr_find import draw_lr_find

    fig = _figure(figsize=(6, 4))
    ax = fig.subplots()
    draw_lr_find(ax, lrs, losses, suggestions)
    return _png(fig)
