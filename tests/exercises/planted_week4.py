"""Planted bugs for week 4: the usual mistakes, each with the hint it must produce."""

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from dlf.exercises import load_member_file

ok = load_member_file(Path(__file__).parent / "solutions" / "week4.py")


def ce_no_max_shift(logits, target, label_smoothing=0.0):
    log_probs = logits - logits.exp().sum(dim=1, keepdim=True).log()
    nll = -log_probs.gather(1, target[:, None]).squeeze(1)
    return ((1 - label_smoothing) * nll + label_smoothing * -log_probs.mean(dim=1)).mean()


def ce_smoothing_over_other_classes(logits, target, label_smoothing=0.0):
    log_probs = F.log_softmax(logits, dim=1)
    c = logits.shape[1]
    q = torch.full_like(logits, label_smoothing / (c - 1))
    q.scatter_(1, target[:, None], 1 - label_smoothing)
    return -(q * log_probs).sum(dim=1).mean()


def ce_sum(logits, target, label_smoothing=0.0):
    return ok.softmax_cross_entropy(logits, target, label_smoothing) * logits.shape[0]


def focal_log_sigmoid(logits, target, alpha=0.25, gamma=2.0):
    p = torch.sigmoid(logits)
    p_t = target * p + (1 - target) * (1 - p)
    loss = -((1 - p_t) ** gamma) * torch.log(p_t)
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


def focal_alpha_everywhere(logits, target, alpha=0.25, gamma=2.0):
    loss = ok.focal_loss(logits, target, None, gamma)
    return loss * alpha if alpha is not None else loss


def focal_p_gamma(logits, target, alpha=0.25, gamma=2.0):
    log_p_t = target * F.logsigmoid(logits) + (1 - target) * F.logsigmoid(-logits)
    loss = -(log_p_t.exp() ** gamma) * log_p_t
    if alpha is not None:
        loss = loss * (alpha * target + (1 - alpha) * (1 - target))
    return loss.mean()


class SGDNoBuffer(ok.SGD):  # momentum applied to this step's gradient only: no buffer kept
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad + group["weight_decay"] * p
                p -= group["lr"] * (g + group["momentum"] * g)


class SGDDecayAfterMomentum(ok.SGD):
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                s = self.state[p]
                s["buf"] = (
                    p.grad.clone() if "buf" not in s else group["momentum"] * s["buf"] + p.grad
                )
                p -= group["lr"] * (s["buf"] + group["weight_decay"] * p)


class SGDFirstGroupOnly(ok.SGD):  # the constructor's lr for every group
    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad + group["weight_decay"] * p
                s = self.state[p]
                s["buf"] = g.clone() if "buf" not in s else group["momentum"] * s["buf"] + g
                p -= self.defaults["lr"] * s["buf"]


def _adam(correct1: bool, correct2: bool, eps_inside: bool = False, decoupled: bool = False):
    class BuggyAdam(ok.Adam):
        @torch.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                lr, wd = group["lr"], group["weight_decay"]
                for p in group["params"]:
                    g = p.grad if decoupled else p.grad + wd * p
                    if decoupled:
                        p *= 1 - lr * wd
                    s = self.state[p]
                    if not s:
                        s["t"], s["m"], s["v"] = 0, torch.zeros_like(p), torch.zeros_like(p)
                    s["t"] += 1
                    s["m"] = b1 * s["m"] + (1 - b1) * g
                    s["v"] = b2 * s["v"] + (1 - b2) * g * g
                    m = s["m"] / (1 - b1 ** s["t"]) if correct1 else s["m"]
                    v = s["v"] / (1 - b2 ** s["t"]) if correct2 else s["v"]
                    den = (v + group["eps"]).sqrt() if eps_inside else v.sqrt() + group["eps"]
                    p -= lr * m / den

    return BuggyAdam


AdamNoBiasCorrection1 = _adam(False, True)
AdamNoBiasCorrection = _adam(False, False)
AdamEpsInside = _adam(True, True, eps_inside=True)
AdamDecoupled = _adam(True, True, decoupled=True)
for _name in ("AdamNoBiasCorrection1", "AdamNoBiasCorrection", "AdamEpsInside", "AdamDecoupled"):
    globals()[_name].__name__ = _name


def one_cycle_linear(lr_max, div=25.0, div_final=1e5, pct_start=0.25):
    def lr(pos):
        if pos < pct_start:
            return lr_max / div + (lr_max - lr_max / div) * pos / pct_start
        s = (pos - pct_start) / (1 - pct_start)
        return lr_max + (lr_max / div_final - lr_max) * s

    return lr


def one_cycle_ends_at_start(lr_max, div=25.0, div_final=1e5, pct_start=0.25):
    return ok.one_cycle_lr(lr_max, div, div, pct_start)  # anneals back to lr_max/div only


def one_cycle_sin(lr_max, div=25.0, div_final=1e5, pct_start=0.25):
    def lr(pos):
        if pos < pct_start:
            return lr_max / div + (lr_max - lr_max / div) * math.sin(math.pi / 2 * pos / pct_start)
        return ok.one_cycle_lr(lr_max, div, div_final, pct_start)(pos)

    return lr


def fit_zero_grad_after_backward(model, loader, loss_func, opt):
    model.train()
    losses = []
    for x, y in loader:
        loss = loss_func(model(x), y)
        loss.backward()
        opt.zero_grad()
        opt.step()
        losses.append(float(loss))
    return sum(losses) / len(losses)


def fit_no_zero_grad(model, loader, loss_func, opt):
    model.train()
    losses = []
    for x, y in loader:
        loss = loss_func(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return sum(losses) / len(losses)


def fit_no_train_mode(model, loader, loss_func, opt):
    losses = []
    for x, y in loader:
        opt.zero_grad()
        loss = loss_func(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    return sum(losses) / len(losses)


def fit_returns_last_loss(model, loader, loss_func, opt):
    ok.fit_one_epoch(model, loader, loss_func, opt)
    return float(loss_func(model(loader[-1][0]), loader[-1][1]))


# exercise, the member's name for the part, the buggy version, a fragment of the hint it must get
BUGS = [
    ("cross_entropy", "softmax_cross_entropy", ce_no_max_shift, "subtract the row max"),
    (
        "cross_entropy",
        "softmax_cross_entropy",
        ce_smoothing_over_other_classes,
        "ε spread over all C",
    ),
    ("cross_entropy", "softmax_cross_entropy", ce_sum, "factor of N (N = 8): did you sum"),
    ("focal_loss", "focal_loss", focal_log_sigmoid, "use F.logsigmoid"),
    ("focal_loss", "focal_loss", focal_alpha_everywhere, "1-α negatives"),
    ("focal_loss", "focal_loss", focal_p_gamma, "(1-p_t)^γ"),
    ("sgd", "SGD", SGDNoBuffer, "keep a buffer per parameter"),
    ("sgd", "SGD", SGDDecayAfterMomentum, "BEFORE the momentum buffer"),
    ("sgd", "SGD", SGDFirstGroupOnly, "from each group"),
    ("adam", "Adam", AdamNoBiasCorrection1, "too small (0.1·lr): apply bias correction"),
    ("adam", "Adam", AdamNoBiasCorrection, "apply both bias corrections"),
    ("adam", "Adam", AdamEpsInside, "eps goes outside the square root"),
    ("adam", "Adam", AdamDecoupled, "decoupled decay is AdamW"),
    ("one_cycle", "one_cycle_lr", one_cycle_linear, "each phase is a cosine"),
    ("one_cycle", "one_cycle_lr", one_cycle_ends_at_start, "the end"),
    ("one_cycle", "one_cycle_lr", one_cycle_sin, "each phase is a cosine"),
    ("fit_one_epoch", "fit_one_epoch", fit_zero_grad_after_backward, "weights did not change"),
    ("fit_one_epoch", "fit_one_epoch", fit_no_zero_grad, "accumulated across batches"),
    ("fit_one_epoch", "fit_one_epoch", fit_no_train_mode, "call model.train()"),
    ("fit_one_epoch", "fit_one_epoch", fit_returns_last_loss, "mean of the 4 batch losses"),
]
