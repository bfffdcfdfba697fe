"""Settings a model cannot train with, refused in one line before any time is spent."""

from torch import nn

from dlf.core.errors import DlfError
from dlf.models.summary import min_input_size, total_stride
from dlf.tasks.base import Parts, TrainConfig


def has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def train_batches(dl) -> tuple[int, int, int] | None:
    """(training items, batches, size of the smallest batch) of a loader that tells its
    batch size: dlf's ArrayLoader or torch's DataLoader, bare or in a DeviceLoader."""
    inner = getattr(dl, "loader", dl)
    bs = getattr(inner, "bs", None) or getattr(inner, "batch_size", None)
    sampler = getattr(inner, "sampler", None)
    if sampler is not None and hasattr(sampler, "__len__"):
        n = len(sampler)
    elif hasattr(inner, "indices"):
        n = len(inner.indices)
    else:
        return None
    if not bs:
        return None
    if getattr(inner, "drop_last", False):
        return n, n // bs, bs
    return n, -(-n // bs), n % bs or bs


def check_trainable(parts: Parts, cfg: TrainConfig, log) -> None:
    """Refuse settings the model cannot train with (one line each), and warn about a size it
    trains badly at, before any time is spent training."""
    model, arch = parts.model, cfg.arch
    if isinstance(cfg.size, int):
        smallest = min_input_size(model)
        if smallest is not None and cfg.size < smallest:
            raise DlfError(
                f"--size {cfg.size} is too small for {arch}: its layers shrink a {cfg.size}x{cfg.size} "
                f"image to nothing; the smallest size it takes is {smallest} px: pass --size {smallest} or more"
            )
        stride = total_stride(model)
        if stride is not None and cfg.size < stride:
            # A warning, not a refusal: the model runs, it just learns little (resnet18 on the
            # folder task's shapes, 10 epochs: 44% at 7 px, 42% at 28 px, 70% at 64 px, chance
            # 33%), and comparing sizes is an experiment worth allowing. Sizes the forward pass
            # cannot take at all are refused above.
            log(
                f"warning: --size {cfg.size} is below {arch}'s total stride ({stride} px): its "
                f"deepest layers see a 1x1 map and it may learn little; use --size {stride} or more"
            )
    batches = train_batches(parts.dls.train)
    if batches is None:
        return
    n, n_batches, smallest_batch = batches
    if n_batches == 0:
        raise DlfError(
            f"--bs {cfg.bs} is more than the {n} training items, so an epoch has no full batch "
            f"and nothing would train; use --bs {max(1, n // 2)} or less"
        )
    if has_batchnorm(model) and cfg.bs < 2:
        raise DlfError(
            f"--bs {cfg.bs}: {arch} has batch norm, which needs at least 2 images per training "
            "batch; use --bs 2 or more (16 or more gives steadier statistics)"
        )
    if has_batchnorm(model) and smallest_batch < 2:
        raise DlfError(
            f"{n} training items in batches of {cfg.bs} leave a last batch of 1, and {arch} has "
            "batch norm, which needs at least 2 images per batch; add images or change --bs"
        )
