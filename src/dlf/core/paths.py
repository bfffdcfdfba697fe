"""Where dlf keeps what it generates for itself (embedded datasets, decoded-image caches)."""

import os
from pathlib import Path


def dlf_home() -> Path:
    """`$DLF_HOME`, or ~/.cache/dlf: outside any data folder (Kaggle's inputs are read-only)."""
    return Path(os.environ.get("DLF_HOME", Path.home() / ".cache" / "dlf"))
