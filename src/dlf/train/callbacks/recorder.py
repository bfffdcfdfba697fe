"""`Recorder`: losses and metrics accumulated on the device, read once per epoch.

Under torchrun every rank records its share; at the end of each phase the sums are added up
across ranks (one collective), so every rank holds the figures of the whole epoch."""

from time import perf_counter

import torch

from dlf.core.dist import all_reduce_sum, rank, world_size
from dlf.train.callbacks.core import Callback, Phase


class Recorder(Callback):
    """Keeps one row per epoch (`values`), per-batch training losses and learning rates
    (`losses`, `lrs`), and speed figures (`stats`). Only `after_train`/`after_valid` read
    numbers back from the device, once each per epoch."""

    order = Phase.RECORD

    def __init__(self) -> None:
        self.values: list[dict] = []  # one row per epoch, kept across fit calls
        self.losses: list[float] = []
        self.lrs: list[float] = []
        self.stats: list[dict] = []
        self.last_valid: dict[str, float] = {}
        self._batch_losses: list[torch.Tensor] = []

    def reset(self) -> None:
        self.__init__()

    @property
    def metric_names(self) -> list[str]:
        return ["epoch", "train_loss", "valid_loss", *self._metric_names, "seconds"]

    def before_fit(self, learn) -> None:
        self._metric_names = [m.name for m in learn.metrics]

    def before_epoch(self, learn) -> None:
        self.t_epoch = perf_counter()
        self.last_valid = {}

    def before_train(self, learn) -> None:
        self.t_phase = perf_counter()
        self.loss_sum, self.count = torch.zeros((), device=learn.device), 0
        self._batch_losses = []
        self._in_train = True
        partial, self._resume_partial = getattr(self, "_resume_partial", None), None
        if partial:  # resuming in the middle of an epoch: continue its sums
            self.loss_sum, self.count = partial["loss_sum"].to(learn.device), partial["count"]
            if "batch_losses" in partial:
                self._batch_losses = list(partial["batch_losses"].to(learn.device))

    def before_valid(self, learn) -> None:
        self.t_phase = perf_counter()
        self.loss_sum, self.count = torch.zeros((), device=learn.device), 0
        for m in learn.metrics:
            m.reset()

    def after_batch(self, learn) -> None:
        n = learn.xb[0].shape[0]
        if learn.loss is not None:
            self.loss_sum += learn.loss.detach().float() * n
        self.count += n
        if learn.training:
            self._batch_losses.append(learn.loss.detach())
            self.lrs.append(learn.opt.param_groups[-1]["lr"])
        elif learn.yb:
            for m in learn.metrics:
                m.update(learn.pred, *learn.yb)

    def _summed(self) -> tuple[torch.Tensor, int]:
        """(loss sum, item count) over all ranks, in one collective (float64 keeps the
        count exact)."""
        n = torch.tensor(float(self.count), dtype=torch.float64, device=self.loss_sum.device)
        both = all_reduce_sum(torch.stack([self.loss_sum.double(), n]))
        return both[0].to(self.loss_sum.dtype), int(both[1])

    def _sum_over_ranks(self, learn) -> None:
        """The loss sum and item count of all ranks (the count then covers the global batch)."""
        self.loss_sum, self.count = self._summed()

    def after_train(self, learn) -> None:
        self._in_train = False
        if learn.world_size > 1:  # every rank has run the same number of batches
            self._sum_over_ranks(learn)
            if self._batch_losses:
                mean = all_reduce_sum(torch.stack(self._batch_losses).float()) / world_size()
                self._batch_losses = list(mean)
        seconds = perf_counter() - self.t_phase
        self.train_loss = (self.loss_sum / max(1, self.count)).item()
        self.losses += (
            torch.stack(self._batch_losses).float().tolist() if self._batch_losses else []
        )
        self._batch_losses = []
        self.stats.append(
            {
                "epoch": len(self.values),
                "train_seconds": seconds,
                "items_per_second": self.count / seconds if seconds > 0 else float("nan"),
                "data_wait_share": learn.data_wait / seconds if seconds > 0 else float("nan"),
            }
        )

    def after_valid(self, learn) -> None:
        if learn.valid_sharded:  # each rank saw its share: combine them
            self._sum_over_ranks(learn)
            for m in learn.metrics:
                m.sync(learn.device)
        valid = {
            "valid_loss": (self.loss_sum / max(1, self.count)).item() if learn.yb else float("nan")
        }
        for m in learn.metrics:
            valid[m.name] = float(m.compute())
        self.last_valid = valid

    def after_epoch(self, learn) -> None:
        row = {"epoch": len(self.values), "train_loss": self.train_loss}
        row["valid_loss"] = self.last_valid.get("valid_loss", float("nan"))
        for name in self._metric_names:
            row[name] = self.last_valid.get(name, float("nan"))
        row["seconds"] = perf_counter() - self.t_epoch
        self.values.append(row)

    def state_dict(self) -> dict:
        """Called on every rank (see Checkpoint.save): the sums of an unfinished epoch are
        saved as the sums over all ranks, which rank 0 alone takes back on resume."""
        partial = {}
        if getattr(self, "_in_train", False):
            loss_sum, count = self._summed()
            partial = {"loss_sum": loss_sum.detach().cpu(), "count": count}
            if self._batch_losses:
                losses = all_reduce_sum(torch.stack(self._batch_losses).detach().float())
                partial["batch_losses"] = losses.cpu()
        return {
            "values": self.values,
            "losses": self.losses,
            "lrs": self.lrs,
            "stats": self.stats,
            "partial": partial,
        }

    def load_state_dict(self, state: dict) -> None:
        self.values, self.losses = list(state["values"]), list(state["losses"])
        self.lrs, self.stats = list(state["lrs"]), list(state["stats"])
        partial = state.get("partial") or None
        if partial and rank() != 0:  # rank 0 carries the other ranks' share: start from 0
            partial = {"loss_sum": torch.zeros(()), "count": 0}
            if "batch_losses" in state["partial"]:
                partial["batch_losses"] = torch.zeros_like(state["partial"]["batch_losses"])
        self._resume_partial = partial

    def after_cancel_train(self, learn) -> None:
        self.after_train(learn)
