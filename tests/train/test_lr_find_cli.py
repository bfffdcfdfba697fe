"""`dlf lr-find TASK`: the sweep from the command line, a PNG and one line of suggestions."""

import pytest
import torch

from dlf.cli import main


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    before = torch.get_num_threads()  # a few tiny steps: extra threads only fight other processes
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    data = tmp_path_factory.mktemp("lr_find") / "shapes"
    assert main(["synth", "folder", str(data), "--n", "30", "--seed", "1"]) == 0
    return data


FAST = ["--arch", "lenet", "--size", "32", "--bs", "8", "--num-it", "20", "--precision", "fp32"]


def test_lr_find_prints_suggestions_and_saves_the_plot(shapes, tmp_path, capsys):
    capsys.readouterr()
    out = tmp_path / "sweep.png"
    assert main(["lr-find", "folder", "--data", str(shapes), "--out", str(out), *FAST]) == 0
    lines = capsys.readouterr().out.splitlines()
    found = [line for line in lines if line.startswith("lr_find: valley ")]
    assert len(found) == 1 and "steep" in found[0] and "minimum" in found[0]
    assert f"plot: {out}" in lines
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(line.lstrip().startswith("epoch") for line in lines)  # no training rows


@pytest.mark.parametrize(
    "args, words",
    [
        (["--out", "sweep.jpg"], "give --out a .png"),
        (["--num-it", "5"], "num_it=5"),
        (["--start-lr", "1", "--end-lr", "0.1"], "start_lr"),
        (["--option", "pretrained"], "KEY=VALUE"),
        (["--data", "no/such/folder"], "data folder not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, monkeypatch, args, words):
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["lr-find", "folder", *args]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dlf: error: ") and words in err
    assert "Traceback" not in err and not list(tmp_path.glob("*.png"))
