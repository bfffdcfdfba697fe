"""Where a Kaggle kernel keeps things: read-only competition input, one writable folder.

A kernel sees each attached competition or dataset as `/kaggle/input/<slug>/` (read-only)
and writes to `/kaggle/working/` (kept as the kernel's output; `submission.csv` there is
what the competition scores). Both roots can be moved with environment variables, which is
how the tests lay out a pretend kernel in a temporary folder:

    DLF_KAGGLE_INPUT    the input root (default /kaggle/input)
    DLF_KAGGLE_WORKING  the writable output folder (default /kaggle/working)
"""

import os
from collections.abc import Iterable
from pathlib import Path


def kaggle_input_root() -> Path:
    """The folder of attached inputs: `$DLF_KAGGLE_INPUT`, else /kaggle/input."""
    return Path(os.environ.get("DLF_KAGGLE_INPUT", "/kaggle/input"))


def kaggle_working() -> Path | None:
    """The kernel's writable output folder, or None when this is not a kernel.

    `$DLF_KAGGLE_WORKING` when set, else /kaggle/working when it exists (it does in every
    Kaggle kernel, interactive or committed)."""
    given = os.environ.get("DLF_KAGGLE_WORKING")
    if given:
        return Path(given)
    default = Path("/kaggle/working")
    return default if default.is_dir() else None


def in_kaggle_kernel() -> bool:
    return kaggle_working() is not None


def competition_input(slugs: Iterable[str]) -> Path | None:
    """The first `<input root>/<slug>/` that exists, for a task's competition slugs."""
    root = kaggle_input_root()
    for slug in slugs:
        folder = root / slug
        if folder.is_dir():
            return folder
    return None


__all__ = ["competition_input", "in_kaggle_kernel", "kaggle_input_root", "kaggle_working"]
