"""One exception type for input a person can fix.

A `DlfError` carries a single line that names the file, row or step and says what to do.
The CLI prints that line and exits with status 2; a library user catches it like any
other exception. Bugs in dlf itself stay ordinary exceptions with their tracebacks.
"""

from dlf.core.notebook import debugging


class DlfError(Exception):
    """Bad input or a bad argument: the message is one actionable line."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it in a notebook: the one line, as the CLI prints it. With
        `DLF_DEBUG=1` IPython shows its usual traceback (it falls back to it when this raises)."""
        if debugging():
            raise NotImplementedError("DLF_DEBUG is set: show the full traceback")
        return [f"\x1b[31mdlf: error:\x1b[0m {self}"]
