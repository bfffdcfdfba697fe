"""`dlf env`: what this machine and this Python offer, in a few lines to paste into a question."""

import importlib.metadata
import importlib.util
import os
import platform
import sys

import torch
import torch.distributed as torch_dist

from dlf.core.dist import launched_by_torchrun
from dlf.core.hardware import default_device, fast_bf16
from dlf.core.version import __version__

OPTIONAL = (
    "tensorboard",
    "onnx",
    "onnxruntime",
    "lightning",
    "fastai",
    "sklearn",
    "scipy",
    "hypothesis",
    "pandas",
    "timm",
    "torchvision",
    "pydicom",
)


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    dist = {"sklearn": "scikit-learn"}.get(module, module)
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "present"


def gpu_line() -> str:
    """The CUDA GPUs torch sees (CUDA_VISIBLE_DEVICES applied)."""
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if n == 0:
        return "none visible to torch"
    names = [torch.cuda.get_device_name(i) for i in range(n)]
    return f"{n} visible: " + ", ".join(f"cuda:{i} {name}" for i, name in enumerate(names))


def processes_line() -> str:
    """The world torchrun set up for this process, read from its environment."""
    if not launched_by_torchrun():
        return "1 (not started by torchrun; dlf train --nproc N or torchrun for more)"
    e = os.environ
    return (
        f"{e['WORLD_SIZE']} under torchrun (this is rank {e['RANK']}, local rank "
        f"{e.get('LOCAL_RANK', '?')}, rendezvous {e['MASTER_ADDR']}:{e.get('MASTER_PORT', '?')})"
    )


def env_report() -> str:
    """Python, torch and dlf versions, the device `--device auto` picks, threads, bf16 speed,
    optional packages."""
    device = default_device()
    gpu = f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else ""
    present = [f"{m} {v}" for m in OPTIONAL if (v := _version(m))]
    missing = [m for m in OPTIONAL if not _version(m)]
    lines = [
        f"python      {sys.version.split()[0]} ({platform.platform()})",
        f"torch       {torch.__version__}",
        f"dlf         {__version__}",
        f"device      {device}{gpu}  (what dlf train/predict --device auto picks)",
        f"threads     {torch.get_num_threads()} torch threads, {os.cpu_count()} CPUs",
        f"fast bf16   {'yes' if fast_bf16(device) else 'no'} on {device.type}",
        f"gpus        {gpu_line()}",
        f"nccl        {'available' if torch_dist.is_nccl_available() else 'not available'}"
        f" (gloo {'available' if torch_dist.is_gloo_available() else 'not available'})",
        f"processes   {processes_line()}",
        f"optional    {', '.join(present) or 'none'}",
        f"not found   {', '.join(missing) or 'none'}",
    ]
    return "\n".join(lines)
