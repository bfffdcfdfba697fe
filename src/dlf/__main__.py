"""`python -m dlf ...` (and `torchrun ... -m dlf train ...`): the `dlf` command."""

import sys

from dlf.cli import main

if __name__ == "__main__":
    sys.exit(main())
