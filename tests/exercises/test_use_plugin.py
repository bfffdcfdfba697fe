"""`dlf train aptos --use FILE:NAME`: a member's part runs in the real pipeline in place of
dlf's. The reference solutions (tests/exercises/solutions) plugged in this way reach the same
validation QWK as dlf's own implementation of the same part, on a small APTOS set in the
competition's layout (fp32, same seed; see each test for the tolerance and its reason)."""

import json
from pathlib import Path

import pytest
from safetensors.torch import load_file

from dlf.cli import main
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.base import TrainConfig
from dlf.tasks.registry import get_task
from dlf.tasks.runner import predict, train

SOLUTIONS = Path(__file__).parent / "solutions"

# dlf's own implementation of each part, plugged in through the same door
DLF_PARTS = """
from dlf.models.layers import BasicBlock
from dlf.train.losses import cross_entropy
from dlf.train.optim import Adam
"""


@pytest.fixture(scope="module")
def aptos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("use") / "aptos"
    synth_aptos(folder, n=40, n_test=10, seed=1, width=(64, 96))
    own = folder.parent / "dlf_parts.py"
    own.write_text(DLF_PARTS)
    return folder, own


def _train(run: Path, data: Path, use: list[str] | None, **settings) -> dict:
    settings = {"epochs": 2, "size": 32, "bs": 8, "arch": "lenet", **settings}
    cfg = TrainConfig(task="aptos", data=str(data), out=str(run), precision="fp32", seed=0,
                      use=use, **settings)  # fmt: skip
    return train(get_task("aptos"), cfg, quiet=True)


def _qwk(result: dict) -> float:
    return result["valid"]["qwk"]


def _max_weight_gap(run_a: Path, run_b: Path) -> float:
    a, b = load_file(run_a / "model.safetensors"), load_file(run_b / "model.safetensors")
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def test_members_adam_trains_like_dlfs_adam_and_the_run_says_so(aptos, tmp_path):
    data, own = aptos
    mine = _train(tmp_path / "mine", data, [f"{SOLUTIONS / 'week4.py'}:Adam"])
    ours = _train(tmp_path / "ours", data, [f"optimizer={own}:Adam"])
    # The two Adams compute the same update in a different order of float32 operations
    # (dlf: lerp and sqrt(v)/sqrt(c2); the solution: b1*m + (1-b1)*g and sqrt(v/c2)), so the
    # weights agree to float32 rounding, not bit for bit; the QWK agrees exactly.
    assert _max_weight_gap(tmp_path / "mine", tmp_path / "ours") < 1e-4
    assert _qwk(mine) == _qwk(ours)
    assert mine["config"]["use"] == [f"optimizer={SOLUTIONS / 'week4.py'}:Adam"]
    saved = json.loads((tmp_path / "mine" / "config.json").read_text())
    assert saved["config"]["use"] == mine["config"]["use"]
    assert "optimizer=" in (tmp_path / "mine" / "report.html").read_text()
    assert (
        "your parts in this run: optimizer Adam from week4.py"
        in (tmp_path / "mine" / "log.txt").read_text()
    )


@pytest.mark.slow  # two ResNet-18 runs: about two minutes on 2 busy cores
def test_members_block_matches_dlfs_bit_for_bit(aptos, tmp_path):
    data, own = aptos
    # ResNet-18 with every BasicBlock rebuilt from the member's class, dlf's initial weights
    # copied in: the same arithmetic, so the same run bit for bit
    mine = _train(tmp_path / "b1", data, [f"{SOLUTIONS / 'week3.py'}:BasicBlock"], arch="resnet18")
    ours = _train(tmp_path / "b2", data, [f"block={own}:BasicBlock"], arch="resnet18")
    assert _max_weight_gap(tmp_path / "b1", tmp_path / "b2") == 0 and _qwk(mine) == _qwk(ours)
    predict(get_task("aptos"), tmp_path / "b1", None, None)  # predict rebuilds the member's block


@pytest.mark.slow  # four more runs; the Adam test above is the fast variant of these
def test_members_loss_and_schedule_match_dlfs(aptos, tmp_path):
    data, own = aptos
    solution = SOLUTIONS / "week4.py"
    # the loss: the member's stable cross-entropy against dlf's, on the classification head;
    # float32 rounding differs (log-sum-exp written out vs torch's kernel), the QWK does not
    opts = {"options": {"head": "classification"}}
    mine = _train(tmp_path / "l1", data, [f"{solution}:softmax_cross_entropy"], **opts)
    ours = _train(tmp_path / "l2", data, [f"loss={own}:cross_entropy"], **opts)
    assert _max_weight_gap(tmp_path / "l1", tmp_path / "l2") < 1e-4 and _qwk(mine) == _qwk(ours)
    # the schedule: the member's one-cycle curve in place of dlf's (no --use: dlf's own)
    mine = _train(tmp_path / "s1", data, [f"{solution}:one_cycle_lr"])
    ours = _train(tmp_path / "s2", data, None)
    assert _max_weight_gap(tmp_path / "s1", tmp_path / "s2") < 1e-4 and _qwk(mine) == _qwk(ours)


def test_members_dataset_feeds_a_run_from_the_command_line(aptos, tmp_path, capsys):
    data, _ = aptos
    run, use = tmp_path / "d", f"{SOLUTIONS / 'week2.py'}:FundusDataset"
    argv = ["train", "aptos", "--data", data, "--out", run, "--epochs", "1", "--size", "32",
            "--bs", "8", "--arch", "lenet", "--precision", "fp32", "--use", use]  # fmt: skip
    assert main([str(a) for a in argv]) == 0, capsys.readouterr().err
    assert "your parts in this run: dataset FundusDataset from week2.py" in capsys.readouterr().out
    saved = json.loads((run / "config.json").read_text())
    assert saved["config"]["use"] == [f"dataset={SOLUTIONS / 'week2.py'}:FundusDataset"]


@pytest.mark.parametrize(
    ("use", "message"),
    [
        ("nofile.py:Adam", "nofile.py: file not found"),
        ("SOL4:Nope", "defines no 'Nope'"),
        ("SOL4:fit_one_epoch", "say what fit_one_epoch is"),
        ("oven=SOL4:Adam", "unknown kind 'oven'"),
        ("SOL4", "write FILE:NAME"),
    ],
)
def test_bad_use_is_one_line_before_anything_runs(aptos, tmp_path, capsys, use, message):
    data, _ = aptos
    use = use.replace("SOL4", str(SOLUTIONS / "week4.py"))
    rc = main(["train", "aptos", "--data", str(data), "--out", str(tmp_path / "run"), "--use", use])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "run" / "config.json").exists()
