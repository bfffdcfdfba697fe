"""`dlf train` as 2 CPU processes (gloo): through `--nproc 2` (torch's elastic launcher),
killed and resumed, one rank failing alone, and two torchrun launches that meet as two
"nodes" on localhost. The reference for each is the unbroken `--nproc 2` run of the same
command: ranks draw the same random numbers in the same order, so runs of 2 processes
repeat bit for bit and are compared exactly."""

import csv
import io
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from ddp.helpers import TINY, dlf_cmd, rank_env, torchrun_cmd
from dlf.core.launch import without_nproc

ARGS = ["--epochs", "2", "--checkpoint-every", "1", *TINY]  # 4 steps an epoch


def train_cmd(task: str, data: Path, run: Path, *extra) -> list[str]:
    return ["train", task, "--data", data, "--out", run, *ARGS, *extra]


def dlf(home: Path, *argv, kill_at: str | None = None, timeout: float = 240):
    return subprocess.run(dlf_cmd(*argv), env=rank_env(home, kill_at), capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip


def assert_same_run(run: Path, ref: Path) -> None:
    def rows(r):
        table = csv.DictReader(io.StringIO((r / "metrics.csv").read_text()))
        return [{k: v for k, v in row.items() if k != "seconds"} for row in table]

    assert rows(run) == rows(ref)
    a, b = load_file(ref / "model.safetensors"), load_file(run / "model.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


@pytest.fixture(scope="module")
def reference(aptos_data, tmp_path_factory) -> Path:
    """The unbroken 2-process run."""
    ref = tmp_path_factory.mktemp("reference") / "run"
    p = dlf(ref.parent / "home", *train_cmd("aptos", aptos_data, ref), "--nproc", 2)
    assert p.returncode == 0, p.stdout + p.stderr
    return ref


def test_without_nproc_drops_the_option_in_both_spellings():
    assert without_nproc(["train", "x", "--nproc", "2", "--bs", "4"]) == ["train", "x", "--bs", "4"]
    assert without_nproc(["train", "--nproc=2", "x"]) == ["train", "x"]


@pytest.mark.slow
def test_only_rank_0_writes_and_the_log_says_so_once(reference):
    files = {p.name for p in reference.iterdir()}
    assert {"config.json", "metrics.csv", "model.safetensors", "report.html", "log.txt"} <= files
    log = (reference / "log.txt").read_text()
    assert log.count("validation qwk") == 1  # one process spoke


@pytest.mark.slow
def test_a_two_process_run_killed_and_resumed_ends_as_the_unbroken_one(
    aptos_data, reference, tmp_path
):
    """Rank 0 SIGKILLs itself as it is about to write the checkpoint after epoch 1's third
    step (the last one on disk is then from its second); the launcher stops rank 1."""
    run = tmp_path / "run"
    cmd = [*train_cmd("aptos", aptos_data, run), "--nproc", 2]
    p = dlf(tmp_path / "home", *cmd, kill_at="before_checkpoint:epoch=1,iter=3")
    assert p.returncode == 128 + signal.SIGKILL, p.stdout + p.stderr
    assert not (run / "model.safetensors").exists() or (run / "checkpoint" / "state.pt").exists()
    p = dlf(tmp_path / "home", *cmd, "--resume")
    assert p.returncode == 0, p.stdout + p.stderr
    assert_same_run(run, reference)


@pytest.mark.slow
def test_one_rank_failing_ends_the_job_with_its_one_line_and_status_2(aptos_data, tmp_path):
    run = tmp_path / "run"
    t = time.monotonic()
    p = dlf(tmp_path / "home", *train_cmd("rank_tasks:FailsOnRank1", aptos_data, run),
            "--nproc", 2, timeout=120)  # fmt: skip
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip().splitlines() == [
        "dlf: error: rank 1 refuses to build its model (a planted error)"
    ]
    # rank 0 waited in a collective (timeout 60 s in these tests): the launcher ended it
    assert time.monotonic() - t < 60
    # nothing trained: as after a one-process failure, only the log stays (rerun in place)
    assert sorted(p.name for p in run.iterdir()) == ["log.txt"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_meeting_on_localhost_train_as_two_local_processes(
    aptos_data, reference, tmp_path
):
    """The line a cluster user types on each node, here twice on one machine."""
    run, port = tmp_path / "run", free_port()

    def node(rank: int) -> subprocess.Popen:
        cmd = torchrun_cmd("--nnodes", 2, "--node_rank", rank, "--nproc_per_node", 1,
                           "--rdzv_backend", "c10d", "--rdzv_endpoint", f"localhost:{port}",
                           "--rdzv_id", "dlf-test", "-m", "dlf",
                           *train_cmd("aptos", aptos_data, run))  # fmt: skip
        return subprocess.Popen(cmd, env=rank_env(tmp_path / "home"), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)  # fmt: skip

    nodes = [node(0), node(1)]
    outs = [n.communicate(timeout=240)[0] for n in nodes]
    assert [n.returncode for n in nodes] == [0, 0], "\n".join(outs)
    assert_same_run(run, reference)


@pytest.mark.slow
def test_bad_input_seen_by_every_rank_is_said_once(tmp_path):
    """The main rank checks the data folder for all; the others stop with its error quietly."""
    p = dlf(tmp_path / "home", "train", "aptos", "--data", tmp_path / "nope", "--out",
            tmp_path / "run", "--nproc", 2, timeout=120)  # fmt: skip
    assert p.returncode == 2, p.stdout + p.stderr
    assert p.stderr.strip().splitlines() == [
        f"dlf: error: {tmp_path / 'nope'}: data folder not found; pass --data DIR "
        "(or omit it for the embedded dataset)"
    ]
