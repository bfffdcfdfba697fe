"""`python kill_in_validation.py RUN`: resume RUN and SIGKILL this very process in the middle
of the first validation pass it reaches (after the model's forward, before the metrics).

A real kill at a moment that polling from outside cannot hit reliably: validation of the
tiny test runs lasts a few milliseconds.
"""

import os
import signal
import sys

from dlf.tasks.aptos.task import AptosTask
from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import train


class KillInValidation:
    def after_pred(self, learn) -> None:
        if not learn.training:
            os.kill(os.getpid(), signal.SIGKILL)


class AptosKilledInValidation(AptosTask):
    def extra_callbacks(self, cfg: TrainConfig) -> list:
        return [KillInValidation()]


if __name__ == "__main__":
    run = sys.argv[1]
    train(AptosKilledInValidation(), TrainConfig(task="aptos", out=run), resume=True)
