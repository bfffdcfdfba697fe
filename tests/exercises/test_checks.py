"""Every exercise's check against its reference solution (must pass), its planted bugs (must
fail with the hint aimed at that mistake) and the untouched starter (must fail as "not
implemented yet"): a check that any implementation passes would be caught here."""

import types
from pathlib import Path

import pytest

from dlf.exercises import exercises_of, load_member_file, run_exercise
from dlf.exercises.commands import WEEKS, starter_text

HERE = Path(__file__).parent
WEEKS_WRITTEN = [w for w in WEEKS if (HERE / "solutions" / f"{w}.py").is_file()]


def _cases():
    for week in WEEKS_WRITTEN:
        planted = load_member_file(HERE / f"planted_{week}.py")
        for ex_name, attr, fn, hint in planted.BUGS:
            yield pytest.param(week, ex_name, attr, fn, hint, id=f"{week}-{ex_name}-{fn.__name__}")


def _module_with(path: Path, **parts) -> types.ModuleType:
    """A stand-in for a member's file that defines only `parts` (their code lives in `path`)."""
    m = types.ModuleType("member")
    m.__file__ = str(path)
    for k, v in parts.items():
        setattr(m, k, v)
    return m


@pytest.mark.parametrize("week", WEEKS_WRITTEN)
def test_reference_solutions_pass_every_check(week):
    module = load_member_file(HERE / "solutions" / f"{week}.py")
    results = [run_exercise(ex, module) for ex in exercises_of(week)]
    assert [(r.exercise, r.hint) for r in results if not r.passed] == []
    assert all(r.error is not None and r.error < 1e-7 for r in results)  # CS231n's "right"


@pytest.mark.parametrize(("week", "ex_name", "attr", "fn", "hint"), list(_cases()))
def test_planted_bug_fails_with_its_hint(week, ex_name, attr, fn, hint):
    (ex,) = [e for e in exercises_of(week) if e.name == ex_name]
    solution = load_member_file(HERE / "solutions" / f"{week}.py")
    parts = {name: getattr(solution, name) for name in ex.functions}  # right but for one part
    result = run_exercise(ex, _module_with(HERE / f"planted_{week}.py", **{**parts, attr: fn}))
    assert not result.passed
    assert hint in result.hint, result.hint


@pytest.mark.parametrize("week", WEEKS_WRITTEN)
def test_every_exercise_has_two_planted_bugs(week):
    planted = load_member_file(HERE / f"planted_{week}.py")
    counts = {ex.name: 0 for ex in exercises_of(week)}
    for ex_name, *_ in planted.BUGS:
        counts[ex_name] += 1
    assert min(counts.values()) >= 2, counts


@pytest.mark.parametrize("week", WEEKS)
def test_the_starter_defines_everything_and_solves_nothing(week, tmp_path):
    path = tmp_path / f"my_{week}.py"
    path.write_text(starter_text(week))
    module = load_member_file(path)
    results = [run_exercise(ex, module) for ex in exercises_of(week)]
    assert results and all(not r.passed for r in results)
    assert {r.hint for r in results} == {"not implemented yet (raise NotImplementedError)"}
