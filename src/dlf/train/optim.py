"""Optimizers written out as reference code, and the helpers the Learner uses.

SGD, Adam, AdamW and RAdam below are one loop each over parameter groups and parameters,
so the update rule can be read next to the paper. They subclass `torch.optim.Optimizer`, so
parameter groups, `state_dict()` / `load_state_dict()` and torch's LR schedulers work.
Each is checked against `torch.optim` over 100 steps in float64 (tests/train/test_optim.py).

For speed the Learner trains with torch's fused AdamW (`default_opt_func`): the same
algorithm as `AdamW` here, computed in one kernel; a test shows both follow the same path.

Hyperparameters live in each `param_group`; `set_hyper` / `get_hyper` give schedulers one
vocabulary for all optimizers: "lr", "mom", "sqr_mom", "wd" (and any other group key).
"""

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch.optim import Optimizer

from dlf.core import DlfError

Params = Iterable[torch.Tensor] | Iterable[dict[str, Any]]


class SGD(Optimizer):
    """Stochastic gradient descent with momentum, Nesterov momentum and L2 weight decay.

    g = grad + wd·p;  buf = mom·buf + (1-dampening)·g (the first step starts buf = g);
    p -= lr·(g + mom·buf) with Nesterov, else p -= lr·buf.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise DlfError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mom, wd = group["lr"], group["momentum"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                if wd != 0:
                    g = g.add(p, alpha=wd)  # L2: the decay goes through the momentum
                if mom != 0:
                    state = self.state[p]
                    if "momentum_buffer" not in state:
                        state["momentum_buffer"] = g.clone()
                    else:
                        buf = state["momentum_buffer"]
                        buf.mul_(mom).add_(g, alpha=1 - group["dampening"])
                    buf = state["momentum_buffer"]
                    g = g.add(buf, alpha=mom) if group["nesterov"] else buf
                p.add_(g, alpha=-lr)
        return loss


class Adam(Optimizer):
    """Adam (Kingma & Ba 2015) with L2 weight decay added to the gradient.

    m = β1·m + (1-β1)·g;  v = β2·v + (1-β2)·g²;  with the bias corrections
    c1 = 1-β1^t and c2 = 1-β2^t:  p -= lr/c1 · m / (√v/√c2 + eps).
    `decoupled_weight_decay=True` turns it into AdamW.
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = (
                group["lr"],
                group["betas"],
                group["eps"],
                group["weight_decay"],
            )
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]

                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        p.mul_(1 - lr * wd)  # AdamW: shrink the weights, apart from Adam
                    else:
                        g = g.add(p, alpha=wd)  # L2: the decay is scaled by Adam too

                m.lerp_(g, 1 - beta1)  # m += (1-β1)(g - m), i.e. β1·m + (1-β1)·g
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                bias_correction1 = 1 - beta1**t
                bias_correction2 = 1 - beta2**t
                denom = (v.sqrt() / math.sqrt(bias_correction2)).add_(eps)
                p.addcdiv_(m, denom, value=-lr / bias_correction1)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019): p -= lr·wd·p, then Adam."""

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, decoupled_weight_decay=True)


class RAdam(Optimizer):
    """Rectified Adam (Liu et al. 2020): Adam whose adaptive step is switched on only once
    the variance of v is tractable, and then scaled by a rectification factor r_t.

    ρ∞ = 2/(1-β2) - 1 and ρ_t = ρ∞ - 2t·β2^t/(1-β2^t). While ρ_t ≤ 5 the step is plain
    momentum SGD, p -= lr·m̂; after that p -= lr·r_t·m̂·√c2/(√v + eps) with
    r_t = √[(ρ_t-4)(ρ_t-2)ρ∞ / ((ρ∞-4)(ρ∞-2)ρ_t)].
    """

    def __init__(
        self,
        params: Params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        decoupled_weight_decay: bool = False,
    ) -> None:
        defaults = dict(
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2), eps, wd = (
                group["lr"],
                group["betas"],
                group["eps"],
                group["weight_decay"],
            )
            rho_inf = 2 / (1 - beta2) - 1
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                t, m, v = state["step"], state["exp_avg"], state["exp_avg_sq"]

                if wd != 0:
                    if group["decoupled_weight_decay"]:
                        p.mul_(1 - lr * wd)
                    else:
                        g = g.add(p, alpha=wd)

                m.lerp_(g, 1 - beta1)
                v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
                bias_correction1 = 1 - beta1**t
                bias_correction2 = 1 - beta2**t
                m_hat = m / bias_correction1
                rho_t = rho_inf - 2 * t * beta2**t / bias_correction2
                if rho_t > 5:
                    rect = math.sqrt(
                        (rho_t - 4)
                        * (rho_t - 2)
                        * rho_inf
                        / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
                    )
                    adaptive_lr = math.sqrt(bias_correction2) / (v.sqrt() + eps)
                    p.sub_(m_hat * lr * adaptive_lr * rect)
                else:
                    p.sub_(m_hat * lr)
        return loss


class Lookahead(Optimizer):
    """Lookahead (Zhang et al. 2019) around any optimizer: every k steps of the inner
    ("fast") optimizer, the slow weights move a fraction alpha towards the fast ones,
    slow += alpha·(fast - slow), and the fast weights restart from there.

    The param groups are the inner optimizer's own, so `set_hyper` and schedulers reach it.
    The state dict holds the inner optimizer's state and the slow weights.
    """

    def __init__(self, optimizer: Optimizer, k: int = 6, alpha: float = 0.5) -> None:
        if k < 1 or not 0.0 <= alpha <= 1.0:
            raise DlfError(f"Lookahead: need k >= 1 and 0 <= alpha <= 1, got k={k}, alpha={alpha}")
        self.inner, self.k, self.alpha = optimizer, k, alpha
        super().__init__(optimizer.param_groups, defaults={})
        self.param_groups = optimizer.param_groups  # one list, shared with the inner optimizer
        self.n_steps = 0

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        if self.n_steps == 0:
            self._remember_slow_weights()  # slow weights start at the initial weights
        loss = self.inner.step(closure)
        self.n_steps += 1
        if self.n_steps % self.k == 0:
            for group in self.param_groups:
                for p in group["params"]:
                    slow = self.state[p]["slow"]
                    slow.add_(p - slow, alpha=self.alpha)
                    p.copy_(slow)
        return loss

    def _remember_slow_weights(self) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if "slow" not in self.state[p]:
                    self.state[p]["slow"] = p.detach().clone()

    def state_dict(self) -> dict[str, Any]:
        return {
            "inner": self.inner.state_dict(),
            "slow": super().state_dict(),
            "n_steps": self.n_steps,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.inner.load_state_dict(state_dict["inner"])
        super().load_state_dict(state_dict["slow"])
        # loading gives both optimizers fresh group dicts: share the inner ones again
        self.param_groups = self.inner.param_groups
        self.n_steps = state_dict["n_steps"]


# --- what the Learner uses ----------------------------------------------------------------

_FUSED_ADAMW_DEVICES = ("cpu", "cuda")  # fused AdamW kernels: CUDA, and CPU since torch 2.4


def _fused_adamw_supported(groups: list[dict[str, Any]]) -> bool:
    tensors = [p for g in groups for p in g["params"]]
    if not tensors:
        return False
    devices = {p.device.type for p in tensors}
    return (
        len(devices) == 1
        and devices.pop() in _FUSED_ADAMW_DEVICES
        and all(p.is_floating_point() for p in tensors)
        and tuple(int(x) for x in torch.__version__.split(".")[:2]) >= (2, 4)
    )


def default_opt_func(params: Params, lr: float) -> Optimizer:
    """torch's AdamW with fastai's defaults (betas 0.9/0.99, eps 1e-5, wd 0.01), fused into
    one kernel where torch has one for the parameters' device; the same algorithm as `AdamW`."""
    params = list(params)
    groups = params if params and isinstance(params[0], dict) else [{"params": params}]
    groups = [{**g, "params": list(g["params"])} for g in groups]
    fused = _fused_adamw_supported(groups)
    return torch.optim.AdamW(
        groups, lr=lr, betas=(0.9, 0.99), eps=1e-5, weight_decay=0.01, fused=fused or None
    )


# --- one vocabulary for hyperparameters ---------------------------------------------------

_GROUP_KEYS = {"lr": "lr", "wd": "weight_decay", "eps": "eps"}


def _set_in_group(group: dict[str, Any], name: str, value: float) -> None:
    if name in ("mom", "sqr_mom"):
        if "betas" in group:  # Adam-likes: mom is β1, sqr_mom is β2
            beta1, beta2 = group["betas"]
            group["betas"] = (value, beta2) if name == "mom" else (beta1, value)
            return
        if name == "mom" and "momentum" in group:  # SGD-likes
            group["momentum"] = value
            return
        raise DlfError(
            f"set_hyper: this optimizer has no {name!r} (its groups hold {sorted(group)})"
        )
    key = _GROUP_KEYS.get(name, name)
    if key not in group:
        raise DlfError(
            f"set_hyper: this optimizer has no {name!r} (its groups hold {sorted(group)})"
        )
    group[key] = value


def set_hyper(opt: Optimizer, name: str, value: float | Sequence[float]) -> None:
    """Set hyperparameter `name` ("lr", "mom", "sqr_mom", "wd", or a group key) to one value
    for every parameter group, or to one value per group."""
    groups = opt.param_groups
    values = [value] * len(groups) if isinstance(value, numbers.Real) else list(value)
    if len(values) != len(groups):
        raise DlfError(
            f"set_hyper({name!r}): got {len(values)} values for {len(groups)} parameter "
            "groups; give one value, or one per group"
        )
    for group, v in zip(groups, values):
        _set_in_group(group, name, float(v))


def get_hyper(opt: Optimizer, name: str) -> list[float]:
    """The value of hyperparameter `name` in each parameter group (see `set_hyper`)."""
    values = []
    for group in opt.param_groups:
        if name in ("mom", "sqr_mom") and "betas" in group:
            values.append(group["betas"][0 if name == "mom" else 1])
        elif name == "mom" and "momentum" in group:
            values.append(group["momentum"])
        elif _GROUP_KEYS.get(name, name) in group:
            values.append(group[_GROUP_KEYS.get(name, name)])
        else:
            raise DlfError(
                f"get_hyper: this optimizer has no {name!r} (its groups hold {sorted(group)})"
            )
    return values


__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "Lookahead",
    "RAdam",
    "default_opt_func",
    "get_hyper",
    "set_hyper",
]
