"""Run folders as members send them: read from a folder or a zip (`dlf pack`), for the board.

Everything a board needs is inside the run folder, named relative to it: `config.json` (the
settings, the member's name and note, the validation score), `metrics.csv` (per epoch),
`board.json` (facts measured at training time: parameters, FLOPs, speed, device, the
learning rate per step, the task's defaults) and `valid_items.json`/`.npz` (see items.py).
A run trained before the board existed still shows, with what it has.
"""

import contextlib
import json
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from dlf.core.atomic import atomic_write
from dlf.core.errors import DlfError
from dlf.report.html import read_metrics_csv
from dlf.report.items import ValidItems, load_items

BOARD_JSON = "board.json"
#: what a pack leaves out: the checkpoint (the weights are in model.safetensors) and temporaries
PACK_SKIP = ("checkpoint",)


@dataclass
class RunRecord:
    """One run as the board sees it."""

    name: str  # the folder's (or zip's) name
    folder: Path  # where its files are now (a temporary folder for a zip)
    config: dict  # config.json's "config": the settings
    saved: dict  # the whole config.json (valid, postprocess, use, ...)
    rows: list[dict]  # metrics.csv
    board: dict  # board.json (empty for a run from before the board)
    items: ValidItems | None
    test: dict = field(default_factory=dict)  # {metric: value} when truth inputs were given

    @property
    def task(self) -> str:
        return self.config.get("task", "?")

    @property
    def who(self) -> str:
        return self.config.get("who") or ""

    @property
    def note(self) -> str:
        return self.config.get("note") or ""

    @property
    def label(self) -> str:
        """How the run is named on the board: the member, then the folder."""
        return f"{self.who}: {self.name}" if self.who else self.name

    @property
    def metric(self) -> tuple[str, float] | None:
        valid = self.saved.get("valid") or {}
        return next(iter(valid.items()), None)

    @property
    def higher_is_better(self) -> bool:
        return self.board.get("higher_is_better", True)

    @property
    def facts(self) -> dict:
        return self.board.get("facts", {})


def read_json(path: Path) -> dict:
    """A run's JSON file; a damaged one is named with the line to look at."""
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DlfError(
            f"{path}: line {e.lineno}: not valid JSON ({e.msg}); the run's file is damaged"
        ) from None


def read_run(folder: Path, name: str | None = None) -> RunRecord:
    """A run folder's files as a RunRecord; refuses a folder that is not a finished run."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise DlfError(
            f"{folder}: not a run folder (no config.json); pass folders written by `dlf train` "
            "or zips written by `dlf pack`"
        )
    saved = read_json(cfg_path)
    if "valid" not in saved:
        raise DlfError(
            f"{folder}: the run did not finish (no validation score); resume it with --resume"
        )
    rows = read_metrics_csv(folder / "metrics.csv") if (folder / "metrics.csv").is_file() else []
    board = read_json(folder / BOARD_JSON) if (folder / BOARD_JSON).is_file() else {}
    return RunRecord(name=name or folder.name, folder=folder, config=saved.get("config", {}),
                     saved=saved, rows=rows, board=board, items=load_items(folder))  # fmt: skip


def _safe_members(zf: zipfile.ZipFile, path: Path) -> list[str]:
    """The zip's member names, refusing any that would land outside the folder it is unpacked
    into (an absolute path or '..': a zip from someone else must not write elsewhere)."""
    names = zf.namelist()
    for n in names:
        p = PurePosixPath(n)
        if p.is_absolute() or ".." in p.parts:
            raise DlfError(f"{path}: member {n!r} points outside the archive; not unpacked")
    return names


@contextlib.contextmanager
def open_runs(paths: Sequence[str | Path]) -> Iterator[list[RunRecord]]:
    """Read runs from folders or zips (unpacked into a temporary folder for the block)."""
    with tempfile.TemporaryDirectory(prefix="dlf-board-") as tmp:
        runs = []
        for k, p in enumerate(map(Path, paths)):
            if p.is_dir():
                runs.append(read_run(p))
            elif p.is_file() and zipfile.is_zipfile(p):
                dest = Path(tmp) / str(k)
                with zipfile.ZipFile(p) as zf:
                    _safe_members(zf, p)
                    zf.extractall(dest)
                found = sorted(c.parent for c in dest.rglob("config.json"))
                if not found:
                    raise DlfError(f"{p}: no config.json inside; pack a run with `dlf pack RUN`")
                runs.append(read_run(found[0], name=found[0].name if found[0] != dest else p.stem))
            else:
                raise DlfError(f"{p}: neither a run folder nor a zip of one; check the path")
        yield runs


def pack_run(run: str | Path, out: str | Path | None = None) -> Path:
    """One zip of a run folder (without its checkpoint) that a member can send: every file
    under a top folder named like the run. Written atomically; returns its path."""
    run = Path(run)
    read_run(run)  # refuse what is not a finished run before writing anything
    out = Path(out or run.with_name(run.name + ".zip"))
    if out.resolve().is_relative_to(run.resolve()):
        raise DlfError(f"{out}: inside the run it packs; write the zip elsewhere (--out)")
    files = sorted(
        p
        for p in run.rglob("*")
        if p.is_file()
        and p.relative_to(run).parts[0] not in PACK_SKIP
        and not p.name.startswith(".")  # temporaries of atomic writes
    )
    with atomic_write(out, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in files:
            zf.write(p, f"{run.name}/{p.relative_to(run).as_posix()}")
    return out


__all__ = ["BOARD_JSON", "PACK_SKIP", "RunRecord", "open_runs", "pack_run", "read_json", "read_run"]
