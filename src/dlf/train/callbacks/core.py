"""Callbacks, the events they can handle, and the named exceptions that cancel a stage.

A callback is any object with methods named after events; each takes the learner as its
one argument (`def after_batch(self, learn): ...`). `order` sorts callbacks: lower runs
first. The learner builds its dispatch table once per `fit`, so an event that no callback
handles costs one empty loop.

`DLF_TEST_KILL_AT` is a test hook (see `kill_point`): with it set, the dispatch table gains
one last handler per event that SIGKILLs the process at the named moment; unset, nothing.
"""

import os
from enum import IntEnum

from dlf.core.errors import DlfError
from dlf.core.killpoint import KILL_ENV, kill_point

STAGES = ("fit", "epoch", "train", "valid", "batch", "pred", "loss", "backward", "step")
CANCELLABLE = ("fit", "epoch", "train", "valid", "batch", "step")

EVENTS = (
    tuple(f"before_{s}" for s in STAGES)
    + tuple(f"after_{s}" for s in STAGES)
    + tuple(f"after_cancel_{s}" for s in CANCELLABLE)
)


class Phase(IntEnum):
    """When a callback runs among the others that handle the same event, earliest first: a
    name for each place in the loop instead of a bare number (`order = Phase.SAVE`)."""

    DATA = 0  # samplers and data schedules, before anything else
    ACCUMULATE = 5  # gradient accumulation: decides whether this batch steps
    SCHEDULE = 10  # hyperparameters for the step (one-cycle, the lr finder)
    MODEL = 20  # what the model computes or how it steps (clipping, TTA)
    AVERAGE = 30  # weight averages (EMA)
    GUARD = 45  # the NaN guard, before the epoch's figures are closed
    RECORD = 50  # the Recorder closes the epoch's losses and metrics
    DISPLAY = 60  # progress bars and printed rows
    LOG = 70  # writers of the recorded figures (metrics.csv, TensorBoard)
    DECIDE = 75  # early stopping, on the recorded figures
    SAVE = 80  # checkpoints, after the figures they keep
    INTERRUPT = 85  # Ctrl-C, after the checkpoint of the batch
    GATHER = 90  # collecting predictions, last


class Callback:
    """Base class (optional): gives an `order` (a `Phase`) and a readable name."""

    order = Phase.DATA

    @property
    def name(self) -> str:
        return type(self).__name__

    def state_dict(self) -> dict:
        """What a resumable checkpoint must keep of this callback (default: nothing)."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class CancelFitException(Exception):
    """Stop training now; `after_cancel_fit` runs, then `fit` returns."""


class CancelEpochException(Exception):
    """Skip the rest of this epoch."""


class CancelTrainException(Exception):
    """Skip the rest of this epoch's training phase and go to validation."""


class CancelValidException(Exception):
    """Skip the rest of this epoch's validation."""


class CancelBatchException(Exception):
    """Skip the rest of this batch."""


class CancelStepException(Exception):
    """Skip this optimizer step and the zeroing of gradients (gradient accumulation)."""


def stateful_callbacks(cbs) -> dict[str, object]:
    """{key: callback} for the callbacks that keep state in a checkpoint. The key is the class
    name, with "#2", "#3", ... for the second and later callbacks of one class (two EMAs of
    different decays each get their own average back), in the order the learner holds them."""
    keys: dict[str, object] = {}
    seen: dict[str, int] = {}
    for cb in cbs:
        if cb is None or not hasattr(cb, "state_dict"):
            continue
        name = type(cb).__name__
        seen[name] = seen.get(name, 0) + 1
        keys[name if seen[name] == 1 else f"{name}#{seen[name]}"] = cb
    return keys


def needs_recorder(learn, who: str):
    """The learner's Recorder, or one clear error naming the callback that needs it."""
    if getattr(learn, "recorder", None) is None:
        raise DlfError(
            f"{who} reads the epoch figures of the Recorder; create the Learner with "
            "default_cbs=True, or add a Recorder to its callbacks"
        )
    return learn.recorder


def build_dispatch(cbs) -> dict[str, tuple]:
    """For each event, the bound methods that handle it, in callback order."""
    ordered = sorted(cbs, key=lambda cb: getattr(cb, "order", 0))
    table = {ev: tuple(getattr(cb, ev) for cb in ordered if hasattr(cb, ev)) for ev in EVENTS}
    if os.environ.get(KILL_ENV):  # the test hook: after every other handler of each event
        table = {ev: (*fs, _killer(ev)) for ev, fs in table.items()}
    return table


def _killer(event: str):
    def handler(learn) -> None:
        kill_point(event, learn)

    return handler
