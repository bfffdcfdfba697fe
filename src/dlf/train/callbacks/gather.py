"""Collect predictions (and targets, inputs) of a validation or inference pass.

Fixed-shape outputs are concatenated into one tensor. With `decode`, each batch's output is
turned into one result per item (a class, a list of boxes after NMS, ranked segments...) as
soon as it is made, and the results come back as a list: ragged results need no padding.
Under torchrun, when each rank predicted its contiguous block of the loader, the blocks are
gathered in rank order, so every rank gets every prediction in the loader's order.
"""

from collections.abc import Callable

import torch

from dlf.core.dist import all_gather_objects
from dlf.train.callbacks.core import Callback, Phase


class GatherPreds(Callback):
    order = Phase.GATHER

    def __init__(self, with_input: bool = False, decode: Callable | None = None) -> None:
        self.with_input, self.decode = with_input, decode

    def before_valid(self, learn) -> None:
        self.preds, self.targets, self.inputs = [], [], []
        self.sharded = learn.valid_sharded

    def after_batch(self, learn) -> None:
        if learn.training:
            return
        if self.decode is not None:
            self.preds.extend(self.decode(learn.pred))
        else:
            self.preds.append(learn.pred.detach().float())
        if learn.yb:
            self.targets.append(tuple(t.detach() for t in learn.yb))
        if self.with_input:
            self.inputs.append(learn.xb[0].detach())

    def _local(self) -> list | None:
        """This rank's predictions (targets, inputs) on the CPU; None if it had no batch."""
        if not self.preds:
            return None
        out = [self.preds if self.decode is not None else torch.cat(self.preds).cpu()]
        if self.targets:
            out += [torch.cat(ts).cpu() for ts in zip(*self.targets)]
        if self.with_input:
            out.append(torch.cat(self.inputs).cpu())
        return out

    def result(self) -> tuple[torch.Tensor, ...]:
        parts = [self._local()]
        if getattr(self, "sharded", False):  # every rank calls result(): a collective
            parts = all_gather_objects(parts[0])
        parts = [p for p in parts if p is not None]
        if not parts:  # an empty loader
            return (self.preds if self.decode is not None else torch.empty(0),)
        joined = []
        for i, first in enumerate(parts[0]):
            pieces = [p[i] for p in parts]
            joined.append(
                [r for p in pieces for r in p] if isinstance(first, list) else torch.cat(pieces)
            )
        return tuple(joined)
