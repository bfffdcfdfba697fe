"""`dlf meetup`: the board from members' runs (folders or zips), with test scores when the
task's truth inputs are given (each run's submission.csv scored by the task's `evaluate`,
exactly as `dlf evaluate` would)."""

import argparse
from collections.abc import Sequence
from pathlib import Path

from dlf.core.errors import DlfError
from dlf.report.board import write_board
from dlf.report.runs import RunRecord, open_runs
from dlf.tasks.registry import get_task
from dlf.tasks.runner import evaluate


def parse_truth(runs: Sequence[RunRecord], args: Sequence[str]) -> dict[str, dict[str, str]]:
    """The truth inputs given on the command line, per task of the runs ({task: {name: path}});
    an option that no task of these runs reads is refused."""
    if not args:
        return {}
    known, per_task = set(), {}
    for name in dict.fromkeys(r.task for r in runs):
        try:
            task = get_task(name)
        except DlfError:
            continue  # a member's own task, not importable here: its runs get no test score
        parser = argparse.ArgumentParser(add_help=False)
        for option in task.truth_inputs:
            parser.add_argument(f"--{option}")
            known.add(f"--{option}")
        given, _ = parser.parse_known_args(list(args))
        per_task[name] = {k: v for k, v in vars(given).items() if v}
    unknown = [a for a in args if a.startswith("--") and a.split("=")[0] not in known]
    if unknown:
        raise DlfError(
            f"dlf meetup: {' '.join(unknown)} is not a truth input of {', '.join(per_task)} "
            f"(they read: {' '.join(sorted(known))})"
        )
    return per_task


def score_tests(runs: Sequence[RunRecord], truth: dict[str, dict[str, str]], log=print) -> None:
    """Fill each run's `test` score from its submission.csv, for tasks given all truth inputs."""
    for r in runs:
        given = truth.get(r.task)
        if not given:
            continue
        task = get_task(r.task)  # loaded once already by parse_truth
        sub = r.folder / "submission.csv"
        if not sub.is_file():
            log(f"{r.name}: no submission.csv (run `dlf predict {r.task} --run ...` before "
                "packing); its test score is left empty")  # fmt: skip
            continue
        r.test = {task.metric_name: evaluate(task, sub, **given)}


def meetup(
    paths: Sequence[str | Path],
    out: str | Path,
    md: str | Path | None = None,
    truth_args: Sequence[str] = (),
    log=print,
) -> Path:
    """Write the board of the runs in `paths` to `out` (and Markdown to `md`)."""
    with open_runs(paths) as runs:
        score_tests(runs, parse_truth(runs, truth_args), log)
        return write_board(runs, out, md)


__all__ = ["meetup", "parse_truth", "score_tests"]
