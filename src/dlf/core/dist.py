"""Which process this is, and the few collectives dlf needs, on torch.distributed.

Under torchrun several processes train one model: each reads its share of the data, DDP
averages the gradients, and only the main one (rank 0) writes files and prints progress.
torchrun says who is who in the environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR...);
`process_group` turns that into torch's process group: nccl between GPUs, gloo between CPU
processes, with a timeout so that a collective whose partner died ends instead of hanging.
Without torch.distributed set up, the one process is the main one and every collective
below returns its input.
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TypeVar

import torch
import torch.distributed as dist

from dlf.core.errors import DlfError

T = TypeVar("T")

TIMEOUT_ENV = "DLF_DIST_TIMEOUT"  # seconds a collective may wait for the other ranks
DEFAULT_TIMEOUT_S = 600.0


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


def is_distributed() -> bool:
    """True when a process group of more than one process is set up."""
    return world_size() > 1


def launched_by_torchrun() -> bool:
    """torchrun (or `dlf train --nproc`) started this process as one rank of several."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ and "MASTER_ADDR" in os.environ


def local_rank() -> int:
    """This process's number on its own machine (which GPU it drives)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def backend_for(device_type: str) -> str:
    """nccl between GPUs, gloo otherwise (CPU processes; also what a test machine has)."""
    return "nccl" if device_type == "cuda" else "gloo"


def timeout_seconds() -> float:
    return float(os.environ.get(TIMEOUT_ENV, DEFAULT_TIMEOUT_S))


@contextlib.contextmanager
def process_group(device_type: str) -> Iterator[None]:
    """Set up torch's process group from torchrun's environment for the duration of the
    block (nothing when not launched by torchrun, or when one is already set up)."""
    if not launched_by_torchrun() or dist.is_initialized():
        yield
        return
    if device_type == "cuda":
        torch.cuda.set_device(local_rank())  # before nccl, so each rank talks from its own GPU
    dist.init_process_group(backend_for(device_type), timeout=timedelta(seconds=timeout_seconds()))
    try:
        yield
    finally:
        dist.destroy_process_group()


def local_device(device: torch.device) -> torch.device:
    """Under torchrun, a bare `cuda` means this rank's own GPU, cuda:LOCAL_RANK."""
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        return torch.device("cuda", local_rank())
    return device


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """The sum of `t` over all ranks (a new tensor; `t` itself is unchanged)."""
    if not is_distributed():
        return t
    out = t.detach().clone()
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out


def all_gather_cat(t: torch.Tensor) -> torch.Tensor:
    """Every rank's `t` concatenated along dim 0 in rank order; the first dims may differ
    between ranks (they are padded for the collective and trimmed after)."""
    if not is_distributed():
        return t
    n = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    longest = max(sizes)
    padded = t.new_zeros((longest, *t.shape[1:]))
    padded[: t.shape[0]] = t
    parts = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:s] for p, s in zip(parts, sizes)])


def all_gather_objects(obj) -> list:
    """Every rank's `obj` (any picklable value), in rank order."""
    if not is_distributed():
        return [obj]
    out: list = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def _main_rank_error(message: str) -> DlfError:
    """The main rank's error, raised again on another rank (which then need not print it)."""
    e = DlfError(message)
    e.said_by_main_rank = True
    return e


def on_main(fn: Callable[[], T]) -> T:
    """`fn()` run by the main process alone (it makes a folder, generates data), its result
    handed to every rank; a DlfError it raises is raised on every rank, so all of them stop
    with the same one line instead of the others waiting for a partner that left."""
    if not is_distributed():
        return fn()
    result, error = None, None
    if is_main_process():
        try:
            result = fn()
        except DlfError as e:
            error = e
    shared = [(result, None if error is None else str(error))]
    dist.broadcast_object_list(shared, src=0)
    if error is not None:  # the main rank raises its own error, which it prints
        raise error
    result, message = shared[0]
    if message is not None:
        raise _main_rank_error(message)
    return result


def main_first(fn: Callable[[], T]) -> T:
    """`fn()` on every rank, the main one first and the others once it has finished: what it
    makes on disk (a decoded-image cache) is made once, then found by the others. A DlfError
    on the main rank is raised on every rank."""
    if not is_distributed():
        return fn()
    if is_main_process():
        try:
            result = fn()
        except DlfError as e:
            dist.broadcast_object_list([str(e)], src=0)
            raise
        dist.broadcast_object_list([None], src=0)
        return result
    shared = [None]
    dist.broadcast_object_list(shared, src=0)
    if shared[0] is not None:
        raise _main_rank_error(shared[0])
    return fn()


def barrier() -> None:
    if is_distributed():
        dist.barrier()


__all__ = [
    "DEFAULT_TIMEOUT_S",
    "TIMEOUT_ENV",
    "all_gather_cat",
    "all_gather_objects",
    "all_reduce_sum",
    "backend_for",
    "barrier",
    "is_distributed",
    "is_main_process",
    "launched_by_torchrun",
    "local_device",
    "local_rank",
    "main_first",
    "on_main",
    "process_group",
    "rank",
    "timeout_seconds",
    "world_size",
]
