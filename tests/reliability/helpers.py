"""Helpers of the reliability tests: the CLI in-process, snapshots, the one-line check."""

from pathlib import Path

from dlf.cli import main

# The smallest run that still goes through every part: lenet on 32 px, 4 steps an epoch.
TINY = ["--size", "32", "--bs", "8", "--arch", "lenet", "--precision", "fp32", "--seed", "0"]


def cli(capsys, *argv) -> tuple[int, str, str]:
    """Run `dlf ARGV` in this process: (exit status, stdout, stderr)."""
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` with its bytes, to show that nothing was damaged."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def one_error_line(err: str) -> str:
    """The CLI's answer to bad input: exactly one line, no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("dlf: error: ")
    return lines[0]
