"""The run report's interpretation section (top losses, errors per class, Grad-CAM on the
worst validation items) for a CNN classifier trained through the real command line."""

import re

import pytest
import torch

from dlf.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_folder_run_report_shows_top_losses_class_errors_and_grad_cam(tmp_path):
    data, run = tmp_path / "shapes", tmp_path / "run"
    assert main(["synth", "folder", str(data), "--n", "36", "--seed", "1"]) == 0
    assert main(["train", "folder", "--data", str(data), "--out", str(run), "--epochs", "1",
                 "--size", "16", "--bs", "8", "--arch", "lenet", "--seed", "0"]) == 0  # fmt: skip
    page = (run / "report.html").read_text()
    assert "Where the model looked: Grad-CAM" in page
    assert "Top losses (validation, largest first)" in page
    assert "Errors per class (validation)" in page
    # the top-losses table lists its losses largest first, named by the items' own ids
    table = page.split("Top losses (validation, largest first)")[1].split("</table>")[0]
    losses = [float(v) for v in re.findall(r"<tr><td>\d+</td><td>[^<]*</td><td>[^<]*</td><td>[^<]*</td><td>([^<]+)</td>", table)]  # fmt: skip
    assert len(losses) >= 3 and losses == sorted(losses, reverse=True)
    assert all(c in table for c in ("circle", "square", "triangle"))
