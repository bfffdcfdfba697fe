"""The board's figures: runs' curves overlaid (by epoch and by wall-clock time) and the items
runs disagree on, drawn once per run. PNG bytes, like dlf.report.plots."""

import io
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
from PIL import Image

from dlf.report.plots import _png

LOSS_KEYS = ("epoch", "train_loss", "valid_loss", "seconds")


@dataclass
class Curves:
    """One run's curves: metrics.csv rows and the thinned per-step learning rate."""

    label: str
    rows: list[dict]
    lr: dict  # {"every": k, "values": [...], "steps": n} from board.json; {} if unknown


def run_colours(n: int) -> list[str]:
    """The colour of each run's curves, as hex (tab10, repeated past ten runs)."""
    return [matplotlib.colors.to_hex(plt.get_cmap("tab10")(k % 10)) for k in range(n)]


def metric_column(rows: Sequence[dict], preferred: str | None) -> str | None:
    """The metric to plot: the competition metric when the learner recorded it, else the first."""
    names = [k for k in (rows[0] if rows else {}) if k not in LOSS_KEYS]
    return preferred if preferred in names else (names[0] if names else None)


def _epoch_ends(rows: Sequence[dict], unit: float) -> tuple[np.ndarray, np.ndarray]:
    """Epoch numbers from 1 and the wall-clock time (seconds / unit) at which each ended."""
    epochs = np.array([r["epoch"] + 1 for r in rows], float)
    times = np.cumsum([r.get("seconds", np.nan) for r in rows]) / unit
    return epochs, times


def plot_overlaid(curves: Sequence[Curves], metric: str | None) -> bytes:
    """Loss, metric and learning rate of every run (one colour each): top row by epoch,
    bottom row by wall-clock minutes (a fast run that ends early shows as a short line).
    Training loss dashed, validation loss solid."""
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.6))
    colours = run_colours(len(curves))
    longest = max((sum(r.get("seconds", 0) for r in c.rows) for c in curves), default=0)
    unit, unit_name = (60, "minutes") if longest > 180 else (1, "seconds")
    for k, c in enumerate(curves):
        if not c.rows:
            continue
        colour = colours[k]
        epochs, minutes = _epoch_ends(c.rows, unit)
        col = metric_column(c.rows, metric)
        for row, x in ((0, epochs), (1, minutes)):
            ax_loss, ax_metric, ax_lr = axes[row]
            ax_loss.plot(x, [r["train_loss"] for r in c.rows], "--x", color=colour, alpha=0.7, ms=4)
            ax_loss.plot(x, [r["valid_loss"] for r in c.rows], "-o", color=colour, ms=3)
            if col:
                ax_metric.plot(x, [r.get(col, np.nan) for r in c.rows], "-o", color=colour, ms=3)
            if c.lr.get("values") and c.lr.get("steps"):
                # steps -> epochs (steps spread evenly over epochs), then epochs -> minutes
                step_epochs = (
                    np.arange(len(c.lr["values"])) * c.lr["every"] / c.lr["steps"] * len(c.rows)
                )
                t = (
                    step_epochs
                    if row == 0
                    else np.interp(step_epochs, np.r_[0, epochs], np.r_[0, minutes])
                )
                ax_lr.plot(t, c.lr["values"], color=colour)
    for row, xlabel in ((0, "epoch"), (1, f"wall-clock {unit_name}")):
        shown = next((metric_column(c.rows, metric) for c in curves if c.rows), None)
        titles = (
            "loss (valid solid, train dashed)",
            f"validation {shown or 'metric'}",
            "learning rate",
        )
        for ax, title in zip(axes[row], titles):
            ax.set(title=title, xlabel=xlabel)
            ax.grid(alpha=0.3)
    # no legend in the picture: the page names the colours in text (run_colours), which wraps
    # and stays readable however many runs and however long their names
    fig.tight_layout()
    return _png(fig)


def _draw_item(ax, image, mask=None, boxes=(), colour="cyan", title="", bad=False) -> None:
    image = np.asarray(image)
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
    h, w = image.shape[:2]
    if mask is not None and np.any(mask):
        ax.imshow(np.ma.masked_where(~np.asarray(mask, bool), np.ones(mask.shape)),
                  cmap="autumn" if colour == "yellow" else "cool", alpha=0.45,
                  extent=(-0.5, w - 0.5, h - 0.5, -0.5))  # fmt: skip
    for x1, y1, x2, y2, name in boxes:
        ax.add_patch(plt.Rectangle((x1 * w, y1 * h), (x2 - x1) * w, (y2 - y1) * h, fill=False,
                                   edgecolor=colour, linewidth=1.2))  # fmt: skip
        ax.text(x1 * w, y1 * h, str(name), fontsize=7, color=colour, va="bottom")
    ax.set_title(title, fontsize=9, color="#b00" if bad else "black")
    ax.axis("off")


def plot_item_row(image, truth: dict, preds: Sequence[dict], cols: int = 5) -> bytes:
    """One item: the truth, then each run's masks or boxes drawn on the same picture.
    truth/preds: {"title", and "mask" (h x w bool) or "boxes" ([x1, y1, x2, y2, name] in 0-1)}."""
    panels = [dict(truth, colour="yellow"), *(dict(p, colour="cyan") for p in preds)]
    cols = min(cols, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, p in zip(axes.flat, panels):
        _draw_item(
            ax,
            image,
            p.get("mask"),
            p.get("boxes", ()),
            p["colour"],
            p["title"],
            p.get("bad", False),
        )
    return _png(fig)


def thumbnail_png(image) -> bytes:
    """A thumbnail as PNG bytes, pixels as they are."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buf, format="png")
    return buf.getvalue()


__all__ = [
    "Curves",
    "metric_column",
    "plot_item_row",
    "plot_overlaid",
    "run_colours",
    "thumbnail_png",
]
