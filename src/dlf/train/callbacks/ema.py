"""`EMA`: an exponential moving average of the weights, validated in place of the raw ones."""

import copy

import torch

from dlf.train.callbacks.core import Callback, Phase


class EMA(Callback):
    """After each step: ema = decay * ema + (1 - decay) * weights (buffers are copied).

    With `validate_ema` the validation runs on the averaged weights; `after_fit` leaves the
    averaged weights in the model when `keep_ema` (the usual choice for the final model)."""

    order = Phase.AVERAGE

    def __init__(
        self, decay: float = 0.999, validate_ema: bool = True, keep_ema: bool = True
    ) -> None:
        self.decay, self.validate_ema, self.keep_ema = decay, validate_ema, keep_ema
        self.ema = None

    def before_fit(self, learn) -> None:
        if self.ema is None:
            self.ema = copy.deepcopy(learn.model).eval().requires_grad_(False)
        pending, self._pending = getattr(self, "_pending", None), None
        if pending is not None:  # resuming: continue the saved average
            self.ema.load_state_dict(pending)

    @torch.no_grad()
    def after_step(self, learn) -> None:
        ema_p = [p for p in self.ema.parameters() if p.is_floating_point()]
        model_p = [p for p in learn.model.parameters() if p.is_floating_point()]
        torch._foreach_lerp_(ema_p, model_p, 1 - self.decay)
        for e, b in zip(self.ema.buffers(), learn.model.buffers()):
            e.copy_(b)

    def _swap(self, learn) -> None:
        if self.validate_ema and self.ema is not None:
            learn.model, self.ema = self.ema, learn.model

    before_valid = after_valid = after_cancel_valid = _swap

    def after_fit(self, learn) -> None:
        if self.keep_ema and self.ema is not None:
            learn.model.load_state_dict(self.ema.state_dict())

    def state_dict(self) -> dict:
        return {"ema": self.ema.state_dict() if self.ema is not None else None}

    def load_state_dict(self, state: dict) -> None:
        self._pending = state["ema"]
