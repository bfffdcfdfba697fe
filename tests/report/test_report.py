"""The run report: self-contained HTML that a browser renders without errors."""

import base64
import html
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from dlf.report import compare_runs, plots, render_run_report, write_run_report

ROWS = [
    {"epoch": 0, "train_loss": 1.2, "valid_loss": 1.0, "qwk": 0.4, "seconds": 3.0},
    {"epoch": 1, "train_loss": 0.8, "valid_loss": 0.7, "qwk": 0.7, "seconds": 3.1},
]


def make_report(path):
    rng = np.random.default_rng(0)
    samples = [
        {
            "image": rng.integers(0, 255, (32, 32, 3), dtype=np.uint8),
            "title": f"{i} / {i % 3}",
            "bad": i % 2 == 0,
        }
        for i in range(7)
    ]
    return write_run_report(
        path, title="dlf aptos: test", config={"arch": "resnet18", "size": 64}, environment={"torch": "2.x"},
        rows=ROWS, metric_names=["qwk"], lrs=list(np.linspace(1e-4, 1e-3, 20)), losses=list(np.linspace(1, 0.5, 20)),
        stats=[{"train_seconds": 3.0, "items_per_second": 100.0, "data_wait_share": 0.01}], final={"qwk": 0.7},
        confusion=np.array([[5, 1], [2, 7]]), labels=["0", "1"], samples=samples,
    )  # fmt: skip


def test_report_is_self_contained_with_valid_images(tmp_path):
    text = make_report(tmp_path / "report.html").read_text()
    assert not re.search(
        r"""(src|href)=["']?(https?:)?//""", text
    )  # nothing fetched from a network
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', text)
    assert len(images) == 4  # curves, schedule, confusion, samples
    for b64 in images:
        Image.open(io.BytesIO(base64.b64decode(b64))).verify()
    assert "qwk 0.7000" in text and "resnet18" in text


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render(html_path, shot, tmp_path):
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0",
             f"--screenshot={shot}", "--window-size=1200,2400"]  # fmt: skip
    out = subprocess.run(
        [chromium(), *flags, html_path.as_uri()], capture_output=True, text=True, timeout=120
    )
    return [line for line in out.stderr.splitlines() if ":CONSOLE" in line]


needs_chromium = pytest.mark.skipif(
    chromium() is None and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)


@needs_chromium
def test_report_renders_in_headless_chromium_without_console_errors(tmp_path):
    page = make_report(tmp_path / "report.html")
    shot = tmp_path / "shot.png"
    console = render(page, shot, tmp_path)
    assert console == []
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[0] > 500 and img.std() > 10  # something was drawn, not a blank page

    # the check itself can fail: a page with a script error is caught
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><script>notDefined()</script></body></html>")
    assert render(bad, tmp_path / "bad.png", tmp_path)


def test_compare_runs(tmp_path):
    for name in ("a", "b"):
        run = tmp_path / name
        run.mkdir()
        (run / "metrics.csv").write_text(
            "epoch,train_loss,valid_loss,qwk,seconds\n0,1.0,0.9,0.5,2.0\n1,0.7,0.6,0.8,2.0\n"
        )
        (run / "config.json").write_text('{"config": {"arch": "' + name + '"}}')
    out = compare_runs([tmp_path / "a", tmp_path / "b"], tmp_path / "compare.html")
    text = out.read_text()
    assert "Comparing 2 runs" in text and text.count("data:image/png") == 1


def long_floats(text: str) -> list[str]:
    """Numbers written with more than 7 significant digits (the base64 images left out)."""
    text = re.sub(r"base64,[^\"]+", "", text)
    numbers = re.findall(r"\d+\.\d+(?:e[+-]?\d+)?", text)
    return [x for x in numbers if len(x.split("e")[0].replace(".", "").lstrip("0")) > 7]


def test_report_floats_have_a_readable_number_of_digits():
    # what a run really passes: fitted thresholds and a SIIM post-processing dict straight from
    # float arithmetic, numpy floats, metrics of full float precision (before: 0.5234567891234567
    # in the configuration table; metrics and final scores with 6 decimals whatever their size)
    page = render_run_report(
        title="t", environment={"torch": "2.x"}, metric_names=["qwk"],
        config={"lr": 0.003, "fitted thresholds": [0.5234567891234567, np.float64(1.4999999999999998)],
                "fitted post": {"top_thr": 0.30000000000000004, "min_area": 1024}},
        rows=[{"epoch": 0, "train_loss": 1234.5678912345, "valid_loss": 0.123456789, "qwk": 0.912345678,
               "seconds": 12.3456789}],
        final={"qwk": 0.9123456789012345},
    )  # fmt: skip
    assert long_floats(page) == []
    assert "qwk 0.9123" in page and "<td>0.1235</td>" in page and "<td>1235</td>" in page
    assert (
        "[0.523457, 1.5]" in page
        and "'top_thr': 0.3," in html.unescape(page)
        and "<td>0.003</td>" in page
    )
    assert long_floats("<td>0.5234567891234567</td>") == ["0.5234567891234567"]  # the check bites


def test_compare_page_floats_have_a_readable_number_of_digits(tmp_path):
    run = tmp_path / "a"
    run.mkdir()
    (run / "metrics.csv").write_text("epoch,train_loss,valid_loss,qwk,seconds\n0,1.0,0.9,0.5,2.0\n")
    (run / "config.json").write_text('{"postprocess": {"thresholds": [0.5234567891234567]}}')
    assert long_floats(compare_runs([run], tmp_path / "c.html").read_text()) == []


def drawn_confusion(monkeypatch, labels):
    """The confusion-matrix figure as drawn, caught before it becomes PNG bytes."""
    caught = []
    monkeypatch.setattr(plots, "_png", lambda fig: caught.append(fig) or b"")
    plots.plot_confusion(np.arange(len(labels) ** 2).reshape(len(labels), -1), labels)
    fig = caught[0]
    fig.canvas.draw()
    return fig


def overlapping(texts, renderer) -> list[tuple[str, str]]:
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts if t.get_text()]
    return [
        (a, b)
        for i, (a, box_a) in enumerate(boxes)
        for b, box_b in boxes[i + 1 :]
        if box_a.x0 < box_b.x1 - 0.5 and box_b.x0 < box_a.x1 - 0.5  # more than half a pixel
        and box_a.y0 < box_b.y1 - 0.5 and box_b.y0 < box_a.y1 - 0.5
    ]  # fmt: skip


DOG_NAMES = ["golden retriever", "labrador retriever", "german shepherd dog", "chihuahua", "x",
             "a very very long class name with words in it", "cat", "dog"]  # fmt: skip


@pytest.mark.parametrize(
    "labels",
    [
        ["no pneumothorax", "pneumothorax"],  # SIIM's report_extras (overlapped before)
        ["0", "1", "2", "3", "4"],  # APTOS's grades
        DOG_NAMES * 4,  # 32 classes with long names: no room to wrap, set upright
    ],
)
def test_confusion_matrix_labels_do_not_overlap(monkeypatch, labels):
    fig = drawn_confusion(monkeypatch, labels)
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    assert overlapping([*ax.get_xticklabels(), ax.xaxis.label], renderer) == []
    assert overlapping([*ax.get_yticklabels(), ax.yaxis.label], renderer) == []
    # every class is still named (a wrapped or shortened name starts like the name)
    for tick, name in zip(ax.get_xticklabels(), labels):
        assert " ".join(tick.get_text().split())[:8] == name[:8]


def test_boxes_are_drawn_and_task_tables_are_rendered(tmp_path):
    """Reference: the same grid without boxes; a yellow (true) and a cyan (predicted) outline
    must appear only when boxes are given."""
    img = np.zeros((64, 64, 3), np.uint8)
    plain = plots.plot_samples([{"image": img, "title": "t"}])
    boxed = plots.plot_samples([{"image": img, "title": "t", "boxes": [(8, 8, 40, 40, "Cat")],
                                 "pred_boxes": [(20, 20, 60, 60, "Cat 0.9")]}])  # fmt: skip

    def colour_share(png, rgb):
        a = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
        return (np.abs(a - np.array(rgb)).sum(-1) < 90).mean()

    assert colour_share(plain, (255, 255, 0)) == 0 and colour_share(boxed, (255, 255, 0)) > 0
    assert colour_share(plain, (0, 255, 255)) == 0 and colour_share(boxed, (0, 255, 255)) > 0
    text = render_run_report(title="t", config={}, environment={}, rows=ROWS, metric_names=["qwk"],
                             tables={"Average precision per class": [{"class": "Cat <x>", "ap": 0.5}]})  # fmt: skip
    assert "<h2>Average precision per class</h2>" in text and "Cat &lt;x&gt;" in text


def test_drawing_a_report_leaves_the_callers_matplotlib_backend_alone():
    """A notebook's inline backend must survive dlf drawing its report plots (reports once
    switched the whole process to Agg at import, and a notebook's plots stopped showing).
    Reference: matplotlib.get_backend() before and after, in a fresh interpreter whose
    backend is set to a non-Agg one first."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg'); import numpy as np; "
        "from dlf.report import plots; "
        "png = plots.plot_confusion(np.eye(2, dtype=int), ['a', 'b']); "
        "print(matplotlib.get_backend(), png[:4] == b'\\x89PNG')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "True"]
