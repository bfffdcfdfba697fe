"""DistributedDataParallel through the Learner, 2 CPU processes on gloo, against one process.

Reference: the same script run as one process with the global batch (2b), in this process.
Two ranks with batch b each see the same rows per step (the loader slices one epoch order),
so they must reach the same weights, losses, metrics and predictions, up to float rounding:
DDP averages two per-rank mean gradients, (g0 + g1) / 2, where one process takes the mean
over 2b items at once; the same sum in another order differs in the last bits of float32
(~1e-7 relative), which a few dozen SGD steps carry along. Measured differences: about
6e-8 in the weights; the tolerances below are 20x that.
"""

import json
import subprocess

import pytest
import torch

from ddp.ddp_script import train_and_save
from ddp.helpers import HERE, rank_env, torchrun_cmd

ATOL = 1e-6


def run_two_ranks(tmp_path, *args) -> dict:
    out = tmp_path / "two" / "result.pt"
    out.parent.mkdir()
    cmd = torchrun_cmd("--standalone", "--nproc_per_node", 2, HERE / "ddp_script.py", out, *args)
    p = subprocess.run(cmd, env=rank_env(tmp_path / "home"), capture_output=True, text=True,
                       timeout=240)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    return torch.load(out, weights_only=False)


def run_one_process(tmp_path, bs: int, accumulate: int = 1) -> dict:
    out = tmp_path / "one" / "result.pt"
    out.parent.mkdir()
    train_and_save(str(out), bs, accumulate)
    return torch.load(out, weights_only=False)


def assert_same_training(one: dict, two: dict) -> None:
    for k, w in one["weights"].items():
        torch.testing.assert_close(two["weights"][k], w, atol=ATOL, rtol=0, msg=k)
    torch.testing.assert_close(torch.tensor(two["losses"]), torch.tensor(one["losses"]),
                               atol=ATOL, rtol=0)  # fmt: skip
    assert len(one["values"]) == len(two["values"]) == 3
    for a, b in zip(one["values"], two["values"]):  # every rank's share summed: whole-set figures
        for name in ("train_loss", "valid_loss", "accuracy", "qwk", "ce"):
            assert b[name] == pytest.approx(a[name], abs=ATOL), name
    # predictions come back from both ranks' blocks, in the loader's order
    assert torch.equal(two["targets"], one["targets"])
    torch.testing.assert_close(two["preds"], one["preds"], atol=10 * ATOL, rtol=0)


def test_two_ranks_of_batch_8_train_as_one_process_of_batch_16(tmp_path):
    assert_same_training(run_one_process(tmp_path, bs=16), run_two_ranks(tmp_path, "--bs", 8))
    # only rank 0 wrote (checkpoints mid-epoch and at epoch ends, metrics.csv) and spoke
    two = tmp_path / "two"
    assert {p.name for p in (two / "rank0").iterdir()} == {"checkpoint", "metrics.csv",
                                                          "model.safetensors"}  # fmt: skip
    assert not (two / "rank1").exists()
    assert json.loads((two / "said1.json").read_text()) == []
    assert json.loads((two / "said0.json").read_text())  # "device cpu, precision fp32"


@pytest.mark.slow
def test_accumulation_under_ddp_averages_once_per_step_as_one_process_does(tmp_path):
    """2 ranks x batch 4, accumulating 2 batches (no_sync on the first): each step sees the
    16 rows one process with batch 8 accumulating 2 batches sees."""
    one = run_one_process(tmp_path, bs=8, accumulate=2)
    assert_same_training(one, run_two_ranks(tmp_path, "--bs", 4, "--accumulate", 2))
