"""An independent reference for DenseNet and EfficientNet checkpoints: the published layouts as
names and shapes, and forwards written with torch.nn.functional only.

`*_entries(layout)` lists (key, shape) in the order the published model defines its tensors,
spelled out from torchvision's and timm's module layouts (not from dlf's modules):

- DenseNet: "torchvision" (today's module names, which timm's DenseNet shares) and
  "torchvision_file" (torchvision's released .pth files, made in 2017: `norm.1` for `norm1`
  and no `num_batches_tracked`, which that PyTorch did not have);
- EfficientNet-B0: "torchvision" (`features.i.j.block.k`, `classifier.1`) and "timm"
  (`conv_stem`, `blocks.i.j.conv_pw`, ..., `classifier`).

`random_state(entries)` fills them with random values drawn in that order, so two layouts of
the same network get the same numbers under their own names. The forwards run the torchvision
names in eval mode; a dlf model that loads a layout and gives the same logits has the
architecture, whatever names the checkpoint used.
"""

import torch
import torch.nn.functional as F

Entries = list[tuple[str, tuple[int, ...]]]


def _bn(entries: Entries, name: str, c: int, tracked: bool = True) -> None:
    for t in ("weight", "bias", "running_mean", "running_var"):
        entries.append((f"{name}.{t}", (c,)))
    if tracked:
        entries.append((f"{name}.num_batches_tracked", ()))


def random_state(entries: Entries, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in entries:
        kind = key.rsplit(".", 1)[1]
        if kind == "num_batches_tracked":
            sd[key] = torch.tensor(7)  # drawn from no generator: layouts without it stay aligned
        elif kind == "running_var" or (kind == "weight" and len(shape) == 1):
            sd[key] = torch.rand(shape, generator=g) + 0.5
        elif kind in ("running_mean", "bias"):
            sd[key] = torch.randn(shape, generator=g) * 0.1
        else:  # conv or linear weight, He-scaled so activations keep their size through depth
            fan_in = max(1, torch.Size(shape[1:]).numel())
            sd[key] = torch.randn(shape, generator=g) * (2 / fan_in) ** 0.5
    return sd


def _bn_f(sd, x, name, eps=1e-5):
    return F.batch_norm(
        x,
        sd[f"{name}.running_mean"],
        sd[f"{name}.running_var"],
        sd[f"{name}.weight"],
        sd[f"{name}.bias"],
        training=False,
        eps=eps,
    )


# ---- DenseNet (torchvision's densenet.py layout) ----


def densenet_entries(
    layout: str, growth: int, blocks, init: int, bn_size: int = 4, num_classes: int = 1000
) -> Entries:
    legacy = layout == "torchvision_file"
    e: Entries = [("features.conv0.weight", (init, 3, 7, 7))]
    _bn(e, "features.norm0", init, tracked=not legacy)
    chs = init
    for b, n in enumerate(blocks, start=1):
        for i in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{i}"
            cin, mid = chs + (i - 1) * growth, bn_size * growth
            norm1, conv1, norm2, conv2 = (
                ("norm.1", "conv.1", "norm.2", "conv.2")
                if legacy
                else ("norm1", "conv1", "norm2", "conv2")
            )
            _bn(e, f"{p}.{norm1}", cin, tracked=not legacy)
            e.append((f"{p}.{conv1}.weight", (mid, cin, 1, 1)))
            _bn(e, f"{p}.{norm2}", mid, tracked=not legacy)
            e.append((f"{p}.{conv2}.weight", (growth, mid, 3, 3)))
        chs += n * growth
        if b < len(blocks):
            _bn(e, f"features.transition{b}.norm", chs, tracked=not legacy)
            e.append((f"features.transition{b}.conv.weight", (chs // 2, chs, 1, 1)))
            chs //= 2
    _bn(e, "features.norm5", chs, tracked=not legacy)
    e += [("classifier.weight", (num_classes, chs)), ("classifier.bias", (num_classes,))]
    return e


def densenet_forward(sd, x, blocks) -> torch.Tensor:
    def conv(x, name, stride=1, padding=0):
        return F.conv2d(x, sd[f"{name}.weight"], None, stride, padding)

    x = F.relu(_bn_f(sd, conv(x, "features.conv0", 2, 3), "features.norm0"))
    x = F.max_pool2d(x, 3, 2, 1)
    for b, n in enumerate(blocks, start=1):
        feats = [x]
        for i in range(1, n + 1):
            p = f"features.denseblock{b}.denselayer{i}"
            h = conv(F.relu(_bn_f(sd, torch.cat(feats, 1), f"{p}.norm1")), f"{p}.conv1")
            feats.append(conv(F.relu(_bn_f(sd, h, f"{p}.norm2")), f"{p}.conv2", 1, 1))
        x = torch.cat(feats, 1)
        if b < len(blocks):
            p = f"features.transition{b}"
            x = F.avg_pool2d(conv(F.relu(_bn_f(sd, x, f"{p}.norm")), f"{p}.conv"), 2)
    x = F.relu(_bn_f(sd, x, "features.norm5")).mean((2, 3))
    return F.linear(x, sd["classifier.weight"], sd["classifier.bias"])


# ---- EfficientNet-B0 (torchvision's efficientnet.py / timm's efficientnet.py layouts) ----

# The paper's Table 1, as torchvision writes it: expand, kernel, stride, in, out, repeats.
B0_TABLE = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)


def _b0_blocks():
    """(stage, index, expand, kernel, stride, in, out) for each of B0's 16 blocks."""
    for s, (e, k, st, cin, cout, n) in enumerate(B0_TABLE):
        for j in range(n):
            yield s, j, e, k, st if j == 0 else 1, cin if j == 0 else cout, cout


def efficientnet_b0_entries(layout: str, num_classes: int = 1000) -> Entries:
    tv = layout == "torchvision"
    e: Entries = []

    def conv(name, cout, cin, k):
        e.append((f"{name}.weight", (cout, cin, k, k)))

    conv("features.0.0" if tv else "conv_stem", 32, 3, 3)
    _bn(e, "features.0.1" if tv else "bn1", 32)
    for s, j, x, k, _st, cin, cout in _b0_blocks():
        mid, sq = cin * x, max(1, cin // 4)
        if tv:
            p = f"features.{s + 1}.{j}.block"
            d = 0 if x == 1 else 1  # index of the depthwise conv in the block's Sequential
            names = dict(pw=f"{p}.0.0", bn_pw=f"{p}.0.1", dw=f"{p}.{d}.0", bn_dw=f"{p}.{d}.1",
                         se1=f"{p}.{d + 1}.fc1", se2=f"{p}.{d + 1}.fc2",
                         proj=f"{p}.{d + 2}.0", bn_proj=f"{p}.{d + 2}.1")  # fmt: skip
        else:
            p = f"blocks.{s}.{j}"
            if x == 1:  # timm's DepthwiseSeparableConv
                names = dict(dw=f"{p}.conv_dw", bn_dw=f"{p}.bn1", proj=f"{p}.conv_pw",
                             bn_proj=f"{p}.bn2")  # fmt: skip
            else:  # timm's InvertedResidual
                names = dict(pw=f"{p}.conv_pw", bn_pw=f"{p}.bn1", dw=f"{p}.conv_dw",
                             bn_dw=f"{p}.bn2", proj=f"{p}.conv_pwl", bn_proj=f"{p}.bn3")  # fmt: skip
            names.update(se1=f"{p}.se.conv_reduce", se2=f"{p}.se.conv_expand")
        if x != 1:
            conv(names["pw"], mid, cin, 1)
            _bn(e, names["bn_pw"], mid)
        e.append((f"{names['dw']}.weight", (mid, 1, k, k)))  # depthwise: one filter a channel
        _bn(e, names["bn_dw"], mid)
        e += [(f"{names['se1']}.weight", (sq, mid, 1, 1)), (f"{names['se1']}.bias", (sq,))]
        e += [(f"{names['se2']}.weight", (mid, sq, 1, 1)), (f"{names['se2']}.bias", (mid,))]
        conv(names["proj"], cout, mid, 1)
        _bn(e, names["bn_proj"], cout)
    conv("features.8.0" if tv else "conv_head", 1280, 320, 1)
    _bn(e, "features.8.1" if tv else "bn2", 1280)
    fc = "classifier.1" if tv else "classifier"
    e += [(f"{fc}.weight", (num_classes, 1280)), (f"{fc}.bias", (num_classes,))]
    return e


def efficientnet_b0_forward(sd, x) -> torch.Tensor:
    """torchvision's EfficientNet-B0 in eval mode (stochastic depth and dropout are off)."""

    def cbn(x, conv, bn, stride=1, padding=0, groups=1, act=True):
        x = F.conv2d(x, sd[f"{conv}.weight"], None, stride, padding, 1, groups)
        x = _bn_f(sd, x, bn)
        return F.silu(x) if act else x

    x = cbn(x, "features.0.0", "features.0.1", 2, 1)
    for s, j, e, k, st, cin, cout in _b0_blocks():
        p = f"features.{s + 1}.{j}.block"
        h, d = x, 0
        if e != 1:
            h, d = cbn(h, f"{p}.0.0", f"{p}.0.1"), 1
        h = cbn(h, f"{p}.{d}.0", f"{p}.{d}.1", st, k // 2, groups=cin * e)
        g = F.conv2d(h.mean((2, 3), keepdim=True), sd[f"{p}.{d + 1}.fc1.weight"], sd[f"{p}.{d + 1}.fc1.bias"])  # fmt: skip
        g = F.conv2d(F.silu(g), sd[f"{p}.{d + 1}.fc2.weight"], sd[f"{p}.{d + 1}.fc2.bias"])
        h = cbn(h * torch.sigmoid(g), f"{p}.{d + 2}.0", f"{p}.{d + 2}.1", act=False)
        x = h + x if st == 1 and cin == cout else h
    x = cbn(x, "features.8.0", "features.8.1").mean((2, 3))
    return F.linear(x, sd["classifier.1.weight"], sd["classifier.1.bias"])
