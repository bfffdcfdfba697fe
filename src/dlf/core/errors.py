"""One exception type for input a person can fix.

A `DlfError` carries a single line that names the file, row or step and says what to do.
The CLI prints that line and exits with status 2; a library user catches it like any
other exception. Bugs in dlf itself stay ordinary exceptions with their tracebacks.
"""


class DlfError(Exception):
    """Bad input or a bad argument: the message is one actionable line."""

    exit_code = 2
    #: set on the copies of the main rank's error that the other ranks of a torchrun job
    #: raise (dlf.core.dist): the main rank prints the line, the others exit with it quietly
    said_by_main_rank = False
