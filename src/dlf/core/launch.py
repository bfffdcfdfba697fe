"""`dlf train ... --nproc N`: the same command as N processes on this machine, started by
torch's elastic launcher (what `torchrun --standalone --nproc_per_node N` runs), for users
who do not know torchrun.

Each worker is `python -m dlf` with the same arguments (less `--nproc`) and torchrun's
environment, so it sets up its process group exactly as under torchrun. When a worker fails,
the launcher stops the others at once (no rank waits forever for a partner that left); the
failed worker has printed its own one-line error, and its exit status (2 for a DlfError;
128+S for a worker killed by signal S) becomes the launcher's.
"""

import logging
import sys
import uuid

from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
from torch.distributed.launcher.api import LaunchConfig, elastic_launch


def without_nproc(argv: list[str]) -> list[str]:
    """`argv` less `--nproc N` / `--nproc=N` (the workers must not launch again)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def launch(nproc: int, argv: list[str]) -> int:
    """Run `python -m dlf *argv` as `nproc` ranks on this machine; the exit status of the
    first worker that failed (0 when all succeeded)."""
    config = LaunchConfig(
        min_nodes=1,
        max_nodes=1,
        nproc_per_node=nproc,
        run_id=str(uuid.uuid4()),
        rdzv_backend="c10d",
        rdzv_endpoint="localhost:0",  # a free port, as torchrun --standalone does
        max_restarts=0,  # a failed run is resumed by the user with --resume, not replayed
        monitor_interval=0.1,  # how soon the others are stopped after one fails
    )
    # The agent reports each failed or stopped worker; the failed one has said why itself.
    logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    try:
        elastic_launch(config, sys.executable)("-m", "dlf", *without_nproc(argv))
    except ChildFailedError as e:
        _, first = e.get_first_failure()
        code = first.exitcode
        return code if code > 0 else 128 - code if code < 0 else 1  # killed by signal S: 128+S
    return 0


__all__ = ["launch", "without_nproc"]
