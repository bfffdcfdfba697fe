"""Transforms of pixel values only: float conversion, normalisation, lighting, cutout."""

from dataclasses import dataclass

import torch

from dlf.core.errors import DlfError
from dlf.data.augment.common import _chosen, _rand, map_images, to_float
from dlf.data.batch import field_type, named, positional

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


@dataclass
class ToFloat:
    """uint8 images -> float32 in 0..1; uint8 masks -> int64 (what cross entropy wants)."""

    kinds: tuple[str, ...] | None = None

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        out = {}
        for k, x in b.items():
            if field_type(k) == "image":
                x = to_float(x)
            elif field_type(k) == "mask" and x.dtype == torch.uint8:
                x = x.long()
            out[k] = x
        return positional(out, names)


@dataclass
class Normalize:
    """(image - mean) / std per channel, on 0..1 floats (uint8 input is converted first).

    Three-channel statistics (ImageNet's by default) normalise a one-channel image with their
    averages: a gray image is R = G = B, and the summed RGB stem a 1-channel model gets from
    pretrained weights (dlf.models.weights) then sees about what the RGB model saw.
    """

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    kinds: tuple[str, ...] | None = None

    def __call__(self, batch):
        return map_images(self, batch, self._normalize)

    def _normalize(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        scale, shift = self._scale_shift(x)
        # (x - mean) / std as x * (1/std) + (-mean/std): one new tensor, not two
        return x.mul(scale).add_(shift)

    def stats(self, c: int) -> tuple[list[float], list[float]]:
        """The mean and std, one per channel, used for images of `c` channels."""
        mean, std = list(self.mean), list(self.std)
        if c == 1 and len(mean) == len(std) == 3:
            mean, std = [sum(mean) / 3], [sum(std) / 3]
        if len(mean) not in (1, c) or len(std) not in (1, c):
            raise DlfError(
                f"Normalize has {len(self.mean)} means for images of {c} channels; "
                f"pass Normalize(mean=..., std=...) with {c} values each"
            )
        return mean * (c // len(mean)), std * (c // len(std))

    def _scale_shift(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c = x.shape[1]
        mean, std = (torch.tensor(v, dtype=torch.float64) for v in self.stats(c))
        view = lambda t: t.to(device=x.device, dtype=x.dtype).view(1, c, 1, 1)  # noqa: E731
        return view(1 / std), view(-mean / std)

    def decode(self, x: torch.Tensor) -> torch.Tensor:
        """Back to 0..1 for display."""
        c = x.shape[1]
        mean, std = (torch.tensor(v, device=x.device).view(1, c, 1, 1) for v in self.stats(c))
        return x * std + mean


@dataclass
class Lighting:
    """Per item brightness, contrast and saturation factors in [1 - s, 1 + s] (0: unchanged).

    brightness scales the pixels, contrast scales the distance to the image's mean gray,
    saturation scales the distance to each pixel's gray (3-channel images only).
    Works on 0..1 floats (uint8 input converted) and clamps to 0..1.
    """

    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.0
    p: float = 0.75
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        return map_images(self, batch, self._adjust)

    def _adjust(self, x: torch.Tensor) -> torch.Tensor:
        b, c, s = self._factors(x.shape[0], x.device)
        return adjust_lighting(to_float(x), b, c, s if self.saturation else None)

    def _factors(self, n: int, device) -> tuple[torch.Tensor, ...]:
        sel = _chosen(n, self.p, device)
        one = torch.ones(n, device=device)
        return tuple(
            torch.where(sel, _rand(n, 1 - s, 1 + s, device), one)
            for s in (self.brightness, self.contrast, self.saturation)
        )


def _gray(x: torch.Tensor) -> torch.Tensor:
    if x.shape[1] != 3:
        return x.mean(1, keepdim=True)
    w = torch.tensor([0.299, 0.587, 0.114], device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


def adjust_lighting(
    x: torch.Tensor,
    brightness: torch.Tensor,
    contrast: torch.Tensor,
    saturation: torch.Tensor | None,
) -> torch.Tensor:
    """Apply per-item factors (each of shape N) to 0..1 float images; saturation None: skip it.

    Written for few passes over the pixels (each pass over a batch costs about a millisecond
    per core): the brightness product is the one new tensor, the rest works in place on it.
    """
    v = lambda f: f.to(x.dtype).view(-1, 1, 1, 1)  # noqa: E731
    x = (x * v(brightness)).clamp_(0, 1)
    # the image's mean gray is the gray of its channel means (gray is linear in the channels)
    mean = _gray(x.mean((2, 3), keepdim=True))
    c = v(contrast)
    x = x.mul_(c).add_(mean * (1 - c)).clamp_(0, 1)  # (x - mean) * c + mean
    if saturation is not None and x.shape[1] == 3:
        s = v(saturation)
        x = x.mul_(s).add_(_gray(x) * (1 - s)).clamp_(0, 1)  # (x - gray) * s + gray
    return x


@dataclass
class Cutout:
    """Erase one rectangle per chosen item (side a random fraction in `size` of the image)."""

    size: tuple[float, float] = (0.1, 0.3)
    p: float = 0.5
    fill: float = 0.0
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        return map_images(self, batch, self._erase)

    def _erase(self, x: torch.Tensor) -> torch.Tensor:
        x = to_float(x)
        n, _, h, w = x.shape
        rect = cutout_mask(n, h, w, self.size, x.device)  # drawn first, as before: same RNG order
        inside = rect & _chosen(n, self.p, x.device).view(n, 1, 1)
        return x.masked_fill(inside.unsqueeze(1), self.fill)


def cutout_mask(n: int, h: int, w: int, size: tuple[float, float], device) -> torch.Tensor:
    """N x H x W booleans, True inside one random rectangle per item."""
    rh = (_rand(n, *size, device) * h).round()
    rw = (_rand(n, *size, device) * w).round()
    y0 = (torch.rand(n, device=device) * (h - rh + 1)).floor()
    x0 = (torch.rand(n, device=device) * (w - rw + 1)).floor()
    ys = torch.arange(h, device=device).view(1, h, 1)
    xs = torch.arange(w, device=device).view(1, 1, w)
    v = lambda a: a.view(n, 1, 1)  # noqa: E731
    return (ys >= v(y0)) & (ys < v(y0 + rh)) & (xs >= v(x0)) & (xs < v(x0 + rw))
