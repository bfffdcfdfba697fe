"""What this machine can do: the device to use and the fastest correct precision."""

from dataclasses import dataclass

import torch


def default_device() -> torch.device:
    """CUDA if present, then Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


DEVICES = "auto, cpu, cuda, cuda:N or mps"


def resolve_device(name: str | None = "auto") -> torch.device:
    """`--device`: "auto" (or None) is `default_device()`; "cpu", "cuda", "cuda:N" and "mps"
    are checked to exist here, so a missing GPU is one clear error instead of a failure later."""
    from dlf.core.errors import DlfError

    if name is None or name == "auto":
        return default_device()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DlfError(f"device {name!r} is not one of {DEVICES}") from None
    if device.type == "cpu":
        return device
    if device.type == "cuda":
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if n == 0:
            raise DlfError(
                f"device {name!r}: torch sees no CUDA GPU here (torch {torch.__version__}); "
                "use --device auto or cpu"
            )
        if device.index is not None and device.index >= n:
            raise DlfError(
                f"device {name!r}: torch sees {n} CUDA GPU(s), cuda:0 to cuda:{n - 1}; pick one of them"
            )
        return device
    if device.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise DlfError(
                f"device {name!r}: Apple's MPS is not available here; use --device auto or cpu"
            )
        return device
    raise DlfError(f"device {name!r} is not one of {DEVICES}")


def fast_bf16(device: torch.device | str) -> bool:
    """Does this device run bf16 matmuls and convolutions in hardware?

    On CPUs that means AVX512-BF16 or AMX; without them bf16 is emulated and slower than
    fp32. On NVIDIA GPUs it means compute capability 8.0 (Ampere) or newer.
    """
    device = torch.device(device)
    if device.type == "cpu":
        cpu = torch.cpu
        avx512_bf16 = getattr(cpu, "_is_avx512_bf16_supported", lambda: False)()
        amx = getattr(cpu, "_is_amx_tile_supported", lambda: False)()
        return bool(avx512_bf16 or amx)
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported() and torch.cuda.get_device_capability(device)[0] >= 8
    return False


@dataclass(frozen=True)
class Precision:
    """The resolved precision of a run: what autocast does and whether grads need scaling."""

    name: str  # "fp32", "bf16" or "fp16"
    autocast_dtype: torch.dtype | None  # None: no autocast
    needs_scaler: bool  # fp16 gradients underflow without a GradScaler

    @property
    def autocast(self) -> bool:
        return self.autocast_dtype is not None


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def resolve_precision(precision: str, device: torch.device | str) -> Precision:
    """Turn "auto" | "fp32" | "bf16" | "fp16" into a `Precision` for this device.

    "auto" picks bf16 autocast where the hardware runs it fast, fp32 otherwise.
    """
    from dlf.core.errors import DlfError

    if precision not in PRECISIONS:
        raise DlfError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    device = torch.device(device)
    if precision == "auto":
        precision = "bf16" if fast_bf16(device) else "fp32"
    if precision == "fp32":
        return Precision("fp32", None, False)
    if precision == "bf16":
        return Precision("bf16", torch.bfloat16, False)
    if device.type == "cpu":
        # fp16 autocast works on CPU in recent torch, but without a fast path; keep it honest.
        return Precision("fp16", torch.float16, False)
    return Precision("fp16", torch.float16, True)
