"""The run report: self-contained HTML that a browser renders without errors."""

import base64
import io
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from dlf.report import compare_runs, write_run_report

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
    assert "qwk 0.700000" in text and "resnet18" in text


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
