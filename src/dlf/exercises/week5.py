"""Week 5 checks: test-time augmentation averaging and Grad-CAM.

References: for TTA, the passes computed with dlf.train.tta.dihedral (itself checked
against torch.rot90 and flips) and the model in eval mode; for Grad-CAM, the paper's
formula with the gradient taken by torch.autograd.grad on the model cut at the layer. Each
usual mistake is computed too, so a wrong result is named by the mistake it matches.
"""

from types import ModuleType

import torch
from torch import nn

from dlf.exercises.harness import CheckFailed, Exercise, expect_close, rel_error, require
from dlf.train.tta import dihedral


def _model() -> nn.Sequential:
    """A small CNN with batch norm (eval and train differ) and no symmetry of its own."""
    torch.manual_seed(5)
    features = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                             nn.Conv2d(6, 8, 3, padding=1), nn.ReLU())  # fmt: skip
    # no pooling: the gradient at each position differs (with global pooling it would not,
    # and Grad-CAM's averaging could not be told from an elementwise product)
    head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 8, 4))
    model = nn.Sequential(features, head).double()
    with torch.no_grad():  # running statistics unlike any batch's, so eval mode shows
        model[0][1].running_mean.uniform_(-1, 1)
        model[0][1].running_var.uniform_(0.5, 2)
        head[1].weight.mul_(20)  # confident logits: averaging logits or probabilities differs
    return model


def _passes(model, x, n, order="flips first"):
    outs = []
    for k in range(n):
        if order == "flips first":
            xk = dihedral(x, k)
        else:  # the transpose before the flips
            xk = x.transpose(-1, -2) if k & 4 else x
            xk = xk.flip(-1) if k & 1 else xk
            xk = xk.flip(-2) if k & 2 else xk
        outs.append(model(xk))
    return torch.stack(outs)


def check_tta(m: ModuleType) -> float:
    (tta,) = require(m, "tta_average")
    model = _model()
    x = torch.randn(3, 3, 8, 8, dtype=torch.float64)
    errs = []
    for n in (1, 2, 6, 8):  # 6: flips and transpose in either order give different sets
        model.train()  # as after training: the function must switch to eval itself
        got = tta(model, x.clone(), n)
        model.eval()
        with torch.no_grad():
            logits = _passes(model, x, n)
            ref = logits.softmax(-1).mean(0)
            mistakes = {
                "average the probabilities (a softmax per pass), not the logits": logits.mean(0).softmax(-1),
                "the order of the steps: flips first (bit 0, then bit 1), the transpose last":
                    _passes(model, x, n, "transpose first").softmax(-1).mean(0),
            }  # fmt: skip
            model.train()
            mistakes["call model.eval() first: batch norm used the batch's statistics"] = (
                _passes(model, x, n).softmax(-1).mean(0)
            )
        hint = None
        if isinstance(got, torch.Tensor) and got.shape == ref.shape:
            for text, value in mistakes.items():
                if rel_error(value, ref) > 1e-6 and rel_error(got.detach(), value) < 1e-9:
                    hint = text
                    break
        what = f"{n} pass{'es' if n > 1 else ''}"
        if hint:
            raise CheckFailed(f"{what}: {hint}")
        errs.append(expect_close(what, got.detach() if isinstance(got, torch.Tensor) else got, ref))
    return max(errs)


def _cam(weights: torch.Tensor, acts: torch.Tensor, relu: bool = True) -> torch.Tensor:
    cam = (weights[:, None, None] * acts).sum(0)
    if relu:
        cam = cam.clamp_min(0)
    top = cam.max()
    return cam / top if top > 0 else cam


def check_grad_cam(m: ModuleType) -> float:
    (cam_fn,) = require(m, "grad_cam")
    model = _model().eval()
    features, head = model[0], model[1]
    errs = []
    for seed, class_idx in ((0, 1), (1, 3)):
        x = torch.randn(
            1, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)
        )
        acts = features(x).detach().requires_grad_()
        logits = head(acts)
        (grad,) = torch.autograd.grad(logits[0, class_idx], acts)
        a, g = acts.detach()[0], grad[0]
        ref = _cam(g.mean((1, 2)), a)
        (grad_p,) = torch.autograd.grad(head(acts).softmax(-1)[0, class_idx], acts)
        other = (
            int(logits[0].argmax()) if int(logits[0].argmax()) != class_idx else (class_idx + 1) % 4
        )
        (grad_o,) = torch.autograd.grad(head(acts)[0, other], acts)
        mistakes = {
            "keep only positive evidence: ReLU the weighted sum": _cam(g.mean((1, 2)), a, relu=False),
            "differentiate the class's score before softmax (the logit), not its probability":
                _cam(grad_p[0].mean((1, 2)), a),
            "α_k is the gradient AVERAGED over positions, then multiplied with the whole map A_k":
                (g * a).sum(0).clamp_min(0) / (g * a).sum(0).clamp_min(0).max(),
            f"the map is for class_idx ({class_idx}), not another class": _cam(grad_o[0].mean((1, 2)), a),
        }  # fmt: skip
        hooks_before = len(model[0][4]._forward_hooks)
        got = cam_fn(model, model[0][4], x.clone(), class_idx)
        if len(model[0][4]._forward_hooks) != hooks_before:
            raise CheckFailed(
                "your forward hook is still on the layer: keep the handle and call .remove()"
            )
        if isinstance(got, torch.Tensor):
            got = got.detach()
            if got.shape == (1, 1, *ref.shape) or got.shape == (1, *ref.shape):
                got = got.reshape(ref.shape)
            for text, value in mistakes.items():
                if (
                    got.shape == value.shape
                    and rel_error(got, value) < 1e-9
                    and rel_error(value, ref) > 1e-6
                ):
                    raise CheckFailed(text)
        errs.append(expect_close(f"heat map for class {class_idx}", got, ref,
                                 hint="ReLU(Σ α_k·A_k) divided by its maximum"))  # fmt: skip
    return max(errs)


EXERCISES = [
    Exercise(
        "tta_average", "week5", ("tta_average",), "test-time augmentation averaging", check_tta
    ),
    Exercise("grad_cam", "week5", ("grad_cam",), "a Grad-CAM heat map", check_grad_cam),
]

__all__ = ["EXERCISES"]
