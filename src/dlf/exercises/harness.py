"""The grader behind `dlf check`: load a member's file safely, run each exercise's check on
it, and turn every outcome (right, wrong, raised, hung, not written yet) into one table row.

A check is a function of the member's module. It compares the member's results with a
reference (PyTorch in float64, central differences, a case worked by hand) through
`expect_close`, which measures CS231n's relative error

    rel = max |a - b| / max(1e-8, |a| + |b|)     (below 1e-7: right; above 1e-2: wrong)

and raises `CheckFailed` with a hint aimed at the likely mistake. Anything the member's code
raises is reported with the line of their file where it happened, never as dlf's traceback.
"""

import contextlib
import importlib.util
import io
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import torch

from dlf.core.errors import DlfError

RIGHT = 1e-7  # CS231n: a relative error below this is right
WRONG = 1e-2  # ... and above this the code is wrong, not merely imprecise
TIME_LIMIT_S = 20.0  # per check: long enough for naive loops on the small inputs used


class CheckFailed(Exception):
    """A check found the member's result wrong; `hint` says what to look at."""

    def __init__(self, hint: str, error: float | None = None) -> None:
        super().__init__(hint)
        self.hint, self.error = hint, error


class _TimeUp(BaseException):  # BaseException: a member's `except Exception` cannot swallow it
    pass


@dataclass
class Exercise:
    """One exercise: the names the member defines and the check that grades them."""

    name: str
    week: str
    functions: tuple[str, ...]  # what the member's file must define
    what: str  # one line for `dlf exercise list`
    check: Callable[[ModuleType], float]  # returns the largest relative error seen
    plugs_in_as: str | None = None  # the `--use` kind, when it can run inside a task


@dataclass
class Result:
    exercise: str
    passed: bool
    error: float | None  # the largest relative error measured (None: nothing to compare)
    hint: str = ""
    printed: list[str] = field(default_factory=list)


# ---- comparing ---------------------------------------------------------------------------


def rel_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """CS231n's relative error, the largest over all elements."""
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    if a.numel() == 0:
        return 0.0
    den = (a.abs() + b.abs()).clamp_min(1e-8)
    return float(((a - b).abs() / den).max())


def factor_hint(mine: torch.Tensor, ref: torch.Tensor, n: int | None) -> str | None:
    """When `mine` is `ref` times a constant, say which constant (1/N, N, -1, ...)."""
    mine, ref = mine.detach().double().flatten(), ref.detach().double().flatten()
    if float(ref @ ref) == 0:
        return None
    scale = float(mine @ ref) / float(ref @ ref)
    if abs(scale - 1) < 1e-6 or rel_error(mine, scale * ref) > 1e-6:
        return None
    # a single number is always some multiple of another: only a telling multiple is named
    telling = [-1.0, *([1 / n, float(n)] if n and n > 1 else [])]
    if mine.numel() == 1 and not any(abs(scale / t - 1) < 1e-6 for t in telling):
        return None
    if abs(scale + 1) < 1e-6:
        return "the sign is flipped: check the sign of each term"
    if n and n > 1 and abs(scale * n - 1) < 1e-6:
        return f"right up to a factor of 1/N (N = {n}): did you average where the reference sums?"
    if n and n > 1 and abs(scale / n - 1) < 1e-6:
        return f"right up to a factor of N (N = {n}): did you sum instead of average?"
    return f"right up to a constant factor of {scale:.4g}"


def expect_close(
    what: str,
    mine,
    ref: torch.Tensor,
    n: int | None = None,
    hint: str | None = None,
    dtype: torch.dtype | None = torch.float64,
    close_hint: str | None = None,
) -> float:
    """Compare a member's result with the reference; return the relative error or raise
    CheckFailed naming `what`, the shape or dtype problem, a constant factor, or `hint`
    (`close_hint` instead when the error is small: between RIGHT and WRONG)."""
    if not isinstance(mine, torch.Tensor):
        raise CheckFailed(f"{what}: returned {type(mine).__name__}, expected a torch.Tensor")
    if tuple(mine.shape) != tuple(ref.shape):
        raise CheckFailed(f"{what}: shape {tuple(mine.shape)}, expected {tuple(ref.shape)}")
    if dtype is not None and mine.dtype != dtype:
        raise CheckFailed(
            f"{what}: dtype {mine.dtype} for {dtype} input: make new tensors with "
            "dtype=x.dtype (torch.zeros_like, x.new_zeros)"
        )
    if not torch.isfinite(mine.double()).all() and torch.isfinite(ref.double()).all():
        raise CheckFailed(f"{what}: has inf or nan" + (f"; {hint}" if hint else ""), float("inf"))
    err = rel_error(mine, ref)
    if err < RIGHT:
        return err
    named = factor_hint(mine, ref, n)
    if named is not None and named.startswith("right up to a constant") and hint:
        named = None  # the check's own diagnosis says more than an unexplained factor
    if named is None and close_hint and err < WRONG:
        named = close_hint
    if named is None:
        named = hint or (
            "close but not exact (float32 somewhere, or an approximate formula?)"
            if err < WRONG
            else "wrong values"
        )
    raise CheckFailed(f"{what}: {named}", err)


def numerical_grad(f: Callable[[], torch.Tensor], x: torch.Tensor, df: torch.Tensor, h=1e-6):
    """Central differences of sum(f() * df) with respect to x, element by element (CS231n's
    eval_numerical_gradient_array): the independent reference for every backward pass."""
    grad = torch.zeros_like(x)
    flat, g = x.view(-1), grad.view(-1)
    for i in range(flat.numel()):
        old = float(flat[i])
        flat[i] = old + h
        plus = (f() * df).sum()
        flat[i] = old - h
        minus = (f() * df).sum()
        flat[i] = old
        g[i] = (plus - minus) / (2 * h)
    return grad


def require(module: ModuleType, *names: str) -> list:
    """The member's definitions, or a failure naming the missing one."""
    found = []
    for name in names:
        obj = getattr(module, name, None)
        if obj is None:
            raise CheckFailed(f"define {name} in your file (the starter from `dlf exercise start`)")
        found.append(obj)
    return found


# ---- loading and running the member's code -----------------------------------------------


@contextlib.contextmanager
def time_limit(seconds: float):
    """Interrupt the member's code after `seconds` (main thread only: signals need it)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def on_alarm(signum, frame):
        raise _TimeUp

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _where(exc: BaseException, member_file: Path) -> str:
    """`my_week3.py:42` for the last line of the member's file in the traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == member_file]
    if not frames:
        return ""
    return f" at {member_file.name}:{frames[-1].lineno}"


def _in_member_code(exc: BaseException, member_file: Path) -> bool:
    return any(Path(f.filename) == member_file for f in traceback.extract_tb(exc.__traceback__))


def load_member_file(path: Path, time_s: float | None = None) -> ModuleType:
    """Import the member's file as a fresh module (their prints captured); a file that does
    not import raises DlfError with one line: the error and the line of their file."""
    time_s = TIME_LIMIT_S if time_s is None else time_s
    path = Path(path).resolve()
    if not path.is_file():
        raise DlfError(f"{path}: file not found; write it with `dlf exercise start WEEK --to FILE`")
    name = f"dlf_member_{path.stem}_{abs(hash(str(path)))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DlfError(f"{path}: not a Python file; give the .py file you wrote")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    out = io.StringIO()
    try:
        with time_limit(time_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(name, None)
        raise DlfError(
            f"{path}:{e.lineno}: syntax error: {e.msg}; fix it and check again"
        ) from None
    except SystemExit:
        sys.modules.pop(name, None)
        raise DlfError(
            f"{path}: importing it called exit(); put that under `if __name__ == '__main__':`"
        ) from None
    except _TimeUp:
        sys.modules.pop(name, None)
        raise DlfError(
            f"{path}: importing it took over {time_s:.0f} s; move work into functions"
        ) from None
    except Exception as e:
        sys.modules.pop(name, None)
        raise DlfError(
            f"{path}: importing it raised {type(e).__name__}: {e}{_where(e, path)}"
        ) from None
    return module


def run_exercise(ex: Exercise, module: ModuleType, time_s: float | None = None) -> Result:
    """Run one check; whatever happens, come back with a Result (never a traceback)."""
    time_s = TIME_LIMIT_S if time_s is None else time_s
    member_file = Path(module.__file__).resolve()
    out = io.StringIO()
    torch.manual_seed(0)  # every check sees the same inputs on every run
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the inputs are tiny: threads only add waiting (1000x for conv)
    try:
        with time_limit(time_s), contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            err = ex.check(module)
        result = Result(ex.name, True, err)
    except CheckFailed as e:
        result = Result(ex.name, False, e.error, e.hint)
    except SystemExit:
        result = Result(ex.name, False, None, "your code called exit(): return a value instead")
    except _TimeUp:
        result = Result(ex.name, False, None,
                        f"took over {time_s:.0f} s: a loop that never ends, or a loop over "
                        "elements that should be one tensor operation")  # fmt: skip
    except NotImplementedError as e:
        hint = "not implemented yet (raise NotImplementedError)"
        if not _in_member_code(e, member_file):
            hint = f"internal error in dlf's check ({e}); please report it"
        result = Result(ex.name, False, None, hint)
    except Exception as e:
        if _in_member_code(e, member_file):
            msg = str(e).splitlines()[0] if str(e) else ""
            hint = f"your code raised {type(e).__name__}{_where(e, member_file)}: {msg}"
        else:
            hint = f"the check could not use your result ({type(e).__name__}: {e})"
        result = Result(ex.name, False, None, hint.strip().rstrip(":"))
    finally:
        torch.set_num_threads(threads)
    result.printed = out.getvalue().splitlines()
    return result


def format_table(results: Sequence[Result]) -> str:
    """exercise | pass/fail | max rel error | hint, one row per exercise."""
    rows = [("exercise", "result", "max rel error", "hint")]
    for r in results:
        err = "-" if r.error is None else ("inf" if r.error == float("inf") else f"{r.error:.1e}")
        hint = r.hint
        if r.printed:
            said = r.printed[0][:40]
            hint = (hint + "; " if hint else "") + (
                f"(your code printed {len(r.printed)} line(s), e.g. {said!r})"
            )
        rows.append((r.exercise, "pass" if r.passed else "FAIL", err, hint))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = [" | ".join([*(c.ljust(w) for c, w in zip(row[:3], widths, strict=True)), row[3]]).rstrip()
             for row in rows]  # fmt: skip
    lines.insert(1, "-+-".join("-" * w for w in widths) + "-+-" + "-" * 4)
    return "\n".join(lines)


__all__ = [
    "RIGHT",
    "TIME_LIMIT_S",
    "WRONG",
    "CheckFailed",
    "Exercise",
    "Result",
    "expect_close",
    "factor_hint",
    "format_table",
    "load_member_file",
    "numerical_grad",
    "rel_error",
    "require",
    "run_exercise",
    "time_limit",
]
