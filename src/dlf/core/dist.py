"""Which process this is, for the writers: under torchrun several processes train one model,
and only the main one (rank 0) writes files and prints progress. Without torch.distributed
set up, the one process is the main one."""

import torch.distributed as dist


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def is_main_process() -> bool:
    return rank() == 0


__all__ = ["is_main_process", "rank", "world_size"]
