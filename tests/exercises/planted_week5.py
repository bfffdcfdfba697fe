"""Planted bugs for week 5: the usual mistakes, each with the hint it must produce."""

from pathlib import Path

import torch

from dlf.exercises import load_member_file

ok = load_member_file(Path(__file__).parent / "solutions" / "week5.py")


@torch.no_grad()
def tta_average_logits(model, x, n):
    model.eval()
    return torch.stack([model(ok._symmetry(x, k)) for k in range(n)]).mean(0).softmax(-1)


@torch.no_grad()
def tta_train_mode(model, x, n):
    return torch.stack([model(ok._symmetry(x, k)).softmax(-1) for k in range(n)]).mean(0)


@torch.no_grad()
def tta_transpose_first(model, x, n):
    model.eval()
    outs = []
    for k in range(n):
        xk = x.transpose(-1, -2) if k & 4 else x
        xk = xk.flip(-1) if k & 1 else xk
        xk = xk.flip(-2) if k & 2 else xk
        outs.append(model(xk).softmax(-1))
    return torch.stack(outs).mean(0)


def _cam_parts(model, layer, x, class_idx, prob=False):
    caught = {}
    handle = layer.register_forward_hook(lambda mod, inp, out: caught.update(a=out))
    out = model(x)
    handle.remove()
    score = out.softmax(-1)[0, class_idx] if prob else out[0, class_idx]
    (grad,) = torch.autograd.grad(score, caught["a"])
    return grad[0], caught["a"][0].detach()


def grad_cam_no_relu(model, layer, x, class_idx):
    g, a = _cam_parts(model, layer, x, class_idx)
    cam = (g.mean((1, 2))[:, None, None] * a).sum(0)
    return cam / cam.max()


def grad_cam_of_probability(model, layer, x, class_idx):
    g, a = _cam_parts(model, layer, x, class_idx, prob=True)
    cam = (g.mean((1, 2))[:, None, None] * a).sum(0).clamp_min(0)
    return cam / cam.max()


def grad_cam_elementwise(model, layer, x, class_idx):
    g, a = _cam_parts(model, layer, x, class_idx)
    cam = (g * a).sum(0).clamp_min(0)
    return cam / cam.max()


def grad_cam_hook_left_on(model, layer, x, class_idx):
    caught = {}
    layer.register_forward_hook(lambda mod, inp, out: caught.update(a=out))
    score = model(x)[0, class_idx]
    (grad,) = torch.autograd.grad(score, caught["a"])
    cam = (grad[0].mean((1, 2))[:, None, None] * caught["a"][0]).sum(0).clamp_min(0).detach()
    return cam / cam.max()


BUGS = [
    ("tta_average", "tta_average", tta_average_logits, "not the logits"),
    ("tta_average", "tta_average", tta_train_mode, "call model.eval() first"),
    ("tta_average", "tta_average", tta_transpose_first, "the transpose last"),
    ("grad_cam", "grad_cam", grad_cam_no_relu, "ReLU the weighted sum"),
    ("grad_cam", "grad_cam", grad_cam_of_probability, "not its probability"),
    ("grad_cam", "grad_cam", grad_cam_elementwise, "AVERAGED over positions"),
    ("grad_cam", "grad_cam", grad_cam_hook_left_on, "call .remove()"),
]
