"""bench/gpu.py is prepared for a GPU machine that is lent rarely and briefly: its --smoke
mode (tiny sizes, the CPU here) runs every part, so the real run is known to start and end."""

import subprocess
import sys
from pathlib import Path

import pytest

from ddp.helpers import SRC, rank_env

BENCH = Path(__file__).resolve().parents[2] / "bench" / "gpu.py"


@pytest.mark.slow
def test_the_gpu_bench_runs_every_part_in_smoke_mode(tmp_path):
    p = subprocess.run([sys.executable, BENCH, "--smoke", "--device", "cpu"],
                       env=rank_env(tmp_path / "home"), capture_output=True, text=True,
                       timeout=400, cwd=SRC.parent)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    for part in ("1. training", "plain loop", "dlf Learner", "2. data path", "3. data wait"):
        assert part in p.stdout, p.stdout
