"""Exercises a member implements, graded by `dlf check` (issue 20; docs/week2..week5).

One module per week holds its checks (`EXERCISES`), `starters/` the files `dlf exercise
start` writes (signatures and docstrings, no solutions), `harness.py` the safe loading and
grading, `commands.py` the three commands. A passing part runs inside a real task with
`dlf train TASK --use FILE:NAME` (the plumbing is dlf.tasks.plugins).
"""

from dlf.exercises.commands import check_file, exercise_list, exercise_start, exercises_of
from dlf.exercises.harness import (
    CheckFailed,
    Exercise,
    Result,
    expect_close,
    format_table,
    load_member_file,
    numerical_grad,
    rel_error,
    run_exercise,
)

__all__ = [
    "CheckFailed",
    "Exercise",
    "Result",
    "check_file",
    "exercise_list",
    "exercise_start",
    "exercises_of",
    "expect_close",
    "format_table",
    "load_member_file",
    "numerical_grad",
    "rel_error",
    "run_exercise",
]
