"""Reference solutions for the week-4 exercises: what a member's passing file looks like.
They live in the tests, never in the package (the starters hold no solutions)."""

import math

import torch
import torch.nn.functional as F
from torch.optim import Optimizer


def softmax_cross_entropy(logits, target, label_smoothing=0.0):
    shifted = logits - logits.max(dim=1, keepdim=True).values  # exp(1000) overflows
    log_probs = shifted - shifted.exp().sum(dim=1, keepdim=True).log()
    nll = -log_probs.gather(1, target[:, None]).squeeze(1)
    uniform = -log_probs.mean(dim=1)  # the loss against ε/C on every class
    return ((1 - label_smoothing) * nll + label_smoothing * uniform).mean()


def focal_loss(logits, target, alpha=0.25, gamma=2.0):
    log_p, log_not_p = F.logsigmoid(logits), F.logsigmoid(-logits)
    log_p_t = target * log_p + (1 - target) * log_not_p
    loss = -((1 - log_p_t.exp()) ** gamma) * log_p_t
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                if group["momentum"]:
                    state = self.state[p]
                    if "buf" not in state:
                        state["buf"] = g.clone()
                    else:
                        state["buf"] = group["momentum"] * state["buf"] + g
                    g = state["buf"]
                p -= group["lr"] * g


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            b1, b2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = p.grad + group["weight_decay"] * p
                s = self.state[p]
                if not s:
                    s["t"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                s["t"] += 1
                s["m"] = b1 * s["m"] + (1 - b1) * g
                s["v"] = b2 * s["v"] + (1 - b2) * g * g
                m_hat = s["m"] / (1 - b1 ** s["t"])
                v_hat = s["v"] / (1 - b2 ** s["t"])
                p -= group["lr"] * m_hat / (v_hat.sqrt() + group["eps"])


def one_cycle_lr(lr_max, div=25.0, div_final=1e5, pct_start=0.25):
    def cos(a, b, s):
        return a + (b - a) * (1 - math.cos(math.pi * s)) / 2

    def lr(pos):
        if pos < pct_start:
            return cos(lr_max / div, lr_max, pos / pct_start)
        return cos(lr_max, lr_max / div_final, (pos - pct_start) / (1 - pct_start))

    return lr


def fit_one_epoch(model, loader, loss_func, opt):
    model.train()
    losses = []
    for x, y in loader:
        opt.zero_grad()
        loss = loss_func(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.detach())
    return float(torch.stack(losses).mean())
