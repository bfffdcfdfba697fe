"""Week 4 checks: losses, optimizers, the one-cycle schedule and the training loop.

References: torch.nn.functional (cross-entropy, BCE with logits) and torch.optim (SGD, Adam)
in float64; the one-cycle curve as fastai defines it (dlf.train.schedule, itself checked
against fastai's formula); for the loop, the canonical zero_grad/forward/backward/step loop
run on a copy of the same model. Each check runs from the simplest setting up, so the first
setting that fails names what the member's code gets wrong.
"""

import copy
import math
from types import ModuleType

import torch
import torch.nn.functional as F
from torch import nn

from dlf.exercises.harness import CheckFailed, Exercise, expect_close, require
from dlf.train.schedule import one_cycle_lr as reference_one_cycle


def check_cross_entropy(m: ModuleType) -> float:
    (ce,) = require(m, "softmax_cross_entropy")
    n, c = 8, 5
    logits = torch.randn(n, c, dtype=torch.float64)
    target = torch.randint(0, c, (n,))
    errs = [expect_close("loss", ce(logits, target), F.cross_entropy(logits, target), n=n)]

    x = logits.clone().requires_grad_()
    loss = ce(x, target)
    if not loss.requires_grad:
        raise CheckFailed(
            "the loss is cut off from autograd (.item(), .detach() or numpy?): keep it in torch"
        )
    loss.backward()
    errs.append(
        expect_close("gradient", x.grad, _grad(lambda z: F.cross_entropy(z, target), logits), n=n)
    )

    big = logits * 1000  # logits of ±1000: exp overflows unless the row max is taken out
    errs.append(expect_close("loss at logits of 1000", ce(big, target), F.cross_entropy(big, target), n=n,
                             hint="softmax overflowed at logits of 1000: subtract the row max first"))  # fmt: skip
    ref = F.cross_entropy(logits, target, label_smoothing=0.1)
    errs.append(expect_close("loss with label_smoothing=0.1", ce(logits, target, label_smoothing=0.1), ref, n=n,
                             hint="with label smoothing ε the target is (1-ε)·one_hot + ε/C: ε spread over all C classes"))  # fmt: skip
    one = logits[:1], target[:1]  # batch size 1
    errs.append(expect_close("loss of a batch of 1", ce(*one), F.cross_entropy(*one)))
    return max(errs)


def _reference_focal(x, y, alpha, gamma):
    ce = F.binary_cross_entropy_with_logits(x, y, reduction="none")  # -log p_t, stable
    p_t = torch.exp(-ce)
    loss = ce * (1 - p_t) ** gamma
    if alpha is not None:
        loss = loss * (alpha * y + (1 - alpha) * (1 - y))
    return loss.mean()


def check_focal(m: ModuleType) -> float:
    (focal,) = require(m, "focal_loss")
    x = torch.randn(6, 4, dtype=torch.float64) * 2
    y = (torch.rand(6, 4) < 0.3).double()
    bce = F.binary_cross_entropy_with_logits(x, y)
    errs = [expect_close("gamma=0, alpha=None (binary cross-entropy)", focal(x, y, alpha=None, gamma=0.0), bce,
                         n=x.numel(), hint="with gamma=0 and no alpha it must equal binary cross-entropy on logits")]  # fmt: skip
    errs.append(expect_close("gamma=2, alpha=None", focal(x, y, alpha=None, gamma=2.0),
                             _reference_focal(x, y, None, 2.0), n=x.numel(),
                             hint="the modulating factor is (1-p_t)^γ, p_t the probability of the TRUE label"))  # fmt: skip
    errs.append(expect_close("gamma=2, alpha=0.25", focal(x, y, alpha=0.25, gamma=2.0),
                             _reference_focal(x, y, 0.25, 2.0), n=x.numel(),
                             hint="α weighs positives and 1-α negatives (α_t), not every item by α"))  # fmt: skip
    big = x.sign() * 100  # log(sigmoid(-100)) underflows to log(0) = -inf in float32 and beyond
    errs.append(expect_close("logits of ±100", focal(big, y, alpha=0.25, gamma=2.0),
                             _reference_focal(big, y, 0.25, 2.0),
                             hint="log(sigmoid(x)) underflows at logits of ±100: use F.logsigmoid or binary_cross_entropy_with_logits"))  # fmt: skip
    return max(errs)


def _grad(f, x: torch.Tensor) -> torch.Tensor:
    x = x.clone().requires_grad_()
    f(x).backward()
    return x.grad


# ---- optimizers: 12 steps on a least-squares problem, two parameters, in float64 ----------


def _problem():
    g = torch.Generator().manual_seed(1)
    a = torch.randn(6, 4, generator=g, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    w0 = torch.randn(4, generator=g, dtype=torch.float64)
    c0 = torch.randn(3, generator=g, dtype=torch.float64)
    return a, b, w0, c0


def _trajectory(make_opt, groups: bool = False, steps: int = 12) -> list[torch.Tensor]:
    """Parameters after each step of `make_opt(params)` on a fixed problem."""
    a, b, w0, c0 = _problem()
    w, c = w0.clone().requires_grad_(), c0.clone().requires_grad_()
    params = [{"params": [w]}, {"params": [c], "lr": 0.05}] if groups else [w, c]
    opt = make_opt(params)
    out = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((a @ w - b) ** 2).mean() + (c**4).sum() / 4
        loss.backward()
        opt.step()
        out.append(torch.cat([w.detach(), c.detach()]).clone())
    return out


def _compare_trajectories(what: str, mine, ref, hint: str, close_hint: str | None = None) -> float:
    pairs = enumerate(zip(mine, ref, strict=True), start=1)
    return max(expect_close(f"{what}, step {t}", p, q, hint=hint, close_hint=close_hint)
               for t, (p, q) in pairs)  # fmt: skip


def check_sgd(m: ModuleType) -> float:
    (sgd,) = require(m, "SGD")
    stages = [
        ("plain SGD", dict(lr=0.1), "p -= lr·grad"),
        ("momentum 0.9", dict(lr=0.1, momentum=0.9),
         "with momentum the steps differ: keep a buffer per parameter in self.state[p] that lives across steps (buf = momentum·buf + g)"),
        ("weight decay 0.1", dict(lr=0.1, momentum=0.9, weight_decay=0.1),
         "weight decay: add weight_decay·p to the gradient BEFORE the momentum buffer (L2, as torch)"),
    ]  # fmt: skip
    errs = []
    for what, kw, hint in stages:
        ref = _trajectory(lambda ps, kw=kw: torch.optim.SGD(ps, **kw))
        errs.append(
            _compare_trajectories(what, _trajectory(lambda ps, kw=kw: sgd(ps, **kw)), ref, hint)
        )
    ref = _trajectory(lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9), groups=True)
    mine = _trajectory(lambda ps: sgd(ps, lr=0.1, momentum=0.9), groups=True)
    errs.append(_compare_trajectories("two parameter groups", mine, ref,
                                      "read lr and momentum from each group, not from the first"))  # fmt: skip
    return max(errs)


def check_adam(m: ModuleType) -> float:
    (adam,) = require(m, "Adam")
    lr = 1e-2
    first_mine = _trajectory(lambda ps: adam(ps, lr=lr), steps=1)[0]
    first_ref = _trajectory(lambda ps: torch.optim.Adam(ps, lr=lr), steps=1)[0]
    _, _, w0, c0 = _problem()
    start = torch.cat([w0, c0])
    size = float(
        (first_mine - start).abs().median() / lr
    )  # Adam's first step moves each weight by ≈ lr
    hint = "wrong values"
    if math.isclose(size, 0.1, rel_tol=0.05):
        hint = "Adam's first steps are too small (0.1·lr): apply bias correction m / (1-β1^t)"
    elif math.isclose(size, math.sqrt(1000), rel_tol=0.05):
        hint = "Adam's first steps are too large (31·lr): apply bias correction v / (1-β2^t)"
    elif math.isclose(size, 0.1 * math.sqrt(1000), rel_tol=0.05):
        hint = "Adam's first steps are 3·lr instead of lr: apply both bias corrections, 1-β1^t and 1-β2^t"
    errs = [expect_close("first step", first_mine, first_ref, hint=hint)]
    stages = [
        ("defaults, 12 steps", dict(lr=lr), "wrong after a few steps: m and v must persist in self.state[p], t counts steps"),
        ("betas (0.9, 0.99), eps 1e-3", dict(lr=lr, betas=(0.9, 0.99), eps=1e-3),
         "eps goes outside the square root: m̂ / (√v̂ + eps)"),
        ("weight decay 0.1", dict(lr=lr, weight_decay=0.1),
         "Adam's weight decay adds weight_decay·p to the gradient (L2); decoupled decay is AdamW"),
    ]  # fmt: skip
    eps_hint = "close but not exact: eps goes outside the square root, m̂ / (√v̂ + eps)"
    for what, kw, hint in stages:
        ref = _trajectory(lambda ps, kw=kw: torch.optim.Adam(ps, **kw))
        mine = _trajectory(lambda ps, kw=kw: adam(ps, **kw))
        close = eps_hint if "weight_decay" not in kw else None  # decay errors can be small too
        errs.append(_compare_trajectories(what, mine, ref, hint, close_hint=close))
    ref = _trajectory(lambda ps: torch.optim.Adam(ps, lr=lr), groups=True)
    mine = _trajectory(lambda ps: adam(ps, lr=lr), groups=True)
    errs.append(_compare_trajectories("two parameter groups", mine, ref,
                                      "read lr and betas from each group, not from the first"))  # fmt: skip
    return max(errs)


def check_one_cycle(m: ModuleType) -> float:
    (one_cycle,) = require(m, "one_cycle_lr")
    errs = []
    for kw in (dict(lr_max=1e-2), dict(lr_max=0.5, div=10.0, div_final=100.0, pct_start=0.4)):
        mine, ref = one_cycle(**kw), reference_one_cycle(**kw)
        lr, pct = kw["lr_max"], kw.get("pct_start", 0.25)
        named = {0.0: "the start", pct: "the peak (pos = pct_start)", 1.0: "the end"}
        expected = {0.0: f"lr_max/div = {ref(0.0):.4g}", pct: f"lr_max = {lr:.4g}", 1.0: f"lr_max/div_final = {ref(1.0):.4g}"}  # fmt: skip
        for pos, what in named.items():
            value = torch.tensor(float(mine(pos)), dtype=torch.float64)
            errs.append(expect_close(f"lr at {what}", value, torch.tensor(ref(pos), dtype=torch.float64),
                                     hint=f"expected {expected[pos]}, got {float(value):.4g}"))  # fmt: skip
        grid = [i / 40 for i in range(41)]
        curve = torch.tensor([float(mine(p)) for p in grid], dtype=torch.float64)
        target = torch.tensor([ref(p) for p in grid], dtype=torch.float64)
        errs.append(expect_close(f"the curve {kw}", curve, target,
                                 hint="right ends, wrong shape between them: each phase is a cosine, (1 - cos(π·s))/2, not a straight line"))  # fmt: skip
    return max(errs)


# ---- the training loop ---------------------------------------------------------------------


def _loop_setup():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(24, 5, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (24,), generator=g)
    model = nn.Sequential(nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3)).double()
    batches = [(x[i : i + 6], y[i : i + 6]) for i in range(0, 24, 6)]
    return model, batches


def _reference_loop(model, batches, accumulate: bool = False):
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    losses = []
    for x, y in batches:
        if not accumulate:
            opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    return losses


def _params(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def check_fit(m: ModuleType) -> float:
    (fit,) = require(m, "fit_one_epoch")
    model, batches = _loop_setup()
    before = _params(model)
    ref_model, acc_model = copy.deepcopy(model), copy.deepcopy(model)
    ref_losses = _reference_loop(ref_model, batches)
    _reference_loop(acc_model, batches, accumulate=True)
    model.eval()  # as after a validation pass: the loop must switch to training mode itself
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    returned = fit(model, batches, F.cross_entropy, opt)
    after = _params(model)
    if torch.equal(after, before):
        raise CheckFailed(
            "the weights did not change: opt.zero_grad() must come before backward, and opt.step() after it"
        )
    if not model.training:
        raise CheckFailed(
            "the model trained in eval mode: call model.train() first (batch norm and dropout differ)"
        )
    if torch.allclose(after, _params(acc_model), rtol=1e-9, atol=1e-12):
        raise CheckFailed(
            "gradients accumulated across batches: call opt.zero_grad() every step, before backward"
        )
    err = expect_close("weights after one epoch", after, _params(ref_model),
                       hint="the order is zero_grad -> forward -> loss -> backward -> step, once per batch")  # fmt: skip
    if not isinstance(returned, float):
        raise CheckFailed(
            f"returned {type(returned).__name__}: return the mean loss as a Python float"
        )
    mean = sum(ref_losses) / len(ref_losses)
    err2 = expect_close("returned mean loss", torch.tensor(returned, dtype=torch.float64),
                        torch.tensor(mean, dtype=torch.float64), n=len(batches),
                        hint=f"expected the mean of the {len(batches)} batch losses, {mean:.6f}")  # fmt: skip
    return max(err, err2)


EXERCISES = [
    Exercise("cross_entropy", "week4", ("softmax_cross_entropy",),
             "stable softmax cross-entropy with label smoothing", check_cross_entropy, "loss"),
    Exercise("focal_loss", "week4", ("focal_loss",), "binary focal loss on logits", check_focal, "loss"),
    Exercise("sgd", "week4", ("SGD",), "SGD with momentum and weight decay", check_sgd, "optimizer"),
    Exercise("adam", "week4", ("Adam",), "Adam with bias correction", check_adam, "optimizer"),
    Exercise("one_cycle", "week4", ("one_cycle_lr",), "the one-cycle learning-rate schedule",
             check_one_cycle, "schedule"),
    Exercise("fit_one_epoch", "week4", ("fit_one_epoch",), "the training loop for one epoch", check_fit),
]  # fmt: skip

__all__ = ["EXERCISES"]
