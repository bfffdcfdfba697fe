"""The meetup board: members' runs side by side in one self-contained page (and Markdown).

For each task among the runs: a leaderboard on the competition metric, what each member did
differently (only the settings that differ, in plain words, defaults named, members' own
parts), the curves overlaid by epoch and by wall-clock time, and where the models disagree
(confusion matrices and per-class scores for labels; the items runs disagree on most, each
shown once with every run's prediction). Nothing here knows a task: items come in the kinds
of dlf.report.items, declared by each task at training time.
"""

import base64
import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dlf.core.atomic import atomic_write_bytes, atomic_write_text
from dlf.report.board_plots import Curves, plot_item_row, plot_overlaid, run_colours, thumbnail_png
from dlf.report.items import ValidItems, distance
from dlf.report.plots import plot_confusion
from dlf.report.runs import RunRecord

#: settings in plain words; options are "option NAME"; these are not settings to compare
WORDS = {"arch": "model", "size": "image size (pixels)", "bs": "batch size", "lr": "peak learning rate",
         "epochs": "epochs", "seed": "random seed", "precision": "precision asked for",
         "tta": "test-time augmentation passes", "data": "data folder", "device": "device asked for",
         "checkpoint_every": "checkpoint every N steps", "recipe": "recipe (--recipe)",
         "sync_bn": "batch norm over all processes", "compile": "torch.compile"}  # fmt: skip
NOT_SETTINGS = ("task", "out", "who", "note", "use")
MAX_ITEMS = 12  # disagreed items shown per task

STYLE = """
body { font-family: system-ui, sans-serif; font-size: 17px; margin: 1.2em auto; max-width: 1220px;
       padding: 0 16px; color: #1a1a1a; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { font-size: 1.35em; margin-top: 1.8em; border-bottom: 2px solid #ccc; }
h3 { font-size: 1.1em; margin: 1.2em 0 0.4em; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
td, th { padding: 5px 8px; border-bottom: 1px solid #e3e3e3; text-align: right; overflow-wrap: anywhere; vertical-align: top; }
th { background: #f0f0f0; font-size: 0.82em; } td.k, th.k { text-align: left; } tr.best td { background: #eef7ee; font-weight: 600; }
.muted { color: #666; } .default { color: #777; font-size: 0.85em; }
img { max-width: 100%; height: auto; display: block; }
.row { display: flex; flex-wrap: wrap; gap: 16px; } figure { margin: 0; max-width: 280px; }
figcaption { font-weight: 600; margin-bottom: 4px; overflow-wrap: anywhere; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(280px, 1fr)); gap: 14px; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: 8px; }
.card img { width: 120px; image-rendering: pixelated; margin-bottom: 6px; }
.card td { font-size: 0.9em; padding: 2px 4px; } .card td:first-child { width: 48%; } .ok { color: #176d17; } .bad { color: #b00000; }
.item { margin-bottom: 14px; }
.legend { display: flex; flex-wrap: wrap; gap: 6px 22px; margin: 6px 0; }
.swatch { overflow-wrap: anywhere; } .swatch b { display: inline-block; width: 26px; height: 5px; margin: 0 6px 4px 0; }
"""


def _b64(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="{_b64(png)}">'


def esc(x) -> str:
    return html.escape(str(x))


# -- numbers in words --------------------------------------------------------------------
def human_count(n: float | None, unit: str = "") -> str:
    if n is None:
        return "—"
    for size, suffix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}{unit}"
    return f"{n:.3g}{' ' + unit if unit else ''}"


def human_seconds(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 120:
        return f"{s:.1f} s"
    m, s = divmod(round(s), 60)
    return f"{m} min {s} s" if m < 60 else f"{m // 60} h {m % 60} min"


def setting_text(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, dict):
        return ", ".join(f"{k}={setting_text(x)}" for k, x in v.items()) or "none"
    return "—" if v is None else str(v)


# -- the pieces of a task's section ------------------------------------------------------
@dataclass
class Section:
    """One task's part of the board, as HTML and as Markdown (with its figures)."""

    html: str
    md: str
    figures: dict[str, bytes]


def ranked(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """Best first on the validation metric, respecting its direction; runs without one last."""

    def key(r):
        m = r.metric
        if m is None or m[1] is None or np.isnan(m[1]):
            return (1, 0.0)
        return (0, -m[1] if r.higher_is_better else m[1])

    return sorted(runs, key=key)


def leaderboard_rows(runs: Sequence[RunRecord]) -> tuple[list[str], list[list[str]]]:
    """The leaderboard as text cells: one row per run, best first."""
    metric = next((r.metric[0] for r in runs if r.metric), "metric")
    has_test = any(r.test for r in runs)
    head = ["#", "run", "note", f"{metric} (valid)"] + ([f"{metric} (test)"] if has_test else [])
    head += ["params", "FLOPs / item", "train time", "images/s", "precision", "device"]
    rows = []
    for k, r in enumerate(ranked(runs), 1):
        f = r.facts
        value = r.metric[1] if r.metric else None
        row = [str(k), r.label, r.note or "—", "—" if value is None else f"{value:.4f}"]
        if has_test:
            row.append(next((f"{v:.4f}" for v in r.test.values()), "—"))
        row += [human_count(f.get("params")), human_count(f.get("flops_per_item")),
                human_seconds(f.get("train_seconds")),
                "—" if f.get("items_per_second") is None else f"{f['items_per_second']:.0f}",
                f.get("precision", "—"), f.get("device", "—")]  # fmt: skip
        rows.append(row)
    return head, rows


def flat_settings(config: dict) -> dict[str, object]:
    """A run's settings (config.json's "config") by plain name, task options as 'option NAME'."""
    out = {}
    for k, v in config.items():
        if k in NOT_SETTINGS:
            continue
        if k == "options":
            for ok, ov in (v or {}).items():
                out[f"option {ok.replace('_', ' ')}"] = ov
        elif k == "data":
            out[WORDS[k]] = Path(str(v)).name if v else v  # where it lies differs per machine
        else:
            out[WORDS.get(k, k.replace("_", " "))] = v
    return out


def own_parts(r: RunRecord) -> str:
    """The member's own parts a run used (config.json's "use": KIND=FILE:NAME, written by
    `dlf train --use`), in words, the file by its name (where it lay is the member's machine)."""
    use = r.config.get("use") or r.saved.get("use")
    if not use:
        return "dlf's own"
    parts = []
    for spec in [use] if isinstance(use, str) else use:
        kind, eq, rest = str(spec).partition("=")
        if not eq or ":" in kind:  # no KIND= before the file
            kind, rest = "", str(spec)
        file, colon, name = rest.rpartition(":")
        text = f"{Path(file).name}:{name}" if colon else rest
        parts.append(f"{kind}: {text}" if kind else text)
    return "; ".join(parts)


def settings_diff(runs: Sequence[RunRecord]) -> tuple[list[str], list[list[str]]]:
    """Only the settings that differ between the runs; a value equal to the task's default
    is marked '(default)'; plus a row of the members' own parts when any run used one."""
    flats = [flat_settings(r.config) for r in runs]
    defaults = [flat_settings(r.board.get("defaults", {})) for r in runs]
    keys = list(dict.fromkeys(k for f in flats for k in f))
    rows = []
    for k in keys:
        values = [f.get(k) for f in flats]
        if all(v == values[0] for v in values):
            continue
        cells = []
        for v, d in zip(values, defaults):
            text = setting_text(v)
            cells.append(f"{text} (default)" if k in d and d[k] == v else text)
        rows.append([k, *cells])
    parts = [own_parts(r) for r in runs]
    if any(p != "dlf's own" for p in parts):
        rows.append(["member's own parts", *parts])
    return ["setting", *[r.label for r in runs]], rows


def common_items(runs: Sequence[RunRecord]) -> tuple[str, list[str]] | None:
    """The item kind and the ids every run predicted (runs without items, or of another
    kind than the first, are left out by the caller)."""
    with_items = [r for r in runs if r.items is not None]
    if not with_items:
        return None
    kind = with_items[0].items.kind
    ids = set(with_items[0].items.ids)
    for r in with_items[1:]:
        ids &= set(r.items.ids)
    return kind, [i for i in with_items[0].items.ids if i in ids]


def _pred(items: ValidItems, index: dict, i: str, which: str = "pred"):
    k = index[i]
    if items.kind == "mask":
        return (items.pred_masks if which == "pred" else items.true_masks)[k]
    return (items.pred if which == "pred" else items.true)[k]


def disagreements(
    runs: Sequence[RunRecord], ids: Sequence[str], top: int = MAX_ITEMS
) -> list[tuple[str, float]]:
    """Items ranked by how much the runs' predictions differ: the mean distance over pairs of
    runs (dlf.report.items.distance), ties broken by the mean distance to the truth. Only
    items some pair of runs disagrees on; with a single run, its errors, worst first."""
    indexes = [{i: k for k, i in enumerate(r.items.ids)} for r in runs]
    kind = runs[0].items.kind
    scored = []
    for i in ids:
        preds = [_pred(r.items, ix, i) for r, ix in zip(runs, indexes)]
        pairs = [distance(kind, a, b) for a, b in itertools.combinations(preds, 2)]
        truth = _pred(runs[0].items, indexes[0], i, "true")
        wrong = float(np.mean([distance(kind, p, truth) for p in preds]))
        spread = float(np.mean(pairs)) if pairs else wrong  # one run: its worst errors
        if spread <= 0:
            continue
        scored.append((i, spread, wrong))
    scored.sort(key=lambda t: (-t[1], -t[2]))
    return [(i, s) for i, s, _ in scored[:top]]


def confusion(items: ValidItems) -> np.ndarray:
    index = {c: k for k, c in enumerate(items.classes)}
    m = np.zeros((len(items.classes),) * 2, int)
    for t, p in zip(items.true, items.pred):
        if t in index and p in index:
            m[index[t], index[p]] += 1
    return m


def per_class_f1(items: ValidItems) -> list[float | None]:
    """F1 of each class (one against the rest); None for a class neither true nor predicted."""
    m = confusion(items)
    tp = np.diag(m)
    denom = 2 * tp + (m.sum(0) - tp) + (m.sum(1) - tp)
    return [None if d == 0 else float(2 * t / d) for t, d in zip(tp, denom)]


# -- HTML and Markdown -------------------------------------------------------------------
def html_table(head: Sequence[str], rows: Sequence[Sequence[str]], first_left: int = 1,
               best_first: bool = False, widths: Sequence[str] = ()) -> str:  # fmt: skip
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    th = "".join(
        f'<th class="{"k" if j < first_left else ""}">{esc(h)}</th>' for j, h in enumerate(head)
    )
    body = ""
    for n, row in enumerate(rows):
        cls = ' class="best"' if best_first and n == 0 else ""
        tds = ""
        for j, cell in enumerate(row):
            text = esc(cell).replace(" (default)", ' <span class="default">(default)</span>')
            tds += f'<td class="{"k" if j < first_left else ""}">{text}</td>'
        body += f"<tr{cls}>{tds}</tr>"
    return f"<table><colgroup>{cols}</colgroup><tr>{th}</tr>{body}</table>"


def md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def cell(x):
        return str(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(map(cell, head)) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def task_section(task: str, runs: Sequence[RunRecord], slug: str) -> Section:
    """Everything the board says about one task's runs."""
    h, md, figs = [], [], {}
    runs = ranked(runs)
    metric = next((r.metric[0] for r in runs if r.metric), "metric")
    direction = "higher is better" if runs[0].higher_is_better else "lower is better"
    head, rows = leaderboard_rows(runs)
    widths = ["3%", "15%", "17%"] + ["auto"] * (len(head) - 3)
    h.append(f"<h2>{esc(task)}: leaderboard on {esc(metric)} ({direction})</h2>")
    h.append(html_table(head, rows, first_left=3, best_first=True, widths=widths))
    md += [f"## {task}: leaderboard on {metric} ({direction})", "", md_table(head, rows), ""]

    head, rows = settings_diff(runs)
    h.append("<h3>What differs</h3>")
    md += ["### What differs", ""]
    if rows:
        w = ["20%"] + ["auto"] * len(runs)
        h.append(html_table(head, rows, widths=w))
        md += [md_table(head, rows), ""]
    else:
        same = (
            "Every setting is the same in these runs."
            if len(runs) > 1
            else "One run: nothing to compare."
        )
        h.append(f'<p class="muted">{same}</p>')
        md += [same, ""]

    curves = [Curves(r.label, r.rows, r.board.get("lr", {})) for r in runs]
    figs[f"{slug}-curves.png"] = plot_overlaid(curves, metric)
    h.append("<h3>Curves: by epoch (top) and by wall-clock time (bottom)</h3>")
    legend = "".join(f'<span class="swatch"><b style="background:{c}"></b>{esc(r.label)}</span>'
                     for c, r in zip(run_colours(len(runs)), runs))  # fmt: skip
    h.append(f'<div class="legend">{legend}</div>')
    h.append(_img(figs[f"{slug}-curves.png"], f"{task} curves"))
    md += ["### Curves", "", f"![curves of {task}]({{files}}/{slug}-curves.png)", ""]

    found = common_items(runs)
    if found is None:
        h.append('<p class="muted">These runs saved no validation items (their task declares none, '
                 "or they were trained before the board), so where they disagree is not shown.</p>")  # fmt: skip
        return Section("\n".join(h), "\n".join(md), figs)
    kind, ids = found
    with_items = [r for r in runs if r.items is not None and r.items.kind == kind]
    if kind == "label":
        _label_parts(with_items, slug, h, md, figs)
    top = disagreements(with_items, ids)
    what = "most disputed first" if len(with_items) > 1 else "one run: its worst errors first"
    h.append(f"<h3>Where they disagree: {len(top)} validation items, {what}</h3>")
    md += [f"### Where they disagree ({len(top)} items, {what})", ""]
    if not top:
        h.append('<p class="muted">All runs predict the same on every shared validation item.</p>')
    elif kind in ("label", "tags"):
        _item_cards(with_items, top, h, md)
    else:
        _item_rows(with_items, top, h, md, figs, slug)
    return Section("\n".join(h), "\n".join(md), figs)


def _label_parts(runs, slug, h, md, figs) -> None:
    classes = runs[0].items.classes
    h.append("<h3>Confusion matrices (validation)</h3><div class='row'>")
    md += ["### Confusion matrices (validation)", ""]
    for k, r in enumerate(runs):
        name = f"{slug}-confusion-{k}.png"
        figs[name] = plot_confusion(confusion(r.items), r.items.classes)
        h.append(
            f"<figure><figcaption>{esc(r.label)}</figcaption>{_img(figs[name], 'confusion')}</figure>"
        )
        md.append(f"![confusion matrix of {r.label}]({{files}}/{name})")
    h.append("</div>")
    f1s = [per_class_f1(r.items) for r in runs]
    support = confusion(runs[0].items).sum(1)
    rows = [[c, str(int(n))] + ["—" if f[j] is None else f"{f[j]:.3f}" for f in f1s]
            for j, (c, n) in enumerate(zip(classes, support))]  # fmt: skip
    head = ["class", "items"] + [r.label for r in runs]
    h.append("<h3>F1 per class (validation, one class against the rest)</h3>")
    h.append(html_table(head, rows, widths=["14%", "8%"] + ["auto"] * len(runs)))
    md += ["", "### F1 per class (validation)", "", md_table(head, rows), ""]


def _text(items: ValidItems, k: int) -> str:
    p = items.pred[k]
    text = ", ".join(map(str, p)) if isinstance(p, list) else str(p)
    return f"{text} ({items.note[k]})" if items.note else text


def _item_cards(runs, top, h, md) -> None:
    """Labels and tag sets: the picture once, then each run's prediction, right or wrong."""
    indexes = [{i: k for k, i in enumerate(r.items.ids)} for r in runs]
    h.append('<div class="cards">')
    md_rows = []
    for i, _ in top:
        truth = _pred(runs[0].items, indexes[0], i, "true")
        picture = next((r.items.images[i] for r in runs if i in r.items.images), None)
        img = "" if picture is None else _img(thumbnail_png(picture), i)
        lines = f"<tr><td class='k'>truth</td><td class='k'>{esc(truth)}</td></tr>"
        cells = []
        for r, ix in zip(runs, indexes):
            k = ix[i]
            ok = distance(r.items.kind, r.items.pred[k], truth) == 0
            mark = "✓" if ok else "✗"
            text = _text(r.items, k)
            lines += (f"<tr><td class='k'>{esc(r.label)}</td>"
                      f"<td class='k {'ok' if ok else 'bad'}'>{mark} {esc(text)}</td></tr>")  # fmt: skip
            cells.append(f"{mark} {text}")
        h.append(f'<div class="card"><b>{esc(i)}</b>{img}<table>{lines}</table></div>')
        md_rows.append([i, str(truth), *cells])
    h.append("</div>")
    md += [md_table(["item", "truth", *[r.label for r in runs]], md_rows), ""]


def _item_rows(runs, top, h, md, figs, slug) -> None:
    """Masks and boxes: the truth and every run's prediction drawn on the same picture."""
    indexes = [{i: k for k, i in enumerate(r.items.ids)} for r in runs]
    kind = runs[0].items.kind
    for i, spread in top:
        owner = next((r for r in runs if i in r.items.images), None)
        if owner is None:
            continue
        picture = owner.items.images[i]
        truth_value = _pred(runs[0].items, indexes[0], i, "true")
        truth = {"title": "truth", "mask" if kind == "mask" else "boxes": truth_value}
        preds = []
        for r, ix in zip(runs, indexes):
            k = ix[i]
            value = _pred(r.items, ix, i)
            agree = 1 - distance(kind, value, truth_value)
            note = f" {r.items.note[k]}" if r.items.note else ""
            preds.append({"title": f"{r.label}{note}"[:40], "mask" if kind == "mask" else "boxes": value,
                          "bad": agree < 0.5})  # fmt: skip
        what = "disagreement" if len(runs) > 1 else "error"
        name = f"{slug}-item-{len(figs)}.png"
        figs[name] = plot_item_row(picture, truth, preds)
        h.append(
            f'<div class="item"><b>{esc(i)}</b> ({what} {spread:.2f}){_img(figs[name], i)}</div>'
        )
        md += [f"{i} ({what} {spread:.2f})", "", f"![{i}]({{files}}/{name})", ""]


def _unique_labels(runs: Sequence[RunRecord]) -> None:
    """Number runs that would show under the same label (one run passed twice, two members'
    folders of the same name), so every column and curve can be told apart."""
    seen: dict[str, int] = {}
    for r in runs:
        base = r.label
        seen[base] = seen.get(base, 0) + 1
        if seen[base] > 1:
            r.name = f"{r.name} ({seen[base]})"


def render_board(
    runs: Sequence[RunRecord], title: str = "Meetup board"
) -> tuple[str, str, dict[str, bytes]]:
    """The board as HTML, as Markdown (figures referenced as '{files}/NAME') and its figures."""
    tasks = list(dict.fromkeys(r.task for r in runs))
    _unique_labels(runs)
    sections = [
        task_section(t, [r for r in runs if r.task == t], f"t{k}") for k, t in enumerate(tasks)
    ]
    members = sorted({r.who for r in runs if r.who})
    sub = f"{len(runs)} runs of {', '.join(tasks)}" + (
        f" by {', '.join(members)}" if members else ""
    )
    page = (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width'><title>{esc(title)}</title>"
            f"<style>{STYLE}</style></head><body><h1>{esc(title)}</h1><p class='muted'>{esc(sub)}</p>"
            + "\n".join(s.html for s in sections) + "</body></html>")  # fmt: skip
    md = f"# {title}\n\n{sub}\n\n" + "\n".join(s.md for s in sections)
    figs = {k: v for s in sections for k, v in s.figures.items()}
    return page, md, figs


def write_board(runs: Sequence[RunRecord], out: str | Path, md: str | Path | None = None) -> Path:
    """Write the board's HTML to `out`, and with `md` its Markdown beside a folder of figures
    (MD_STEM_files/) that it links relatively, for a README or slides."""
    page, text, figs = render_board(runs)
    out = Path(out)
    atomic_write_text(out, page)
    if md is not None:
        md = Path(md)
        files = md.parent / f"{md.stem}_files"
        for name, png in figs.items():
            atomic_write_bytes(files / name, png)
        atomic_write_text(md, text.replace("{files}", files.name))
    return out


__all__ = [
    "disagreements",
    "human_count",
    "human_seconds",
    "leaderboard_rows",
    "per_class_f1",
    "ranked",
    "render_board",
    "settings_diff",
    "write_board",
]
