"""`dlf exercise list|start` and `dlf check`: which exercises there are, a starter file to
fill in, and the graded table. Each member's last results are kept in DLF_HOME so `list`
can show where they stand."""

import contextlib
import importlib
import importlib.resources
import json
from pathlib import Path

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.core.paths import dlf_home
from dlf.exercises.harness import Exercise, Result, format_table, load_member_file, run_exercise

WEEKS = ("week2", "week3", "week4", "week5")


def _week(week: str) -> str:
    if week not in WEEKS:
        raise DlfError(f"unknown week {week!r}; the exercises are for: {', '.join(WEEKS)}")
    return week


def exercises_of(week: str) -> list[Exercise]:
    """The exercises of one week, in the order the docs teach them."""
    return list(importlib.import_module(f"dlf.exercises.{_week(week)}").EXERCISES)


def _status_file() -> Path:
    return dlf_home() / "exercises" / "status.json"


def _load_status() -> dict:
    try:
        return json.loads(_status_file().read_text())
    except (OSError, ValueError):
        return {}  # no checks run yet (or an unreadable file: start afresh)


def exercise_list() -> str:
    """week | exercise | what to write | --use kind | your last result."""
    status = _load_status()
    rows = [("week", "exercise", "what", "--use", "your status")]
    for week in WEEKS:
        for ex in exercises_of(week):
            s = status.get(f"{week}/{ex.name}")
            rows.append((week, ex.name, ex.what, ex.plugs_in_as or "-", s or "not checked yet"))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        " | ".join([*(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)), r[4]]) for r in rows
    )


def starter_text(week: str) -> str:
    return (
        importlib.resources.files("dlf.exercises.starters")
        .joinpath(f"{_week(week)}.py")
        .read_text()
    )


def exercise_start(week: str, to: Path | None = None) -> Path:
    """Write the week's starter file; never over a file that exists (it may hold your work)."""
    out = Path(to or f"my_{_week(week)}.py")
    if out.exists():
        raise DlfError(f"{out}: exists and may hold your work; choose another name with --to FILE")
    if out.suffix != ".py":
        raise DlfError(f"{out}: the starter is Python; give --to a .py file name")
    atomic_write_text(out, starter_text(week))
    return out


def check_file(week: str, path: Path, only: str | None = None) -> tuple[list[Result], str]:
    """Grade the member's file; returns the results and the table to print."""
    exercises = exercises_of(week)
    if only is not None:
        exercises = [e for e in exercises if only == e.name or only in e.functions]
        if not exercises:
            names = ", ".join(e.name for e in exercises_of(week))
            raise DlfError(f"--only {only}: no such exercise in {week}; choose one of: {names}")
    module = load_member_file(Path(path))
    results = [run_exercise(ex, module) for ex in exercises]
    status = _load_status()
    for r in results:
        status[f"{week}/{r.exercise}"] = f"{'pass' if r.passed else 'fail'} ({Path(path).name})"
    with contextlib.suppress(OSError):  # a read-only home loses only `exercise list`'s status
        atomic_write_text(_status_file(), json.dumps(status, indent=1))
    passed = sum(r.passed for r in results)
    summary = f"{passed} of {len(results)} passed"
    if passed == len(results):
        summary += f"; plug a part into a project, e.g. dlf train aptos --use {path}:NAME"
    return results, format_table(results) + "\n" + summary


__all__ = ["WEEKS", "check_file", "exercise_list", "exercise_start", "exercises_of", "starter_text"]
