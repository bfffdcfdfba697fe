"""`dlf env` under torchrun: the world read from torchrun's variables, GPUs, NCCL.
Reference: torch's own answers (device count, is_nccl_available) on this machine."""

import torch
import torch.distributed as torch_dist

from dlf.data.env import env_report


def test_dlf_env_reports_gpus_nccl_and_the_torchrun_world(monkeypatch):
    for k, v in dict(RANK="1", WORLD_SIZE="4", LOCAL_RANK="1", MASTER_ADDR="node0",
                     MASTER_PORT="29500").items():  # fmt: skip
        monkeypatch.setenv(k, v)
    lines = dict(line.split(None, 1) for line in env_report().splitlines())
    assert lines["processes"] == (
        "4 under torchrun (this is rank 1, local rank 1, rendezvous node0:29500)"
    )
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    assert lines["gpus"].startswith(f"{n} visible" if n else "none visible")
    assert lines["nccl"].startswith(
        "available" if torch_dist.is_nccl_available() else "not available"
    )


def test_dlf_env_outside_torchrun_is_one_process(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "MASTER_ADDR"):
        monkeypatch.delenv(k, raising=False)
    lines = dict(line.split(None, 1) for line in env_report().splitlines())
    assert lines["processes"].startswith("1 (not started by torchrun")
