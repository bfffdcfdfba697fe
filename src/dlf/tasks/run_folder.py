"""A run folder: what it holds, how a new, resumed or restarted run finds it, and its log."""

import dataclasses
import shutil
import time
from pathlib import Path

from dlf.core.errors import DlfError
from dlf.tasks.base import TrainConfig

RUN_FILES = (
    "config.json",
    "metrics.csv",
    "model.safetensors",
    "checkpoint",
    "report.html",
    "log.txt",
    "board.json",  # what the meetup board reads (dlf.tasks.board_files)
    "valid_items.json",
    "valid_items.npz",
)


class RunLog:
    """Prints a line and appends it to the run's log.txt."""

    def __init__(self, path: Path | None = None, quiet: bool = False) -> None:
        self.file = open(path, "a", buffering=1) if path else None  # noqa: SIM115 (closed in close())
        self.quiet = quiet

    def __call__(self, msg: str) -> None:
        if not self.quiet:
            print(msg, flush=True)
        self.to_file(msg)

    def to_file(self, msg: str) -> None:
        if self.file:
            self.file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}\n")

    def close(self) -> None:
        if self.file:
            self.file.close()


def prepare_run_folder(run: Path, resume: bool, overwrite: bool) -> str:
    """Make `run` ready and say how to start: "new", "resume" (from the checkpoint) or
    "restart" (--resume on a run killed before its first checkpoint: start it again from
    the beginning with its saved settings). Refuses to mix two runs in one folder.

    A run that failed before its first checkpoint left only its log.txt (see
    `forget_failed_start`), so it counts as not started: the corrected command reuses it."""
    if run.is_dir():  # temporaries of atomic writes that a kill interrupted
        for tmp in [*run.glob(".*.tmp"), *run.glob("checkpoint/.*.tmp")]:
            tmp.unlink()
    started = run.is_dir() and any(run.iterdir())
    # A run killed before it wrote config.json leaves at most its log: nothing to keep.
    unstarted = started and {p.name for p in run.iterdir()} <= {"log.txt", "checkpoint"}
    if resume:
        if not (run / "config.json").is_file():
            if not unstarted:
                raise DlfError(
                    f"{run}: nothing to resume (no config.json); drop --resume to start a new run"
                )
            return "new"
        if not (run / "checkpoint" / "state.pt").is_file():
            return "restart"
        return "resume"
    if started and not unstarted:
        if not (run / "config.json").is_file():
            raise DlfError(f"{run}: folder is not empty and is not a dlf run; choose another --out")
        if not overwrite:
            raise DlfError(
                f"{run}: holds a run already; pass --resume to continue it, --overwrite to replace it, or another --out"
            )
        remove_run_files(run)
    run.mkdir(parents=True, exist_ok=True)
    return "new"


def forget_failed_start(run: Path) -> None:
    """After a failure before the first checkpoint, drop the run's settings and partial files
    (log.txt stays, with the error): there is no training to keep, and a saved config.json
    would refuse the corrected command ("holds a run already") or let --resume replay the bad
    settings."""
    remove_run_files(run, keep=("log.txt",))


def remove_run_files(run: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete what a run wrote into `run` (RUN_FILES), but the names in `keep`."""
    for name in RUN_FILES:
        p = run / name
        if name in keep:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()


def changed_settings(given: TrainConfig, saved: TrainConfig) -> list[str]:
    """The settings given to a --resume (not None) that differ from the run's saved ones."""
    changed = []
    for f in dataclasses.fields(TrainConfig):
        name, new, old = f.name, getattr(given, f.name), getattr(saved, f.name)
        if name in ("task", "out", "options", "device", "who", "note") or new is None:
            continue  # the device may change: a run can continue on another machine
        same = Path(new).resolve() == Path(old).resolve() if name == "data" and old else new == old
        if not same:
            changed.append(f"--{name.replace('_', '-')} {new} (saved: {old})")
    for k, v in given.options.items():
        if saved.options.get(k) != v:
            changed.append(f"--option {k}={v} (saved: {saved.options.get(k)})")
    return changed


def refuse_changed_settings(
    run: Path, given: TrainConfig, saved: TrainConfig, has_checkpoint: bool
) -> None:
    """--resume continues with the saved settings; new ones are refused, never ignored."""
    changed = changed_settings(given, saved)
    if not changed:
        return
    what = ", ".join(changed)
    if has_checkpoint:
        raise DlfError(
            f"{run}: --resume continues the run with its saved settings, but you gave {what}; "
            "a one-cycle schedule cannot be extended or changed midway: drop them to resume "
            "as saved, or start a new run with them (--overwrite, or another --out)"
        )
    raise DlfError(
        f"{run}: --resume restarts this run (it has no checkpoint yet) with its saved settings, "
        f"but you gave {what}; to start it with these, pass --overwrite instead of --resume "
        "(nothing is lost: it had not trained yet)"
    )
