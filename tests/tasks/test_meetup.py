"""The meetup board from real runs, through the command line: two APTOS runs (one with a
member's own part) and two runs of a member's own task (examples/dots_task.py, whose metric,
an RMSE, is lower-is-better), read from folders and from a `dlf pack` zip; then the page in
headless Chromium at 1280 px, and a page of 8 runs."""

import base64
import html
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from browser import layout_problems, needs_chromium, screenshot
from dlf.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APTOS = ["--size", "32", "--bs", "8", "--arch", "resnet18", "--epochs", "1", "--seed", "0",
         "--precision", "fp32"]  # fmt: skip
DOTS = ["--size", "32", "--bs", "16", "--arch", "lenet", "--epochs", "1", "--seed", "0",
        "--precision", "fp32"]  # fmt: skip
SOLUTIONS = Path(__file__).resolve().parents[1] / "exercises" / "solutions"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Four finished runs; ben's uses a member's own schedule (`--use`, the week-4 solution)."""
    tmp = tmp_path_factory.mktemp("meetup")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLF_HOME", str(tmp / "home"))
        mp.chdir(EXAMPLES)  # the dots task is imported as a member's module from its folder
        assert main(["synth", "aptos", str(tmp / "aptos"), "--n", "40", "--seed", "1"]) == 0
        assert main(["synth", "dots_task:DotsTask", str(tmp / "dots"), "--n", "48"]) == 0

        def train(*args):
            assert main(["train", *args]) == 0

        train("aptos", "--data", str(tmp / "aptos"), "--out", str(tmp / "ana-r18"), *APTOS,
              "--who", "ana", "--note", "baseline, as dlf gives it")  # fmt: skip
        train("aptos", "--data", str(tmp / "aptos"), "--out", str(tmp / "ben-lr"), *APTOS,
              "--lr", "3e-3", "--option", "ben_graham=true", "--who", "ben",
              "--note", "Ben Graham preprocessing, higher lr", "--use", f"{SOLUTIONS / 'week4.py'}:one_cycle_lr")  # fmt: skip
        for name, lr in (("eve-dots", "1e-3"), ("fay-dots", "1e-2")):
            train("dots_task:DotsTask", "--data", str(tmp / "dots"), "--out", str(tmp / name),
                  *DOTS, "--lr", lr, "--who", name.split("-")[0])  # fmt: skip
        assert main(["predict", "aptos", "--run", str(tmp / "ana-r18")]) == 0
        assert main(["predict", "aptos", "--run", str(tmp / "ben-lr")]) == 0
    return tmp


def images_in(text: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(b)))
            for b in re.findall(r'src="data:image/png;base64,([^"]+)"', text)]  # fmt: skip


def test_run_folders_hold_what_the_board_needs(runs):
    ana = runs / "ana-r18"
    cfg = json.loads((ana / "config.json").read_text())["config"]
    assert cfg["who"] == "ana" and cfg["note"] == "baseline, as dlf gives it"
    board = json.loads((ana / "board.json").read_text())
    facts = board["facts"]
    # reference: the saved weights file, its tensors counted without batch-norm statistics
    from safetensors.torch import load_file

    weights = load_file(ana / "model.safetensors")
    stats = ("running_mean", "running_var", "num_batches_tracked")
    assert facts["params"] == sum(t.numel() for k, t in weights.items() if not k.endswith(stats))
    assert facts["flops_per_item"] > 0 and facts["items_per_second"] > 0
    assert board["defaults"]["size"] == 128 and board["defaults"]["options"]["ben_graham"] is False
    items = json.loads((ana / "valid_items.json").read_text())
    assert items["kind"] == "label" and len(items["ids"]) == len(items["pred"]) > 0
    # the dots task declares no items (its predictions are counts, not classes)
    assert not (runs / "eve-dots" / "valid_items.json").exists()


def test_board_from_folders_and_a_zip(runs, tmp_path, capsys):
    zipped = tmp_path / "ben.zip"
    assert main(["pack", str(runs / "ben-lr"), "--out", str(zipped)]) == 0
    names = zipfile.ZipFile(zipped).namelist()
    assert "ben-lr/config.json" in names and not any("checkpoint" in n for n in names)

    out, md = tmp_path / "board.html", tmp_path / "board.md"
    truth = runs / "aptos" / "test_labels.csv"
    args = ["meetup", str(runs / "ana-r18"), str(zipped), str(runs / "eve-dots"), str(runs / "fay-dots"),
            "--out", str(out), "--md", str(md), "--truth", str(truth)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    text = out.read_text()
    plain = " ".join(
        html.unescape(re.sub(r"<[^>]+>", " ", re.sub(r"base64,[^\"]+", "", text))).split()
    )
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)  # nothing from a network

    # one leaderboard per task, best first in the metric's own direction
    assert "aptos: leaderboard on qwk (higher is better)" in plain
    assert "dots: leaderboard on rmse (lower is better)" in plain
    qwk = {
        n: json.loads((runs / n / "config.json").read_text())["valid"]["qwk"]
        for n in ("ana-r18", "ben-lr")
    }
    rmse = {
        n: json.loads((runs / n / "config.json").read_text())["valid"]["rmse"]
        for n in ("eve-dots", "fay-dots")
    }
    aptos_part, dots_part = plain.split("dots: leaderboard")
    order = sorted(qwk, key=qwk.get, reverse=True)
    assert aptos_part.index(f"{order[0][:3]}: {order[0]}") < aptos_part.index(
        f"{order[1][:3]}: {order[1]}"
    )
    order = sorted(rmse, key=rmse.get)
    assert dots_part.index(f"{order[0][:3]}: {order[0]}") < dots_part.index(
        f"{order[1][:3]}: {order[1]}"
    )
    assert "Ben Graham preprocessing, higher lr" in plain and "baseline, as dlf gives it" in plain
    # the test score: each run's submission.csv scored as `dlf evaluate` scores it
    capsys.readouterr()
    assert (
        main(
            [
                "evaluate",
                "aptos",
                "--truth",
                str(truth),
                "--pred",
                str(runs / "ana-r18" / "submission.csv"),
            ]
        )
        == 0
    )
    test_qwk = float(capsys.readouterr().out.split()[-1])
    assert "qwk (test)" in plain and f"{test_qwk:.4f}" in aptos_part

    # the settings diff: only what differs, in words, defaults named, the member's own part
    diff = aptos_part.split("What differs")[1].split("Curves")[0]
    assert "peak learning rate" in diff and "0.003" in diff and "0.001 (default)" in diff
    assert "option ben graham" in diff and "False (default)" in diff
    assert "image size" not in diff and "batch size" not in diff and "random seed" not in diff
    assert (
        "member's own parts" in diff
        and "schedule: week4.py:one_cycle_lr" in diff
        and "dlf's own" in diff
    )

    # where they disagree: confusion matrices side by side, per-class F1, disputed items once
    assert "Confusion matrices" in aptos_part and "F1 per class" in aptos_part
    valid_ids = set(json.loads((runs / "ana-r18" / "valid_items.json").read_text())["ids"])
    shown = re.findall(r'<div class="card"><b>([^<]+)</b>', text)
    assert len(shown) == len(set(shown)) and set(shown) <= valid_ids
    ana = json.loads((runs / "ana-r18" / "valid_items.json").read_text())
    ben = json.loads((runs / "ben-lr" / "valid_items.json").read_text())
    # reference, by brute force: the items whose predicted grades differ between the two runs
    differ = {i for i, a, b in zip(ana["ids"], ana["pred"], ben["pred"]) if a != b}
    assert set(shown) <= differ and len(shown) == min(len(differ), 12)
    assert "saved no validation items" in dots_part  # the dots task declares none

    # every figure is a real image: curves x2, confusion x2, thumbnails of the shown items
    imgs = images_in(text)
    assert len(imgs) == 2 + 2 + len(shown)
    for im in imgs:
        im.verify()

    # the Markdown board: the same tables, figures beside it, linked relatively
    mdtext = md.read_text()
    assert "| # | run | note | qwk (valid) | qwk (test) |" in mdtext
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", mdtext)
    assert linked and all((md.parent / p).is_file() and not Path(p).is_absolute() for p in linked)


def test_meetup_refuses_what_it_cannot_read(runs, tmp_path, capsys):
    assert main(["meetup", str(tmp_path / "nowhere"), "--out", str(tmp_path / "b.html")]) == 2
    assert "neither a run folder nor a zip" in capsys.readouterr().err
    bad = tmp_path / "evil.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("../outside/config.json", "{}")
    assert main(["meetup", str(bad), "--out", str(tmp_path / "b.html")]) == 2
    assert "points outside the archive" in capsys.readouterr().err
    assert not (tmp_path / "outside").exists() and not (tmp_path / "b.html").exists()
    assert main(["meetup", str(runs / "ana-r18"), "--truth-boxes", "x.csv"]) == 2
    assert "not a truth input of aptos" in capsys.readouterr().err


def eight_runs(runs: Path, tmp_path: Path) -> list[Path]:
    """Eight copies of the two APTOS runs as eight members' runs: long names, notes and
    settings that all differ (copies: the board reads files, training is not what is tested)."""
    out = []
    for k in range(8):
        src = runs / ("ana-r18" if k % 2 else "ben-lr")
        dst = tmp_path / f"member{k}-resnet18-ben-graham-preprocessing-try{k}"
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoint", "model.safetensors"))
        saved = json.loads((dst / "config.json").read_text())
        saved["config"].update(who=f"Member Number {k}", note=f"run {k}: " + "a longer note on what was tried " * 2,
                               lr=1e-3 * (k + 1), size=32 + 8 * k, seed=k)  # fmt: skip
        saved["valid"]["qwk"] = 0.1 * k
        (dst / "config.json").write_text(json.dumps(saved))
        out.append(dst)
    return out


@needs_chromium
@pytest.mark.parametrize("eight", [False, True], ids=["four runs", "eight runs"])
def test_board_renders_at_1280_px_without_console_messages_or_overlaps(runs, tmp_path, eight):
    paths = (
        eight_runs(runs, tmp_path)
        if eight
        else [runs / n for n in ("ana-r18", "ben-lr", "eve-dots", "fay-dots")]
    )
    page = tmp_path / "board.html"
    assert main(["meetup", *map(str, paths), "--out", str(page)]) == 0
    shot = tmp_path / "shot.png"
    assert screenshot(page, shot, tmp_path / "profile") == []
    img = np.asarray(Image.open(shot).convert("L"))
    assert img.shape[1] == 1280 and img.std() > 10  # drawn, not a blank page
    width, problems = layout_problems(page, tmp_path / "profile")
    assert width == 1280 and problems == []
    if eight:  # all eight on the leaderboard and in the curves' legend
        assert page.read_text().count("Member Number") >= 8 * 3


@needs_chromium
def test_the_layout_probe_catches_overlap_and_cut_off(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text("<html><body><p style='position:absolute;top:0'>one</p><p style='position:absolute;top:0'>two</p>"
                   "<p style='width:3000px'>wide</p></body></html>")  # fmt: skip
    _, problems = layout_problems(bad, tmp_path / "profile")
    assert any(p.startswith("overlap") for p in problems)
    assert any(p.startswith("cut off") for p in problems) and any("sideways" in p for p in problems)
    logged = tmp_path / "log.html"
    logged.write_text("<html><body><script>console.log('hello')</script></body></html>")
    assert screenshot(logged, tmp_path / "s.png", tmp_path / "profile")  # console caught
