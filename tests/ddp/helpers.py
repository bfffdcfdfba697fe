"""Helpers of the torchrun tests: the environment of a launched rank, the commands."""

import os
import sys
from pathlib import Path

import dlf
from dlf.core.killpoint import KILL_ENV

SRC = Path(dlf.__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
# lenet on 32 px, fp32: 32 training images are 4 global batches of 2 ranks x 4
TINY = ["--size", "32", "--bs", "4", "--arch", "lenet", "--precision", "fp32", "--seed", "0"]


def rank_env(home: Path, kill_at: str | None = None) -> dict:
    """The environment the launched processes inherit: this checkout, a private DLF_HOME,
    one thread each (2 ranks on a shared machine), no torchrun variables of our own."""
    e = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK",
                                                          "MASTER_ADDR", "MASTER_PORT", KILL_ENV)}  # fmt: skip
    e.update(PYTHONPATH=os.pathsep.join([str(SRC), str(HERE)]), DLF_HOME=str(home),
             OMP_NUM_THREADS="1", DLF_DIST_TIMEOUT="60")  # fmt: skip
    if kill_at:
        e[KILL_ENV] = kill_at
    return e


def dlf_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "dlf", *map(str, argv)]


def torchrun_cmd(*argv) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", *map(str, argv)]
