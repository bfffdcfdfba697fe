"""Survive a kill: `dlf train` SIGKILLed at random moments and resumed with --resume ends with
exactly the weights and metrics.csv of a run that was never interrupted (CPU, same seed).

The reference is the same command run once without interruption, in the same kind of
process (a subprocess with the same thread count), so any difference is the kill's doing.
"""

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dlf
from dlf.train.checkpoint import load_checkpoint_state
from reliability.helpers import TINY

SRC = Path(dlf.__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
ARGS = ["--epochs", "3", "--checkpoint-every", "1", *TINY]  # 4 steps an epoch, 12 checkpoints


def env(home: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(SRC), "DLF_HOME": str(home), "OMP_NUM_THREADS": "1"}


def start(home: Path, *argv, script=None) -> subprocess.Popen:
    cmd = [sys.executable, str(script)] if script else [sys.executable, "-m", "dlf.cli"]
    return subprocess.Popen([*cmd, *map(str, argv)], env=env(home), stdout=subprocess.PIPE,
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


def wait_until(proc: subprocess.Popen, cond, timeout: float = 60.0) -> bool:
    """Poll `cond` as fast as we can; False if the process ended first."""
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if cond():
            return True
        if proc.poll() is not None:
            return False
    raise AssertionError("timed out waiting for the training process")


def kill(proc: subprocess.Popen) -> bool:
    """SIGKILL; True if the process was still running (the kill landed)."""
    landed = proc.poll() is None
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    return landed


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


def test_sigkill_at_random_moments_then_resume_matches_an_unbroken_run(
    aptos_master, reference, tmp_path
):
    home, aptos, ref, run = tmp_path / "home", aptos_master, reference, tmp_path / "run"

    rng = random.Random()
    seed = rng.randrange(10**6)
    rng.seed(seed)
    where = f"(random seed {seed})"
    landed = []

    # 1. Before the first checkpoint exists: --resume starts the run again from the beginning.
    p = start(home, *train_cmd(aptos, run))
    wait_until(
        p, lambda: (run / "config.json").exists() and not (run / "checkpoint" / "state.pt").exists()
    )
    landed.append(("before the first checkpoint", kill(p)))
    assert_whole(run)

    # 2. While a checkpoint is being written: its temporary file is on disk, not yet renamed.
    p = start(home, *train_cmd(aptos, run, resume=True))
    nth = rng.randint(1, 4)  # of 12: leaves two epochs for the kills below
    seen = set()

    def nth_tmp() -> bool:
        seen.update(tmp_files(run))
        return len(seen) >= nth

    wait_until(p, nth_tmp)
    landed.append((f"writing checkpoint {nth}", kill(p)))
    assert_whole(run)

    # 3. At a random moment while training.
    p = start(home, *train_cmd(aptos, run, resume=True))
    log = run / "log.txt"
    n_starts = log.read_text().count("device cpu")
    wait_until(p, lambda: log.read_text().count("device cpu") > n_starts)
    time.sleep(rng.uniform(0.0, 0.3))  # an epoch takes about 0.5 s
    landed.append(("at a random moment", kill(p)))
    assert_whole(run)

    # 4. In the middle of validation (the process kills itself there with SIGKILL).
    p = start(home, run, script=HERE / "kill_in_validation.py")
    out, _ = p.communicate(timeout=120)
    landed.append(("during validation", p.returncode == -signal.SIGKILL))
    assert_whole(run)

    # Then --resume until done.
    p = start(home, *train_cmd(aptos, run, resume=True))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    assert [name for name, ok in landed if not ok] == [], f"kills that missed {where}: {landed}"

    assert metrics_without_seconds(run) == metrics_without_seconds(ref), where
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), f"{k} differs {where}"
    fitted = [json.loads((r / "config.json").read_text())["postprocess"] for r in (ref, run)]
    assert fitted[0] == fitted[1]
    assert tmp_files(run) == [], "temporary files left over from the kills were not cleaned up"


def test_ctrl_c_saves_a_checkpoint_says_how_to_resume_and_resume_completes(
    aptos_master, reference, tmp_path
):
    home, aptos, ref, run = tmp_path / "home", aptos_master, reference, tmp_path / "run"

    p = start(home, *train_cmd(aptos, run))
    wait_until(p, lambda: (run / "checkpoint" / "state.pt").exists())  # training is under way
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 2, out
    assert "Traceback" not in out
    assert f"dlf train aptos --out {run} --resume" in out
    state = load_checkpoint_state(run / "checkpoint" / "state.pt")
    assert (state["epoch"], state["iter"]) < (2, 4), "the run ended before the Ctrl-C landed"

    p = start(home, *train_cmd(aptos, run, resume=True))
    out, _ = p.communicate(timeout=120)
    assert p.returncode == 0, out
    assert metrics_without_seconds(run) == metrics_without_seconds(ref)
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
