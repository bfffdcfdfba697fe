"""An independent reference for checkpoint tests: torchvision's ResNet, as names and functions.

`torchvision_state_dict` writes the state_dict torchvision's resnet/resnext would have (its key
names and shapes, derived from torchvision's published layout, not from dlf's modules) filled
with random values; `torchvision_forward` runs that state_dict with torch.nn.functional only.
A dlf model that loads it and gives the same outputs has torchvision's architecture.
"""

import torch
import torch.nn.functional as F

PLANES = (64, 128, 256, 512)


def _blocks(kind: str, layers, groups: int, width_per_group: int):
    """Yield (prefix, kind, in_chs, planes, width, out_chs, stride, has_downsample) per block."""
    inplanes = 64
    for i, (planes, n) in enumerate(zip(PLANES, layers)):
        for b in range(n):
            stride = 2 if b == 0 and i > 0 else 1
            if kind == "basic":
                width, out = planes, planes
            else:
                width, out = int(planes * width_per_group / 64) * groups, planes * 4
            down = b == 0 and (stride != 1 or inplanes != out)
            yield f"layer{i + 1}.{b}", inplanes, planes, width, out, stride, down
            inplanes = out


def torchvision_state_dict(
    kind: str, layers, groups: int = 1, width_per_group: int = 64, num_classes: int = 1000, seed=0
) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    sd: dict[str, torch.Tensor] = {}

    def conv(name, cout, cin, k):
        fan_in = cin * k * k
        sd[f"{name}.weight"] = torch.randn(cout, cin, k, k, generator=g) * (2 / fan_in) ** 0.5

    def bn(name, c):
        sd[f"{name}.weight"] = torch.rand(c, generator=g) + 0.5
        sd[f"{name}.bias"] = torch.randn(c, generator=g) * 0.1
        sd[f"{name}.running_mean"] = torch.randn(c, generator=g) * 0.1
        sd[f"{name}.running_var"] = torch.rand(c, generator=g) + 0.5
        sd[f"{name}.num_batches_tracked"] = torch.tensor(7)

    conv("conv1", 64, 3, 7)
    bn("bn1", 64)
    out = 64
    for p, cin, planes, width, out, _stride, down in _blocks(kind, layers, groups, width_per_group):
        if kind == "basic":
            conv(f"{p}.conv1", planes, cin, 3)
            bn(f"{p}.bn1", planes)
            conv(f"{p}.conv2", planes, planes, 3)
            bn(f"{p}.bn2", planes)
        else:
            conv(f"{p}.conv1", width, cin, 1)
            bn(f"{p}.bn1", width)
            conv(f"{p}.conv2", width, width // groups, 3)
            bn(f"{p}.bn2", width)
            conv(f"{p}.conv3", out, width, 1)
            bn(f"{p}.bn3", out)
        if down:
            conv(f"{p}.downsample.0", out, cin, 1)
            bn(f"{p}.downsample.1", out)
    sd["fc.weight"] = torch.randn(num_classes, out, generator=g) * out**-0.5
    sd["fc.bias"] = torch.randn(num_classes, generator=g) * 0.1
    return sd


def torchvision_forward(
    sd, x, kind: str, layers, groups: int = 1, width_per_group: int = 64
) -> torch.Tensor:
    """Eval-mode forward of torchvision's ResNet written with torch.nn.functional only."""

    def bn(x, name):
        return F.batch_norm(
            x,
            sd[f"{name}.running_mean"],
            sd[f"{name}.running_var"],
            sd[f"{name}.weight"],
            sd[f"{name}.bias"],
            training=False,
            eps=1e-5,
        )

    def conv(x, name, stride=1, padding=0, groups=1):
        return F.conv2d(x, sd[f"{name}.weight"], None, stride, padding, 1, groups)

    x = F.relu(bn(conv(x, "conv1", 2, 3), "bn1"))
    x = F.max_pool2d(x, 3, 2, 1)
    for p, _cin, _planes, _width, _out, stride, down in _blocks(
        kind, layers, groups, width_per_group
    ):
        if kind == "basic":
            y = F.relu(bn(conv(x, f"{p}.conv1", stride, 1), f"{p}.bn1"))
            y = bn(conv(y, f"{p}.conv2", 1, 1), f"{p}.bn2")
        else:
            y = F.relu(bn(conv(x, f"{p}.conv1"), f"{p}.bn1"))
            y = F.relu(bn(conv(y, f"{p}.conv2", stride, 1, groups), f"{p}.bn2"))
            y = bn(conv(y, f"{p}.conv3"), f"{p}.bn3")
        shortcut = bn(conv(x, f"{p}.downsample.0", stride), f"{p}.downsample.1") if down else x
        x = F.relu(y + shortcut)
    x = x.mean((2, 3))
    return F.linear(x, sd["fc.weight"], sd["fc.bias"])
