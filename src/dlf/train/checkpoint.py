"""Saving and loading: safetensors weights, resumable checkpoints, RNG states.

Weights are written as safetensors, which holds tensors and nothing else. Resumable
checkpoints hold optimizer and RNG states as well; they are written with `torch.save`
and read back with `torch.load(weights_only=True)`, whose unpickler only builds tensors
and plain containers, so a planted pickle cannot run code. Every write is atomic.
"""

import io
import random
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

from dlf.core.atomic import atomic_write_bytes
from dlf.core.errors import DlfError
from dlf.models.weights import unpickling_reason


def save_weights(model: nn.Module, path: str | Path) -> Path:
    path = Path(path)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    atomic_write_bytes(path, st_save(tensors))
    return path


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    path = Path(path)
    if not path.is_file():
        raise DlfError(f"{path}: weights file not found")
    try:
        return st_load(path.read_bytes())
    except (SafetensorError, ValueError, OSError) as e:
        raise DlfError(f"{path}: not a valid safetensors file ({e}); re-export the weights") from e


def load_weights(model: nn.Module, path: str | Path, strict: bool = True) -> None:
    state = read_weights(path)
    try:
        model.load_state_dict(state, strict=strict)
    except RuntimeError as e:
        first = str(e).strip().splitlines()[0]
        raise DlfError(f"{path}: weights do not fit this model ({first})") from e


def get_rng_state() -> dict:
    """Every RNG a run draws from, as tensors and plain values (safe to load)."""
    np_state = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict | None) -> None:
    if not state:
        return
    random.setstate(state["python"])
    kind, keys, *rest = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint_state(state: dict, path: str | Path) -> Path:
    path = Path(path)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(path, buf.getvalue())
    return path


def load_checkpoint_state(path: str | Path) -> dict:
    """Read a resumable checkpoint; refuses anything that is not tensors and plain data."""
    path = Path(path)
    if not path.is_file():
        raise DlfError(f"{path}: checkpoint not found; start without --resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DlfError(
            f"{path}: refused to load: not a plain dlf checkpoint ({unpickling_reason(e)}); "
            "checkpoints are loaded with weights_only=True and never run code"
        ) from e
