"""`TensorBoardLogger`: epoch rows and learning rates to TensorBoard, when it is installed."""

from pathlib import Path

from dlf.core.errors import DlfError
from dlf.train.callbacks.core import Callback, Phase, needs_recorder


class TensorBoardLogger(Callback):
    order = Phase.LOG

    def __init__(self, log_dir: str | Path = "runs/tb") -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise DlfError(
                "TensorBoardLogger needs the tensorboard package: pip install tensorboard"
            ) from e
        self.writer = SummaryWriter(str(log_dir))

    def before_fit(self, learn) -> None:
        needs_recorder(learn, "TensorBoardLogger")

    def after_epoch(self, learn) -> None:
        row = learn.recorder.values[-1]
        for k, v in row.items():
            if k != "epoch":
                self.writer.add_scalar(k, v, row["epoch"])
        self.writer.add_scalar("lr", learn.opt.param_groups[-1]["lr"], row["epoch"])
        self.writer.flush()

    def after_fit(self, learn) -> None:
        self.writer.flush()
