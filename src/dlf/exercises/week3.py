"""Week 3 checks: CNN layers forward and backward, and the residual block.

References: forwards against torch.nn.functional in float64; backwards against central
differences of that reference forward (CS231n's gradient check: relative error below 1e-7);
the block against dlf.models.layers.BasicBlock with the same weights. Edge cases: every
stride/padding pair, batch size 1, overlapping windows, inputs left untouched.
"""

import copy
from types import ModuleType

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from dlf.exercises.harness import CheckFailed, Exercise, expect_close, numerical_grad, require
from dlf.models.layers import BasicBlock as ReferenceBlock

D64 = torch.float64


def _rand(*shape) -> torch.Tensor:
    return torch.randn(*shape, dtype=D64)


def _unchanged(what: str, before: torch.Tensor, after: torch.Tensor) -> None:
    if not torch.equal(before, after):
        raise CheckFailed(f"your {what} changed its input in place: compute into a new tensor")


def _grads(f, inputs: list[torch.Tensor], dout: torch.Tensor) -> list[torch.Tensor]:
    """Central differences of sum(f(*inputs) * dout) for each input: the gradient reference."""
    return [numerical_grad(lambda: f(*inputs), x, dout, h=1e-5) for x in inputs]


def _compare_grads(names, mine, ref, n=None, hint=None) -> float:
    if not isinstance(mine, tuple | list) or len(mine) != len(names):
        raise CheckFailed(
            f"return {len(names)} gradients ({', '.join(names)}), got {type(mine).__name__}"
        )
    return max(
        expect_close(name, a, b, n=n, hint=hint)
        for name, a, b in zip(names, mine, ref, strict=True)
    )


# ---- linear and ReLU -----------------------------------------------------------------------


def check_linear(m: ModuleType) -> float:
    fwd, bwd = require(m, "linear_forward", "linear_backward")
    errs = []
    for n in (4, 1):  # batch size 1 too
        x, w, b = _rand(n, 3), _rand(3, 5), _rand(5)
        x0 = x.clone()
        out, cache = fwd(x, w, b)
        _unchanged("linear_forward", x0, x)
        errs.append(expect_close("forward", out, x @ w + b))
        dout = _rand(n, 5)
        ref = _grads(lambda x, w, b: x @ w + b, [x, w, b], dout)
        errs.append(_compare_grads(["dx", "dw", "db"], bwd(dout, cache), ref, n=n,
                                   hint="dx = dout @ w.T, dw = x.T @ dout, db = dout summed over the batch"))  # fmt: skip
    return max(errs)


def check_relu(m: ModuleType) -> float:
    fwd, bwd = require(m, "relu_forward", "relu_backward")
    x = _rand(4, 6)
    x0 = x.clone()
    out, cache = fwd(x)
    _unchanged("relu_forward", x0, x)
    errs = [expect_close("forward", out, x.clamp_min(0))]
    dout = _rand(4, 6)
    (ref,) = _grads(lambda x: x.clamp_min(0), [x], dout)
    errs.append(expect_close("dx", bwd(dout, cache), ref,
                             hint="the gradient passes only where x > 0: dout * (x > 0)"))  # fmt: skip
    return max(errs)


# ---- convolution ---------------------------------------------------------------------------

# (stride, pad) on a 5 x 6 input; the first, with windows that do not overlap, passes even
# when dx is assigned rather than accumulated, so a later failure can name that mistake
CONV_CASES = [(3, 2), (1, 0), (1, 1), (2, 1), (2, 0)]


def _conv_check(fwd, bwd, n_vectorised: int | None) -> float:
    errs = []
    for i, (stride, pad) in enumerate(CONV_CASES):
        n = 1 if i == 0 else 2  # batch size 1 in the first case
        x, w, b = _rand(n, 2, 5, 6), _rand(3, 2, 3, 3), _rand(3)
        x0 = x.clone()
        ref_out = F.conv2d(x, w, b, stride=stride, padding=pad)
        with _CountOps() as count:
            out, cache = fwd(x, w, b, stride, pad)
        _unchanged("forward", x0, x)
        setting = f"stride {stride}, pad {pad}"
        if isinstance(out, torch.Tensor) and out.shape == ref_out.shape:
            flipped = F.conv2d(x, w.flip(-1, -2), b, stride=stride, padding=pad)
            if torch.allclose(out, flipped, rtol=1e-9, atol=1e-12):
                raise CheckFailed("your output matches a FLIPPED kernel: deep learning's conv is "
                                  "cross-correlation, use w as it is")  # fmt: skip
        shape_hint = f"H' = (H + 2·pad - KH) // stride + 1 = {ref_out.shape[2]}"
        if isinstance(out, torch.Tensor) and out.shape != ref_out.shape:
            raise CheckFailed(f"forward ({setting}): shape {tuple(out.shape)}, expected "
                              f"{tuple(ref_out.shape)}: {shape_hint}")  # fmt: skip
        errs.append(expect_close(f"forward ({setting})", out, ref_out))
        if n_vectorised is not None and count.n > n_vectorised:
            raise CheckFailed(f"forward made {count.n} torch calls for a {n}x2x5x6 input: that is "
                              "a loop over pixels; use F.unfold and one matrix multiply")  # fmt: skip
        dout = _rand(*ref_out.shape)
        ref = _grads(
            lambda x, w, b, s=stride, p=pad: F.conv2d(x, w, b, stride=s, padding=p), [x, w, b], dout
        )
        overlap = stride < 3  # with a 3x3 kernel, windows overlap unless the stride is 3
        hint = (
            "wrong where windows overlap: accumulate (+=) into dx, do not assign"
            if overlap
            else None
        )
        with _CountOps() as count:
            grads = bwd(dout, cache)
        errs.append(_compare_grads(["dx", "dw", "db"], grads, ref, n=n, hint=hint))
        if n_vectorised is not None and count.n > n_vectorised:
            raise CheckFailed(f"backward made {count.n} torch calls: that is a loop over pixels; "
                              "use F.fold (the adjoint of unfold) and matrix multiplies")  # fmt: skip
    return max(errs)


class _CountOps(TorchFunctionMode):
    """Counts torch calls: a vectorised layer makes a few dozen, a loop over pixels thousands."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        self.n += 1
        return func(*args, **(kwargs or {}))


def check_conv_naive(m: ModuleType) -> float:
    return _conv_check(*require(m, "conv_forward_naive", "conv_backward_naive"), n_vectorised=None)


def check_conv_unfold(m: ModuleType) -> float:
    return _conv_check(*require(m, "conv_forward_unfold", "conv_backward_unfold"), n_vectorised=200)


# ---- max-pool ------------------------------------------------------------------------------


def check_maxpool(m: ModuleType) -> float:
    fwd, bwd = require(m, "maxpool_forward", "maxpool_backward")
    errs = []
    for kernel, stride in ((2, 2), (3, 2)):  # the second has overlapping windows
        x = _rand(2, 2, 7, 7)
        x0 = x.clone()
        out, cache = fwd(x, kernel, stride)
        _unchanged("maxpool_forward", x0, x)
        ref_out = F.max_pool2d(x, kernel, stride)
        errs.append(expect_close(f"forward (kernel {kernel}, stride {stride})", out, ref_out,
                                 hint=f"H' = (H - kernel) // stride + 1 = {ref_out.shape[2]}"))  # fmt: skip
        dout = _rand(*ref_out.shape)
        (ref,) = _grads(lambda x, k=kernel, s=stride: F.max_pool2d(x, k, s), [x], dout)
        dx = bwd(dout, cache)
        if (
            isinstance(dx, torch.Tensor)
            and dx.shape == x.shape
            and (dx != 0).sum() > (ref != 0).sum()
        ):
            raise CheckFailed(
                "the gradient went to every element of the window: only the max gets it"
            )
        hint = (
            "overlapping windows: accumulate (+=) into dx, do not assign"
            if kernel > stride
            else None
        )
        errs.append(expect_close(f"dx (kernel {kernel}, stride {stride})", dx, ref, hint=hint))
    return max(errs)


# ---- batch norm ----------------------------------------------------------------------------


def _bn_reference(x, gamma, beta, rm, rv, train):
    return F.batch_norm(x, rm, rv, gamma, beta, training=train, momentum=0.1, eps=1e-5)


def check_batchnorm(m: ModuleType) -> float:
    fwd, bwd = require(m, "batchnorm_forward", "batchnorm_backward")
    n, d = 6, 4
    x, gamma, beta = _rand(n, d) * 2 + 3, _rand(d), _rand(d)
    rm, rv = _rand(d), torch.rand(d, dtype=D64) + 0.5
    state = {"running_mean": rm.clone(), "running_var": rv.clone()}
    ref_rm, ref_rv = rm.clone(), rv.clone()
    ref_out = _bn_reference(x, gamma, beta, ref_rm, ref_rv, True)
    out, cache = fwd(x, gamma, beta, state, True)
    errs = [expect_close("train forward", out, ref_out,
                         hint="normalise with the batch's mean and BIASED variance (divide by N)")]  # fmt: skip
    errs.append(expect_close("running_mean after a train step", state["running_mean"], ref_rm,
                             hint="running = (1-momentum)·running + momentum·batch mean"))  # fmt: skip
    errs.append(expect_close("running_var after a train step", state["running_var"], ref_rv,
                             hint="torch keeps the UNBIASED batch variance (N-1) in running_var"))  # fmt: skip
    x2 = _rand(n, d)
    ref_eval = _bn_reference(x2, gamma, beta, ref_rm.clone(), ref_rv.clone(), False)
    before = {k: v.clone() for k, v in state.items()}
    out_eval, _ = fwd(x2, gamma, beta, state, False)
    if isinstance(out_eval, torch.Tensor) and out_eval.shape == ref_eval.shape:
        batch = _bn_reference(x2, gamma, beta, None, None, True)
        if torch.allclose(out_eval, batch, rtol=1e-9, atol=1e-12):
            raise CheckFailed("batch norm in eval mode used the batch's statistics: use "
                              "state['running_mean'] and state['running_var']")  # fmt: skip
    errs.append(expect_close("eval forward", out_eval, ref_eval))
    for k in before:
        if not torch.equal(before[k], state[k]):
            raise CheckFailed(f"eval mode changed state[{k!r}]: only training updates it")
    dout = _rand(n, d)
    ref = _grads(lambda x, g, b: _bn_reference(x, g, b, None, None, True), [x, gamma, beta], dout)
    errs.append(_compare_grads(["dx", "dgamma", "dbeta"], bwd(dout, cache), ref, n=n,
                               hint="dx must include the paths through the batch mean and variance"))  # fmt: skip
    return max(errs)


# ---- the residual block --------------------------------------------------------------------


def check_block(m: ModuleType) -> float:
    (block_cls,) = require(m, "BasicBlock")
    errs = []
    for inplanes, planes, stride in ((4, 4, 1), (4, 8, 2)):
        down = None
        if stride != 1 or inplanes != planes:
            down = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                       torch.nn.BatchNorm2d(planes))  # fmt: skip
        ref = ReferenceBlock(inplanes, planes, stride, down).double()
        mine = block_cls(inplanes, planes, stride, copy.deepcopy(down)).double()
        n_ref = sum(p.numel() for p in ref.parameters())
        n_mine = sum(p.numel() for p in mine.parameters())
        if n_mine != n_ref:
            extra = (
                "; convs followed by batch norm need no bias (bias=False)"
                if n_mine - n_ref == 2 * planes
                else ""
            )
            raise CheckFailed(f"{n_mine} parameters, dlf's block has {n_ref}{extra}")
        theirs, ours = set(mine.state_dict()), set(ref.state_dict())
        if theirs != ours:
            missing = sorted(ours - theirs)[:3]
            raise CheckFailed(
                f"name the layers as dlf does (conv1, bn1, conv2, bn2, downsample): missing {missing}"
            )
        mine.load_state_dict(ref.state_dict())
        x = _rand(2, inplanes, 6, 6)
        for train in (True, False):
            ref.train(train)
            mine.train(train)
            hint = "the last ReLU comes AFTER adding the shortcut: relu(bn2(conv2(...)) + shortcut)"
            errs.append(expect_close(f"output ({'train' if train else 'eval'}, stride {stride})",
                                     mine(x), ref(x), hint=hint))  # fmt: skip
    return max(errs)


EXERCISES = [
    Exercise("linear", "week3", ("linear_forward", "linear_backward"), "linear layer forward/backward", check_linear),
    Exercise("relu", "week3", ("relu_forward", "relu_backward"), "ReLU forward/backward", check_relu),
    Exercise("conv_naive", "week3", ("conv_forward_naive", "conv_backward_naive"),
             "conv2d forward/backward with loops", check_conv_naive),
    Exercise("conv_unfold", "week3", ("conv_forward_unfold", "conv_backward_unfold"),
             "conv2d forward/backward vectorised with unfold", check_conv_unfold),
    Exercise("maxpool", "week3", ("maxpool_forward", "maxpool_backward"), "max-pool forward/backward", check_maxpool),
    Exercise("batchnorm", "week3", ("batchnorm_forward", "batchnorm_backward"),
             "batch norm forward (train, eval) and backward", check_batchnorm),
    Exercise("basic_block", "week3", ("BasicBlock",), "ResNet's residual block as an nn.Module",
             check_block, "block"),
]  # fmt: skip

__all__ = ["EXERCISES"]
