"""`dlf exercise list|start` and `dlf check` from the command line: the table, the exit
status, and a member's code that raises, hangs, prints or does not parse, reported per check
and never as a traceback of dlf's own."""

from pathlib import Path

import pytest

from dlf.cli import main
from dlf.exercises import harness

SOLUTIONS = Path(__file__).parent / "solutions"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))


def run(capsys, *argv):
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def test_start_writes_the_starter_once(capsys, tmp_path):
    to = tmp_path / "mine.py"
    rc, out, _ = run(capsys, "exercise", "start", "week3", "--to", to)
    assert rc == 0 and "dlf check week3" in out
    assert (
        "def conv_forward_naive" in to.read_text() and "raise NotImplementedError" in to.read_text()
    )
    to.write_text("# my work\n")
    rc, _, err = run(capsys, "exercise", "start", "week3", "--to", to)
    assert rc == 2 and "exists and may hold your work" in err and err.count("\n") == 1
    assert to.read_text() == "# my work\n"  # untouched


def test_check_passes_the_reference_and_list_shows_it(capsys):
    rc, out, _ = run(capsys, "exercise", "list")
    assert rc == 0 and "conv_unfold" in out and "not checked yet" in out
    rc, out, err = run(capsys, "check", "week4", SOLUTIONS / "week4.py")
    assert rc == 0, out + err
    lines = out.strip().splitlines()
    assert lines[0].split(" | ")[:3] == ["exercise     ", "result", "max rel error"]
    assert [line.split(" | ")[1].strip() for line in lines[2:8]] == ["pass"] * 6
    rc, out, _ = run(capsys, "exercise", "list")
    assert "pass (week4.py)" in out


def test_check_reports_raising_hanging_printing_code_per_check(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(harness, "TIME_LIMIT_S", 0.5)
    mine = tmp_path / "my_week4.py"
    mine.write_text(
        (SOLUTIONS / "week4.py").read_text()
        + "\n\ndef softmax_cross_entropy(logits, target, label_smoothing=0.0):\n"
        "    while True:\n        pass\n"
        "\n\ndef focal_loss(logits, target, alpha=0.25, gamma=2.0):\n"
        "    return logits.reshape(5, -1)  # raises for these shapes\n"
        "\n\ndef fit_one_epoch(model, loader, loss_func, opt):\n    raise SystemExit(1)\n"
        "\n\n_one_cycle = one_cycle_lr\n\n\ndef one_cycle_lr(*args, **kwargs):\n"
        "    print('debugging the schedule')\n    return _one_cycle(*args, **kwargs)\n"
    )
    rc, out, err = run(capsys, "check", "week4", mine)
    assert rc == 1 and err == "" and "Traceback" not in out
    rows = {line.split(" | ")[0].strip(): line for line in out.splitlines()}
    assert "FAIL" in rows["cross_entropy"] and "took over 0 s" in rows["cross_entropy"]
    assert "your code raised RuntimeError at my_week4.py:" in rows["focal_loss"]
    assert (
        rows["one_cycle"].split(" | ")[1].strip() == "pass"
        and "printed 2 line(s)" in rows["one_cycle"]
    )
    assert rows["adam"].split(" | ")[1].strip() == "pass"
    assert "your code called exit()" in rows["fit_one_epoch"]
    rc, out, _ = run(capsys, "check", "week4", mine, "--only", "adam")
    assert rc == 0 and len(out.strip().splitlines()) == 4  # header, rule, one row, summary


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "week9", "x.py"], "unknown week 'week9'"),
        (["check", "week4", "missing.py"], "missing.py: file not found"),
        (
            ["check", "week4", "SOLUTION", "--only", "nope"],
            "--only nope: no such exercise in week4",
        ),
        (["check", "week4", "BROKEN"], "broken.py:2: syntax error"),
        (["check", "week4", "EXITS"], "importing it called exit()"),
        (["exercise", "start"], "dlf exercise start needs the week"),
    ],
)
def test_bad_input_is_one_line_and_status_2(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)  # `exercise start` writes into the working folder
    broken = tmp_path / "broken.py"
    broken.write_text("x = 1\ndef f(:\n")
    exits = tmp_path / "exits.py"
    exits.write_text("import sys\nsys.exit(3)\n")
    files = {"SOLUTION": SOLUTIONS / "week4.py", "BROKEN": broken, "EXITS": exits}
    argv = [files.get(a, a) for a in argv]
    rc, _out, err = run(capsys, *argv)
    assert rc == 2 and message in err and err.count("\n") == 1, err
