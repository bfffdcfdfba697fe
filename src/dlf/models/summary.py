"""`summary(model, input_size)`: one forward pass, a table of layers, their shapes, parameters and FLOPs.

Output shapes come from forward hooks; FLOPs from `torch.utils.flop_counter.FlopCounterMode`,
which counts the matrix-multiply-like ops (conv, linear, matmul) per module, one multiply-add
as 2 FLOPs. Papers often quote multiply-adds (MACs) and call them FLOPs: ResNet-50's
"4.1 GFLOPs" at 224px is 4.1 GMACs, about 8.2 GFLOPs here; the totals show both.
"""

from dataclasses import dataclass, field

import torch
from torch import nn
from torch.func import functional_call
from torch.utils.flop_counter import FlopCounterMode

from dlf.core.errors import DlfError
from dlf.models.registry import create_model


@dataclass
class LayerRow:
    name: str
    kind: str
    output_shape: str
    params: int
    flops: int


@dataclass
class ModelSummary:
    """The rows of the table and the totals; `str()` renders the table."""

    model_name: str
    input_shape: tuple[int, ...]
    output_shape: str
    rows: list[LayerRow] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_flops: int = 0
    param_bytes: int = 0

    def __str__(self) -> str:
        header = ("Layer (type)", "Output shape", "Params", "FLOPs")
        body = [
            (f"{r.name} ({r.kind})", r.output_shape, f"{r.params:,}", _human(r.flops))
            for r in self.rows
        ]
        widths = [max(len(line[i]) for line in [header, *body]) for i in range(4)]

        def fmt(line: tuple[str, ...]) -> str:
            return "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths))
            )

        rule = "-" * len(fmt(header))
        lines = [f"{self.model_name}  input {list(self.input_shape)}", rule, fmt(header), rule]
        lines += [fmt(line) for line in body]
        lines += [
            rule,
            f"Output shape:          {self.output_shape}",
            f"Total params:          {self.total_params:,}",
            f"Trainable params:      {self.trainable_params:,}",
            f"Non-trainable params:  {self.total_params - self.trainable_params:,}",
            f"Params size:           {self.param_bytes / 2**20:.2f} MiB",
            f"FLOPs (forward):       {_human(self.total_flops)}  "
            f"(= {_human(self.total_flops // 2)} multiply-adds)",
        ]
        return "\n".join(lines)


def _human(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f}{unit}"
    return str(n)


def _shape(out) -> str:
    if isinstance(out, torch.Tensor):
        return str(list(out.shape))
    if isinstance(out, list | tuple):
        return ", ".join(_shape(o) for o in out)
    return type(out).__name__


def summary(
    model: nn.Module, input_size: tuple[int, ...], depth: int = 2, device: str | None = None
) -> ModelSummary:
    """Run one forward pass on zeros of `input_size` ((N, C, H, W) or (C, H, W)) and tabulate.

    Rows are the modules at most `depth` levels below the model (deeper ones are folded into
    their parent's row). The model is run in eval mode under no_grad, then put back as it was.
    """
    if len(input_size) == 3:
        input_size = (1, *input_size)
    device = device or next((p.device for p in model.parameters()), torch.device("cpu"))
    shown = {name: m for name, m in model.named_modules() if name and name.count(".") < depth}
    shapes: dict[str, str] = {}
    hooks = [
        m.register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, _shape(out))
        )
        for name, m in shown.items()
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            out = model(torch.zeros(input_size, device=device))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)

    # FlopCounterMode names modules "<RootClass>.<qualified name>".
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    result = ModelSummary(model_name=root, input_shape=tuple(input_size), output_shape=_shape(out))
    for name, m in shown.items():
        if name not in shapes:  # defined but not called in forward (e.g. an unused head)
            continue
        flops = sum(per_module.get(f"{root}.{name}", {}).values())
        params = sum(p.numel() for p in m.parameters())
        result.rows.append(LayerRow(name, type(m).__name__, shapes[name], params, flops))
    params = list(model.parameters())
    result.total_params = sum(p.numel() for p in params)
    result.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    result.param_bytes = sum(p.numel() * p.element_size() for p in params)
    result.total_flops = counter.get_total_flops()
    return result


def input_channels(model: nn.Module) -> int | None:
    """The channels the model's first convolution expects (None: the model has none)."""
    conv = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    return None if conv is None else conv.in_channels


def takes_input(model: nn.Module, size: int, in_chans: int | None = None) -> bool:
    """Does a forward pass accept a (1, in_chans, size, size) image?

    The pass runs on the meta device (shapes only: no arithmetic, no random numbers, the
    weights untouched), so it is instant even for large models and sizes."""
    in_chans = in_chans or input_channels(model) or 3
    meta = {
        n: torch.empty_like(t, device="meta") for n, t in model.state_dict(keep_vars=True).items()
    }
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            functional_call(model, meta, (torch.empty(1, in_chans, size, size, device="meta"),))
        return True
    except (RuntimeError, NotImplementedError):  # "Output size is too small", "Kernel size ..."
        return False
    finally:
        model.train(was_training)


def min_input_size(model: nn.Module, in_chans: int | None = None, limit: int = 4096) -> int | None:
    """The smallest square input size (pixels) the model takes; None if none up to `limit`,
    or if the model has no convolution (its input is then not an image of any size).

    Valid convolutions and unpadded pooling shrink the map at every stage, so below some size a
    layer gets an empty map; above it every size works (checked for the whole zoo), which lets a
    binary search find the threshold with about a dozen shape-only passes."""
    if input_channels(model) is None:
        return None
    if takes_input(model, 1, in_chans):
        return 1
    hi = 2
    while not takes_input(model, hi, in_chans):
        if hi >= limit:
            return None
        hi = min(2 * hi, limit)
    lo = hi // 2  # fails; hi works
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if takes_input(model, mid, in_chans) else (mid, hi)
    return hi


def total_stride(model: nn.Module) -> int | None:
    """How many times smaller than the input the deepest feature map is (32 for a ResNet), from
    the `feature_info` of the model or its encoder; None for a model without one."""
    strides = [
        f["reduction"] for m in model.modules() for f in getattr(m, "feature_info", None) or []
    ]
    return max(strides, default=None)


def summary_main(arch: str, size: int, in_chans: int = 3, num_classes: int = 1000) -> str:
    """The text `dlf summary ARCH --size PX` prints: a registered model at size x size pixels."""
    if size < 1 or in_chans < 1:
        raise DlfError(f"summary: --size ({size}) and in_chans ({in_chans}) must be positive")
    model = create_model(arch, num_classes=num_classes, in_chans=in_chans)
    smallest = min_input_size(model, in_chans)
    if smallest is not None and size < smallest:
        raise DlfError(
            f"summary: {arch} cannot take {size}x{size} images (its layers shrink them to "
            f"nothing); the smallest size it takes is {smallest} px: pass --size {smallest} or more"
        )
    return str(summary(model, (1, in_chans, size, size)))


__all__ = [
    "LayerRow",
    "ModelSummary",
    "input_channels",
    "min_input_size",
    "summary",
    "summary_main",
    "takes_input",
    "total_stride",
]
