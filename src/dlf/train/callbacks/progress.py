"""`ProgressCallback`: a tqdm bar per phase and one printed line per epoch.

The bar's loss is read from the device at most every `refresh` seconds, never per step.
The bar shows in a terminal and in a notebook (tqdm.auto: a widget when ipywidgets is
installed, else one text line redrawn in place); in a log file or a pipe it stays off.
"""

import sys
from time import monotonic

from tqdm.auto import tqdm

from dlf.core.notebook import in_notebook
from dlf.train.callbacks.core import Callback, Phase


def format_row(names: list[str], row: dict) -> str:
    cells = []
    for n in names:
        v = row.get(n, "")
        if n == "epoch":
            cells.append(f"{v:>5}")
        elif n == "seconds":
            cells.append(f"{int(v) // 60:02d}:{int(v) % 60:02d}".rjust(max(len(n), 7)))
        elif isinstance(v, float):
            cells.append(f"{v:.6f}".rjust(max(len(n), 10)))
        else:
            cells.append(str(v).rjust(len(n)))
    return "  ".join(cells)


def format_header(names: list[str]) -> str:
    widths = {"epoch": 5, "seconds": 7}
    return "  ".join(n.rjust(widths.get(n, max(len(n), 10))) for n in names)


class ProgressCallback(Callback):
    order = Phase.DISPLAY

    def __init__(self, refresh: float = 0.5, bar: bool | None = None) -> None:
        self.refresh = refresh
        self.bar = (sys.stderr.isatty() or in_notebook()) if bar is None else bar
        self.pbar = None
        self.header_done = False

    def before_fit(self, learn) -> None:
        self.header_done = False

    def _open(self, learn, desc: str) -> None:
        if self.bar and learn.is_main:
            self.pbar = tqdm(total=len(learn.dl), desc=desc, leave=False, mininterval=self.refresh)
            self.next_refresh = monotonic() + self.refresh

    def before_train(self, learn) -> None:
        self._open(learn, f"epoch {learn.epoch + 1}/{learn.n_epochs} train")

    def before_valid(self, learn) -> None:
        self._open(learn, "valid")

    def after_batch(self, learn) -> None:
        if self.pbar is None:
            return
        self.pbar.update(1)
        if learn.training and learn.loss is not None and monotonic() >= self.next_refresh:
            self.pbar.set_postfix(
                loss=f"{learn.loss.item():.4f}", refresh=False
            )  # one sync per refresh
            self.next_refresh = monotonic() + self.refresh

    def _close(self, learn=None) -> None:
        if self.pbar is not None:
            self.pbar.close()
            self.pbar = None

    after_train = after_valid = after_cancel_train = after_cancel_valid = after_cancel_fit = _close

    def after_epoch(self, learn) -> None:
        rec = learn.recorder
        if rec is None or not rec.values:
            return
        if not self.header_done:
            learn.log(format_header(rec.metric_names))
            self.header_done = True
        learn.log(format_row(rec.metric_names, rec.values[-1]))
