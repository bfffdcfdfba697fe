"""A test hook: SIGKILL (or SIGINT) this very process at a named moment of a run.

The reliability tests must show that a run killed at *any* moment resumes to exactly the
result of an unbroken one. A kill timed from outside cannot reliably hit a moment that lasts
a millisecond (the end of a validation pass, the gap between writing metrics.csv and the
checkpoint), so the process kills itself there instead when `DLF_TEST_KILL_AT` asks for it:

    DLF_TEST_KILL_AT="after_valid:epoch=1"            # after epoch 1's validation
    DLF_TEST_KILL_AT="after_batch:phase=train,epoch=0,iter=2"
    DLF_TEST_KILL_AT="before_replace:file=state.pt,n=3"  # third checkpoint, tmp file written

MOMENT is a loop event (`before_epoch`, `after_batch`, `after_valid`, `after_fit`, ...: the
kill lands once every callback has handled it) or a named point: `before_checkpoint` /
`after_checkpoint` (`Checkpoint.save`; `iter` is the batches it records as done),
`before_metrics_write` / `after_metrics_write` (`CSVLogger`), `before_postprocess` /
`after_postprocess` (`dlf train` after fitting; the latter once config.json holds the
result), `before_replace` (any atomic write: its temporary file is whole on disk, not yet
renamed; `file` names the target). The keys `epoch` and `iter` (counted from 0), `phase`
(`train` or `valid`) and `file` narrow the moment (a key the moment does not know never
matches); `n` picks the n-th match (default 1); `signal=INT` sends SIGINT (a Ctrl-C) instead
of SIGKILL. Unset, every call is one dictionary look-up.
"""

import os
import signal

KILL_ENV = "DLF_TEST_KILL_AT"
_seen: dict[str, int] = {}  # how many matching moments this process has passed


def kill_point(moment: str, learn=None, **where) -> None:
    """SIGKILL this process if `DLF_TEST_KILL_AT` names this moment (see the module doc)."""
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != moment:
        return
    want = dict(kv.split("=", 1) for kv in rest.split(",") if kv)
    here = {k: str(v) for k, v in where.items()}
    if learn is not None:
        here.setdefault("epoch", str(learn.epoch))
        here.setdefault("iter", str(learn.iter))
        here.setdefault("phase", "train" if learn.training else "valid")
    if any(here.get(k) != v for k, v in want.items() if k not in ("n", "signal")):
        return
    _seen[spec] = _seen.get(spec, 0) + 1
    if _seen[spec] == int(want.get("n", 1)):
        os.kill(os.getpid(), getattr(signal, "SIG" + want.get("signal", "KILL")))
