"""`CSVLogger`: `metrics.csv`, one row per epoch, rewritten whole and atomically."""

import csv
import io
from pathlib import Path

from dlf.core.atomic import atomic_write_text
from dlf.core.killpoint import kill_point
from dlf.train.callbacks.core import Callback, Phase, needs_recorder


class CSVLogger(Callback):
    order = Phase.LOG  # after the recorder has closed the epoch

    def __init__(self, path: str | Path = "metrics.csv") -> None:
        self.path = Path(path)

    def before_fit(self, learn) -> None:
        needs_recorder(learn, "CSVLogger")  # refused before training, not after an epoch

    def after_epoch(self, learn) -> None:
        if not learn.is_main:
            return
        kill_point("before_metrics_write", learn)
        rec = learn.recorder
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=rec.metric_names, lineterminator="\n")
        writer.writeheader()
        for row in rec.values:
            writer.writerow(
                {k: (f"{v:.6f}" if isinstance(v, float) else v) for k, v in row.items()}
            )
        atomic_write_text(self.path, buf.getvalue())
        kill_point("after_metrics_write", learn)
