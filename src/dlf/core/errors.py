"""One exception type for input a person can fix.

A `DlfError` carries a single line that names the file, row or step and says what to do.
The CLI prints that line and exits with status 2; a library user catches it like any
other exception. Bugs in dlf itself stay ordinary exceptions with their tracebacks.
"""

import traceback

from dlf.core.notebook import debugging


class DlfError(Exception):
    """Bad input or a bad argument: the message is one actionable line."""

    exit_code = 2

    def _render_traceback_(self) -> list[str]:
        """What IPython shows for it in a notebook: the one line, as the CLI prints it; with
        `DLF_DEBUG=1` the full traceback, as IPython draws any other exception."""
        if not debugging():
            return [f"\x1b[31mdlf: error:\x1b[0m {self}"]
        try:
            from IPython import get_ipython

            return get_ipython().InteractiveTB.structured_traceback(
                type(self), self, self.__traceback__
            )
        except Exception:  # outside a working IPython shell: Python's own rendering
            return traceback.format_exception(self)

    #: set on the copies of the main rank's error that the other ranks of a torchrun job
    #: raise (dlf.core.dist): the main rank prints the line, the others exit with it quietly
    said_by_main_rank = False
