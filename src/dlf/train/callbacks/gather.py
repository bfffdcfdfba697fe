"""Collect predictions (and targets, inputs) of a validation pass."""

import torch

from dlf.train.callbacks.core import Callback


class GatherPreds(Callback):
    order = 90

    def __init__(self, with_input: bool = False) -> None:
        self.with_input = with_input

    def before_valid(self, learn) -> None:
        self.preds, self.targets, self.inputs = [], [], []

    def after_batch(self, learn) -> None:
        if learn.training:
            return
        self.preds.append(learn.pred.detach().float())
        if learn.yb:
            self.targets.append(tuple(t.detach() for t in learn.yb))
        if self.with_input:
            self.inputs.append(learn.xb[0].detach())

    def result(self) -> tuple[torch.Tensor, ...]:
        out = [torch.cat(self.preds).cpu()]
        if self.targets:
            out += [torch.cat(ts).cpu() for ts in zip(*self.targets)]
        if self.with_input:
            out.append(torch.cat(self.inputs).cpu())
        return tuple(out)
