"""Facts about where dlf runs that change how it shows things, not what it computes."""

import os
import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel: progress bars and plots show inline there. Checked
    without importing anything. ipykernel being imported is not enough (a notebook runner
    such as nbclient imports it to find the kernel's spec): the IPython shell of this
    process must have a kernel."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


def debugging() -> bool:
    """`DLF_DEBUG=1`: show full tracebacks for a DlfError in a notebook (the command line's
    `--debug`)."""
    return os.environ.get("DLF_DEBUG", "") not in ("", "0")


__all__ = ["debugging", "in_notebook"]
