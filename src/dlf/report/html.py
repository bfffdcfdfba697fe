"""`report.html`: one self-contained page per run (every image inline, no network), and a
side-by-side page for several runs, for the meetup."""

import base64
import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.report.plots import plot_confusion, plot_curves, plot_samples, plot_schedule

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; font-size: 0.9em; } td, th { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: right; }
th { background: #f6f6f6; } td.k { text-align: left; color: #555; } img { max-width: 100%; }
.big { font-size: 1.3em; font-weight: 600; } pre { background: #f6f6f6; padding: 8px; overflow-x: auto; }
"""


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _setting(v) -> str:
    """A setting as written, its floats to 6 significant digits at most: a fitted threshold
    reads 0.523457, not 0.5234567891234567, and a typed 0.001 stays 0.001."""
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.6g}"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k!r}: {_setting(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_setting(x) for x in v) + "]"
    return str(v)


def _score(v) -> str:
    """A loss, metric or time: 4 significant digits, trailing zeros kept so a column lines up."""
    if not isinstance(v, (float, np.floating)):
        return str(v)
    text = f"{float(v):#.4g}"
    return text.rstrip(".") if "e" not in text else text


def _kv_table(d: dict) -> str:
    rows = "".join(
        f'<tr><td class="k">{html.escape(str(k))}</td><td>{html.escape(_setting(v))}</td></tr>'
        for k, v in d.items()
    )
    return f"<table>{rows}</table>"


def _rows_table(rows: Sequence[dict]) -> str:
    if not rows:
        return "<p>no epochs recorded</p>"
    keys = list(rows[0].keys())
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)

    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_score(r.get(k, '')))}</td>" for k in keys) + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_run_report(
    title: str,
    config: dict,
    environment: dict,
    rows: Sequence[dict],
    metric_names: Sequence[str],
    lrs: Sequence[float] = (),
    losses: Sequence[float] = (),
    stats: Sequence[dict] = (),
    final: dict | None = None,
    confusion: np.ndarray | None = None,
    labels: Sequence[str] = (),
    samples: Sequence[dict] = (),
    tables: dict[str, Sequence[dict]] | None = None,
    samples_heading: str = "Validation images, worst errors first",
    heatmaps: Sequence[dict] = (),
) -> str:
    """The HTML text of a run report. tables: a task's own tables ({heading: rows}), e.g.
    the average precision of each class, and the interpretation's (top losses, errors per
    class); heatmaps: Grad-CAM overlays on the worst validation items (dlf.train.interpret),
    as `samples`."""
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]  # fmt: skip
    if final:
        parts.append(
            '<p class="big">'
            + ", ".join(f"{html.escape(k)} {_score(v)}" for k, v in final.items())
            + "</p>"
        )
    parts.append("<h2>Epochs</h2>" + _rows_table(rows))
    if rows:
        parts.append(_img(plot_curves(rows, metric_names), "loss and metric curves"))
    if lrs:
        parts.append(
            "<h2>Learning-rate schedule and training loss</h2>"
            + _img(plot_schedule(lrs, losses), "schedule")
        )
    if stats:
        secs = sum(s.get("train_seconds", 0.0) for s in stats)
        speed = np.median([s["items_per_second"] for s in stats])
        wait = np.median([s["data_wait_share"] for s in stats])
        parts.append("<h2>Speed</h2>" + _kv_table({
            "training time": f"{secs:.1f} s",
            "throughput (median over epochs)": f"{speed:.1f} images/s",
            "time waiting for data (median share of training time)": f"{100 * wait:.1f}%",
        }))  # fmt: skip
    if confusion is not None:
        parts.append(
            "<h2>Confusion matrix (validation)</h2>"
            + _img(plot_confusion(confusion, labels), "confusion matrix")
        )
    if samples:
        parts.append(
            f"<h2>{html.escape(samples_heading)}</h2>"
            + _img(plot_samples(samples), "validation samples")
        )
    if heatmaps:
        parts.append(
            "<h2>Where the model looked: Grad-CAM on the largest validation losses</h2>"
            "<p>Red: the regions that raised the explained output most (the predicted class, "
            "or the regression output), from the last feature stage.</p>"
            + _img(plot_samples(heatmaps), "Grad-CAM heat maps")
        )
    for heading, table in (tables or {}).items():
        parts.append(f"<h2>{html.escape(heading)}</h2>" + _rows_table(table))
    parts.append("<h2>Configuration</h2>" + _kv_table(config))
    parts.append("<h2>Environment</h2>" + _kv_table(environment))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_run_report(path: str | Path, **kw) -> Path:
    path = Path(path)
    atomic_write_text(path, render_run_report(**kw))
    return path


def read_metrics_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for r in rows:
        out.append({k: (int(v) if k == "epoch" else float(v)) for k, v in r.items()})
    return out


def compare_runs(run_dirs: Sequence[str | Path], out: str | Path) -> Path:
    """A page with the runs' curves overlaid and their configs side by side."""
    rows, configs, metric_names = [], {}, []
    for d in map(Path, run_dirs):
        if not (d / "metrics.csv").is_file():
            raise DlfError(
                f"{d}: no metrics.csv here; pass the folders that `dlf train --out` wrote"
            )
        name = d.name
        for r in read_metrics_csv(d / "metrics.csv"):
            rows.append({"run": name, **r})
        cfg_path = d / "config.json"
        configs[name] = json.loads(cfg_path.read_text()) if cfg_path.is_file() else {}
        for k in rows[-1]:
            if (
                k not in ("run", "epoch", "train_loss", "valid_loss", "seconds")
                and k not in metric_names
            ):
                metric_names.append(k)
    keys = sorted({k for c in configs.values() for k in c})
    head = "<tr><th>setting</th>" + "".join(f"<th>{html.escape(n)}</th>" for n in configs) + "</tr>"
    body = "".join(
        f'<tr><td class="k">{html.escape(k)}</td>'
        + "".join(f"<td>{html.escape(_setting(c.get(k, '')))}</td>" for c in configs.values())
        + "</tr>"
        for k in keys
    )
    last = [max((r for r in rows if r["run"] == n), key=lambda r: r["epoch"]) for n in configs]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>dlf: comparing runs</title><style>{STYLE}</style></head><body>"
        f"<h1>Comparing {len(configs)} runs</h1><h2>Last epoch of each</h2>{_rows_table(last)}"
        f"<h2>Curves</h2>{_img(plot_curves(rows, metric_names), 'curves')}"
        f"<h2>Settings</h2><table>{head}{body}</table></body></html>"
    )
    out = Path(out)
    atomic_write_text(out, page)
    return out
