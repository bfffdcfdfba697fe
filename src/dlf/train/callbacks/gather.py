"""Collect predictions (and targets, inputs) of a validation or inference pass.

Fixed-shape outputs are concatenated into one tensor. With `decode`, each batch's output is
turned into one result per item (a class, a list of boxes after NMS, ranked segments...) as
soon as it is made, and the results come back as a list: ragged results need no padding.
"""

from collections.abc import Callable

import torch

from dlf.train.callbacks.core import Callback, Phase


class GatherPreds(Callback):
    order = Phase.GATHER

    def __init__(self, with_input: bool = False, decode: Callable | None = None) -> None:
        self.with_input, self.decode = with_input, decode

    def before_valid(self, learn) -> None:
        self.preds, self.targets, self.inputs = [], [], []

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

    def result(self) -> tuple[torch.Tensor, ...]:
        out = [self.preds if self.decode is not None else torch.cat(self.preds).cpu()]
        if self.targets:
            out += [torch.cat(ts).cpu() for ts in zip(*self.targets)]
        if self.with_input:
            out.append(torch.cat(self.inputs).cpu())
        return tuple(out)
