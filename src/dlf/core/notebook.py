"""Facts about where dlf runs that change how it shows things, not what it computes."""

import os
import sys


def in_notebook() -> bool:
    """True inside a Jupyter kernel (ipykernel is loaded): progress bars and plots show
    inline there. Checked without importing anything."""
    return "ipykernel" in sys.modules


def debugging() -> bool:
    """`DLF_DEBUG=1`: show full tracebacks for a DlfError in a notebook (the command line's
    `--debug`)."""
    return os.environ.get("DLF_DEBUG", "") not in ("", "0")


__all__ = ["debugging", "in_notebook"]
