"""The ground floor: errors a person can act on, atomic file writes, seeding, hardware."""

from dlf.core.atomic import atomic_folder, atomic_write, atomic_write_bytes, atomic_write_text
from dlf.core.errors import DlfError
from dlf.core.hardware import (
    Precision,
    default_device,
    fast_bf16,
    resolve_device,
    resolve_precision,
)
from dlf.core.seed import seed_everything

__all__ = [
    "DlfError",
    "Precision",
    "atomic_folder",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "default_device",
    "fast_bf16",
    "resolve_device",
    "resolve_precision",
    "seed_everything",
]
