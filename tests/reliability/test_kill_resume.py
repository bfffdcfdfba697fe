"""Survive a kill: `dlf train` SIGKILLed at any moment and resumed with --resume ends with
exactly the weights, metrics.csv and fitted thresholds of a run that was never interrupted
(CPU, same seed).

The kills are not timed from outside (a moment that lasts a millisecond, such as the gap
between an epoch's validation and its checkpoint, would be hit by chance or not at all): the
training process kills itself at a named moment, asked for with `DLF_TEST_KILL_AT` (see
`dlf.core.killpoint`). The reference is the same command run once without interruption, in
the same kind of process (a subprocess with the same thread count), so any difference is
the kill's doing.
"""

import csv
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dlf
from dlf.core.killpoint import KILL_ENV
from dlf.train.checkpoint import load_checkpoint_state
from reliability.helpers import TINY

SRC = Path(dlf.__file__).resolve().parents[1]
ARGS = ["--epochs", "3", "--checkpoint-every", "1", *TINY]  # 4 steps an epoch, 12 checkpoints


def env(home: Path, kill_at: str | None = None) -> dict:
    e = {**os.environ, "PYTHONPATH": str(SRC), "DLF_HOME": str(home), "OMP_NUM_THREADS": "1"}
    e.pop(KILL_ENV, None)
    return {**e, KILL_ENV: kill_at} if kill_at else e


def start(home: Path, *argv, kill_at: str | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dlf.cli", *map(str, argv)],
                            env=env(home, kill_at), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)  # fmt: skip


def train_cmd(data: Path, run: Path, resume: bool = False) -> list:
    return [
        "train",
        "aptos",
        "--data",
        data,
        "--out",
        run,
        *ARGS,
        *(["--resume"] if resume else []),
    ]


def tmp_files(run: Path) -> list[Path]:
    return (
        list((run / "checkpoint").glob(".state.pt.*.tmp")) if (run / "checkpoint").is_dir() else []
    )


def assert_whole(run: Path) -> None:
    """Whatever a kill left in the run folder is a whole file, never half of one."""
    if (run / "config.json").exists():
        json.loads((run / "config.json").read_text())
    if (run / "metrics.csv").exists():
        rows = list(csv.reader(io.StringIO((run / "metrics.csv").read_text())))
        assert rows[0][0] == "epoch" and all(len(r) == len(rows[0]) for r in rows)
    if (run / "checkpoint" / "state.pt").exists():
        load_checkpoint_state(run / "checkpoint" / "state.pt")
    if (run / "model.safetensors").exists():
        load_file(run / "model.safetensors")


def metrics_without_seconds(run: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO((run / "metrics.csv").read_text())))
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


@pytest.fixture(scope="module")
def reference(aptos_master, tmp_path_factory) -> Path:
    """The uninterrupted run every broken one must end up equal to."""
    ref = tmp_path_factory.mktemp("reference") / "run"
    p = start(ref.parent / "home", *train_cmd(aptos_master, ref))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    return ref


def kill_then_resume(home: Path, data: Path, run: Path, kills: list[str]) -> None:
    """Start the run, kill it at `kills[0]`, resume it and kill it at `kills[1]`, ...; then
    resume it to the end. Every kill must land, and leave only whole files behind."""
    for i, moment in enumerate(kills):
        p = start(home, *train_cmd(data, run, resume=i > 0), kill_at=moment)
        out, _ = p.communicate(timeout=120)
        assert p.returncode == -signal.SIGKILL, f"the kill at {moment} did not land:\n{out}"
        if moment.startswith("before_replace:file=state.pt"):
            assert tmp_files(run), "no checkpoint was half written when the kill came"
        assert_whole(run)
    p = start(home, *train_cmd(data, run, resume=True))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out


def assert_same_run(run: Path, ref: Path, where: str) -> None:
    assert metrics_without_seconds(run) == metrics_without_seconds(ref), where
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs {where}"
    fitted = [json.loads((r / "config.json").read_text())["postprocess"] for r in (ref, run)]
    assert fitted[0] == fitted[1], where
    assert tmp_files(run) == [], "temporary files left over from the kills were not cleaned up"


def test_resume_from_an_epoch_end_checkpoint_then_killed_in_the_next_epoch_matches(
    aptos_master, reference, tmp_path
):
    """The moment that lost state (issue 12, the flake of the random-moment test): a run
    resumed from an epoch-end checkpoint wrote, in the epoch after it, checkpoints whose
    `epoch_rng` (the RNG state that orders that epoch's batches) was the previous epoch's.
    Resumed from one of them, the run redrew the previous epoch's order for the rest of the
    epoch: other batches, other weights, another metrics.csv row."""
    kills = ["after_epoch:epoch=0", "after_pred:phase=valid,epoch=1"]
    kill_then_resume(tmp_path / "home", aptos_master, tmp_path / "run", kills)
    assert_same_run(tmp_path / "run", reference, f"(killed at {kills})")


def test_sigkill_at_each_kind_of_moment_then_resume_matches_an_unbroken_run(
    aptos_master, reference, tmp_path
):
    """One run killed six times, once at each kind of moment, then resumed to the end."""
    kills = [
        "before_checkpoint:epoch=0,iter=1",  # before the first checkpoint: --resume restarts
        "before_replace:file=state.pt,n=2",  # a checkpoint's temporary file whole, not renamed
        "after_metrics_write:epoch=0",  # metrics.csv has the epoch, the checkpoint has not
        "after_valid:epoch=1",  # validation done, its row not yet recorded
        "after_fit",  # training done, thresholds not yet fitted
        "after_postprocess",  # config.json holds the result, the report is not written
    ]
    kill_then_resume(tmp_path / "home", aptos_master, tmp_path / "run", kills)
    assert_same_run(tmp_path / "run", reference, f"(killed at {kills})")


def every_moment() -> list[list[str]]:
    """Each event and named point of epoch 1 (of 0-2), alone and after a resume from the
    epoch-end checkpoint of epoch 0; and the moments after training."""
    batch = [
        "before_batch",
        "after_pred",
        "after_loss",
        "after_backward",
        "after_step",
        "after_batch",
    ]
    epoch = [
        "before_epoch", "before_train", *(f"{e}:phase=train,iter=1" for e in batch),
        "before_checkpoint:iter=2", "before_replace:file=state.pt", "after_checkpoint:iter=2",
        "after_train", "before_valid", "after_pred:phase=valid", "after_valid",
        "before_metrics_write", "before_replace:file=metrics.csv", "after_metrics_write",
        "before_checkpoint:iter=4", "after_checkpoint:iter=4", "after_epoch",
    ]  # fmt: skip
    at_epoch_1 = [m + ("," if ":" in m else ":") + "epoch=1" for m in epoch if "file=" not in m]
    # atomic writes know no epoch: count them (4 checkpoints and 1 metrics.csv per epoch)
    writes = ["before_replace:file=state.pt,n=5", "before_replace:file=metrics.csv,n=2"]
    cases = [[m] for m in at_epoch_1 + writes] + [["after_epoch:epoch=0", m] for m in at_epoch_1]
    after = ["after_fit", "before_postprocess", "after_valid:epoch=2,n=2", "after_postprocess"]
    return cases + [[m] for m in after]


@pytest.mark.slow
@pytest.mark.parametrize("kills", every_moment(), ids=lambda k: " then ".join(k))
def test_sigkill_at_every_named_moment_then_resume_matches_an_unbroken_run(
    aptos_master, reference, tmp_path, kills
):
    kill_then_resume(tmp_path / "home", aptos_master, tmp_path / "run", kills)
    assert_same_run(tmp_path / "run", reference, f"(killed at {kills})")


def test_ctrl_c_saves_a_checkpoint_says_how_to_resume_and_resume_completes(
    aptos_master, reference, tmp_path
):
    home, aptos, ref, run = tmp_path / "home", aptos_master, reference, tmp_path / "run"

    # The process sends itself SIGINT (a Ctrl-C) after the step of batch 1 of epoch 1.
    p = start(home, *train_cmd(aptos, run), kill_at="after_step:epoch=1,iter=1,signal=INT")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 2, out
    assert "Traceback" not in out
    assert f"dlf train aptos --out {run} --resume" in out
    state = load_checkpoint_state(run / "checkpoint" / "state.pt")
    assert (state["epoch"], state["iter"]) == (1, 2), "not saved at the end of that batch"

    p = start(home, *train_cmd(aptos, run, resume=True))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    assert metrics_without_seconds(run) == metrics_without_seconds(ref)
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
