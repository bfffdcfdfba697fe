"""Where dlf keeps what it generates for itself (embedded datasets, decoded-image caches)
and, by default, the run folders."""

import os
from pathlib import Path

from dlf.core.kaggle import kaggle_working


def dlf_home() -> Path:
    """`$DLF_HOME`; in a Kaggle kernel /kaggle/working/.dlf (its input is read-only and HOME
    may be too); else ~/.cache/dlf. Always outside any data folder."""
    if "DLF_HOME" in os.environ:
        return Path(os.environ["DLF_HOME"])
    working = kaggle_working()
    if working is not None:
        return working / ".dlf"
    return Path.home() / ".cache" / "dlf"


def runs_root() -> Path:
    """Where `dlf train` puts a run without --out: runs/ here, or in a kernel's working folder
    (the only place a kernel keeps)."""
    working = kaggle_working()
    return (working if working is not None else Path()) / "runs"


__all__ = ["dlf_home", "runs_root"]
