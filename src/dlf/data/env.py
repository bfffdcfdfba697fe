"""`dlf env`: what this machine and this Python offer, in a few lines to paste into a question."""

import importlib.metadata
import importlib.util
import os
import platform
import sys

import torch

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
        f"optional    {', '.join(present) or 'none'}",
        f"not found   {', '.join(missing) or 'none'}",
    ]
    return "\n".join(lines)
