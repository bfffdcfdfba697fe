"""Batch transforms that run on the device, one call per batch.

A transform takes a batch and returns one. A batch is named (dlf.data.batch): a dict whose
keys say what each tensor is: "image" (uint8 or float N x C x H x W), "mask" (N x H x W label
map), "boxes" (N x M x 4 pixel x1 y1 x2 y2, padded) with "box_labels" (N x M, -1 = padding),
"pairs" (N x M x 8: two boxes, e.g. subject and object) with "pair_labels", "label" (class
index), "multilabel" / "regression" (float rows); any other field is passed through. A
positional tuple works too: `kinds` then names its positions (the data block fills it in
from its blocks; kinds=None means "position 0 is the image").

Geometric transforms draw one random choice per item and apply it identically to images,
masks (nearest neighbour) and boxes (corners transformed, clipped, degenerate boxes
dropped, i.e. their label set to -1). Random transforms have `train_only = True`.
"""

import math
from dataclasses import dataclass, field, fields, replace

import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.data.batch import Batch, any_geometry, field_type, named, positional

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def configure(tfm, kinds: tuple[str, ...], n_classes: int | None = None):
    """A copy of `tfm` with `kinds` (and `n_classes`) filled in where it left them None."""
    names = {f.name for f in fields(tfm)} if hasattr(tfm, "__dataclass_fields__") else set()
    changes = {}
    if "kinds" in names and tfm.kinds is None:
        changes["kinds"] = tuple(kinds)
    if "n_classes" in names and tfm.n_classes is None and n_classes is not None:
        changes["n_classes"] = n_classes
    return replace(tfm, **changes) if changes else tfm


def map_images(tfm, batch, fn):
    """Apply `fn` to the batch's images; pass the other fields through."""
    b, names = named(batch, tfm.kinds)
    return positional({k: fn(x) if field_type(k) == "image" else x for k, x in b.items()}, names)


def _device(b: Batch) -> torch.device:
    return next(iter(b.values())).device


def to_float(x: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 0..255 -> float 0..1; float images are returned as they are (cast to dtype)."""
    # contiguous NCHW first: the loader's NHWC-backed batches make index_select and
    # elementwise ops many times slower, and the uint8 copy is the cheapest place to fix it
    x = x.contiguous()
    return x.to(dtype).div_(255) if x.dtype == torch.uint8 else x.to(dtype)


def _rand(n: int, lo: float, hi: float, device) -> torch.Tensor:
    return torch.empty(n, device=device).uniform_(lo, hi)


def _chosen(n: int, p: float, device) -> torch.Tensor:
    return torch.rand(n, device=device) < p


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


def _where(sel: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(sel.view(-1, *([1] * (a.dim() - 1))), a, b)


def _flip_boxes(boxes: torch.Tensor, size: float, axis: int) -> torch.Tensor:
    """Mirror the x (axis 0) or y (axis 1) coordinates of x1 y1 x2 y2 boxes."""
    b = boxes.clone()
    b[..., axis], b[..., axis + 2] = size - boxes[..., axis + 2], size - boxes[..., axis]
    return b


def _as_boxes(x: torch.Tensor, kind: str) -> torch.Tensor:
    """Boxes as (..., 4): box pairs (N x M x 8) are two boxes each, moved alike."""
    return x.view(*x.shape[:-1], 2, 4) if kind == "pairs" else x


@dataclass
class Flip:
    """Mirror each item left-right (or top-bottom with vertical=True) with probability p."""

    p: float = 0.5
    vertical: bool = False
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        n, h, w = any_geometry(b)
        sel = _chosen(n, self.p, _device(b))
        dim, size, axis = (-2, h, 1) if self.vertical else (-1, w, 0)
        out = {}
        for k, x in b.items():
            kind = field_type(k)
            if kind in ("image", "mask"):
                x = _where(sel, x.flip(dim), x)
            elif kind in ("boxes", "pairs"):
                x = _where(sel, _flip_boxes(_as_boxes(x, kind), size, axis).reshape(x.shape), x)
            out[k] = x
        return positional(out, names)


@dataclass
class Dihedral:
    """One of the 8 symmetries of the square per item (transpose, then flips); exact, no resampling."""

    p: float = 1.0
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        n, h, w = any_geometry(b)
        if h != w:
            raise DlfError(f"Dihedral needs square images, got {h}x{w}; use Flip instead")
        dev = _device(b)
        k = torch.randint(0, 8, (n,), device=dev) * _chosen(n, self.p, dev)
        steps = [((k & 4) > 0, "t"), ((k & 1) > 0, "h"), ((k & 2) > 0, "v")]
        moves = {
            "t": lambda x: x.transpose(-1, -2),
            "h": lambda x: x.flip(-1),
            "v": lambda x: x.flip(-2),
        }
        out = {}
        for name, x in b.items():
            kind = field_type(name)
            if kind in ("image", "mask"):
                x = x.contiguous()  # strided (NHWC-backed) input makes every where() slow
            for sel, op in steps:
                if kind in ("image", "mask"):
                    x = _where(sel, moves[op](x), x)  # only the move this step needs
                elif kind in ("boxes", "pairs"):
                    bx = _as_boxes(x, kind)
                    moved = (
                        bx[..., [1, 0, 3, 2]]
                        if op == "t"
                        else _flip_boxes(bx, w, 0 if op == "h" else 1)
                    )
                    x = _where(sel, moved.reshape(x.shape), x)
            out[name] = x
        return positional(out, names)


def affine_theta(A: torch.Tensor, t: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """The `F.affine_grid` matrix for a forward map p_out = A p_in + t in pixel units.

    Pixel coordinates are measured from the image centre (x right, y down). affine_grid
    maps output -> input in normalised coordinates, where (align_corners=False) a pixel
    coordinate u becomes u / (size / 2): theta = D^-1 A^-1 D and offset -D^-1 A^-1 t.
    """
    D = torch.tensor([w / 2, h / 2], device=A.device, dtype=A.dtype)
    Ainv = torch.linalg.inv(A)
    lin = Ainv * D.view(1, 1, 2) / D.view(1, 2, 1)  # D^-1 Ainv D, elementwise
    off = -(Ainv @ t.unsqueeze(-1)).squeeze(-1) / D
    return torch.cat([lin, off.unsqueeze(-1)], dim=-1)


def affine_grid(theta: torch.Tensor, n: int, h: int, w: int) -> torch.Tensor:
    """`F.affine_grid(theta, (n, C, h, w), align_corners=False)`, computed in two passes.

    torch's version materialises an n x h x w x 3 base grid and multiplies it by theta with
    a bmm whose inner size is 3: on CPU that costs more than the resampling that follows.
    Here each output coordinate is theta's row applied to (x, y, 1) by broadcasting.
    """
    kw = {"device": theta.device, "dtype": theta.dtype}
    xs = ((torch.arange(w, **kw) * 2 + 1) / w - 1).view(1, 1, w)  # pixel centres, -1..1
    ys = ((torch.arange(h, **kw) * 2 + 1) / h - 1).view(1, h, 1)
    grid = torch.empty(n, h, w, 2, **kw)
    for k in range(2):
        row = theta[:, k].reshape(n, 3, 1, 1)
        torch.add(row[:, 0] * xs, row[:, 1] * ys + row[:, 2], out=grid[..., k])
    return grid


def transform_boxes(
    boxes: torch.Tensor,
    labels: torch.Tensor | None,
    A: torch.Tensor,
    t: torch.Tensor,
    h: int,
    w: int,
    min_size: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Map the 4 corners of each box, take their bounding box, clip; drop boxes under min_size."""
    x1, y1, x2, y2 = boxes.unbind(-1)
    corners = torch.stack(
        [torch.stack(c, -1) for c in ((x1, y1), (x2, y1), (x1, y2), (x2, y2))], -2
    )
    centre = torch.tensor([w / 2, h / 2], device=boxes.device, dtype=boxes.dtype)
    p = corners - centre  # N x M x 4 x 2
    q = (
        torch.einsum("nij,nmkj->nmki", A.to(boxes.dtype), p)
        + t.to(boxes.dtype).view(-1, 1, 1, 2)
        + centre
    )
    lo, hi = q.amin(-2), q.amax(-2)
    limit = torch.tensor([w, h], device=boxes.device, dtype=boxes.dtype)
    lo, hi = torch.minimum(lo.clamp(min=0), limit), torch.minimum(hi.clamp(min=0), limit)
    out = torch.cat([lo, hi], -1)
    if labels is not None:
        keep = ((hi - lo) >= min_size).all(-1) & (labels >= 0)
        labels = torch.where(keep, labels, torch.full_like(labels, -1))
        out = out * keep.unsqueeze(-1)
    return out, labels


@dataclass
class Affine:
    """Rotate, zoom, translate, shear (and optionally flip) each item with ONE grid_sample.

    rotate: max degrees (uniform in +-rotate). zoom: (min, max) scale, >1 magnifies.
    translate: max shift as a fraction of the size. shear: max shear angle in degrees.
    flip: probability of a left-right flip folded into the same matrix. p: probability an
    item is transformed at all (the others are left exactly as they are).
    pad: "reflection", "zeros" or "border" for images (masks pad with 0, i.e. background).
    dtype: sampling dtype for images; "auto" is float32 (measured no slower than bf16 on
    CPU, and exact; bf16 grid coordinates are about 1/256 coarse).
    """

    rotate: float = 10.0
    zoom: tuple[float, float] = (1.0, 1.1)
    translate: float = 0.0
    shear: float = 0.0
    flip: float = 0.0
    p: float = 0.75
    pad: str = "reflection"
    dtype: str | torch.dtype = "auto"
    min_box_size: float = 1.0
    kinds: tuple[str, ...] | None = None
    train_only = True

    def random_matrices(self, n: int, h: int, w: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """Per item: the linear part A (n x 2 x 2) and shift t (n x 2) in centred pixel units."""
        ang = torch.deg2rad(_rand(n, -self.rotate, self.rotate, device))
        sh = torch.tan(torch.deg2rad(_rand(n, -self.shear, self.shear, device)))
        z = _rand(n, self.zoom[0], self.zoom[1], device)
        fl = torch.where(_chosen(n, self.flip, device), -1.0, 1.0)
        cos, sin, one, zero = (
            ang.cos(),
            ang.sin(),
            torch.ones(n, device=device),
            torch.zeros(n, device=device),
        )
        R = torch.stack([cos, -sin, sin, cos], -1).view(n, 2, 2)
        S = torch.stack([one, sh, zero, one], -1).view(n, 2, 2)
        Z = torch.stack([z * fl, zero, zero, z], -1).view(n, 2, 2)
        t = torch.stack(
            [
                _rand(n, -self.translate, self.translate, device) * w,
                _rand(n, -self.translate, self.translate, device) * h,
            ],
            -1,
        )
        return R @ S @ Z, t

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        n, h, w = any_geometry(b)
        dev = _device(b)
        sel = _chosen(n, self.p, dev).nonzero().squeeze(1)
        A, t = self.random_matrices(len(sel), h, w, dev)
        out = apply_affine(b, None, sel, A, t, pad=self.pad, dtype=self._dtype(),
                           min_box_size=self.min_box_size)  # fmt: skip
        return positional(out, names)

    def _dtype(self) -> torch.dtype:
        # "auto" is float32 everywhere: on AVX512-BF16 CPUs with torch 2.13, bf16 grid_sample
        # measured no faster with zeros padding and 25-40% slower with reflection (32 images
        # at 128 and 256 px, 1 and 2 threads), and float32 is exact.
        return torch.float32 if self.dtype == "auto" else self.dtype


def _affine_images(
    x: torch.Tensor, sel: torch.Tensor, theta: torch.Tensor, pad: str, dtype: torch.dtype
) -> torch.Tensor:
    """Resample the items `sel` of an image batch; float32 0..1 out.

    uint8 input is sampled as 0..255 straight in `dtype` and scaled afterwards (sampling is
    linear, and bf16 holds 0..255 as exactly as 0..1): the selected items are gathered as
    uint8 (a quarter of the bytes) and the float batch from to_float is ours to write into.
    """
    n = x.shape[0]
    owned = x.dtype == torch.uint8  # to_float makes a new tensor only for uint8 input
    # contiguous NCHW: bf16 grid_sample on channels_last input crashes in torch 2.13 CPU
    x = x.contiguous()
    scale = 255.0 if x.dtype == torch.uint8 else 1.0
    if not len(sel):
        return to_float(x)
    every = len(sel) == n  # all items chosen (p=1): no gather and scatter at all
    sub = (x if every else x[sel]).to(dtype)  # x[sel]: index_select is far slower on CPU
    grid = affine_grid(theta.to(dtype), sub.shape[0], sub.shape[2], sub.shape[3])
    moved = F.grid_sample(sub, grid, mode="bilinear", padding_mode=pad, align_corners=False)
    moved = moved.float()
    if scale != 1.0:
        moved = moved.div_(scale)
    if every:
        return moved
    out = to_float(x)
    if not owned:
        out = out.clone()
    out[sel] = moved
    return out


def apply_affine(
    batch,
    kinds: tuple[str, ...] | None,
    sel: torch.Tensor,
    A: torch.Tensor,
    t: torch.Tensor,
    pad: str = "reflection",
    dtype: torch.dtype = torch.float32,
    min_box_size: float = 1.0,
):
    """Apply forward maps (A[i], t[i]) to the items `sel` of every image, mask, boxes and
    box-pairs field (a named batch, or a tuple whose positions `kinds` names).

    Images come back float32 in 0..1 (uint8 input is converted); masks keep their dtype.
    Boxes that shrink under `min_box_size` get label -1 in their labels field ("boxes" ->
    "box_labels", "pairs" -> "pair_labels": a pair is dropped when either box is).
    """
    b, names = named(batch, kinds)
    _, h, w = any_geometry(b)
    theta = affine_theta(A.float(), t.float(), h, w)
    out = dict(b)
    for name in b:
        x, kind = out[name], field_type(name)
        if kind == "image":
            x = _affine_images(x, sel, theta, pad, dtype)
        elif kind == "mask" and len(sel):
            sub = x.index_select(0, sel).unsqueeze(1).float()
            grid = affine_grid(theta, sub.shape[0], sub.shape[2], sub.shape[3])
            moved = F.grid_sample(
                sub, grid, mode="nearest", padding_mode="zeros", align_corners=False
            )
            x = x.index_copy(0, sel, moved.squeeze(1).round().to(x.dtype))
        elif kind in ("boxes", "pairs") and len(sel):
            label_name = ("box_labels" if kind == "boxes" else "pair_labels") + name[len(kind) :]
            labels = out.get(label_name)
            boxes = x.index_select(0, sel)
            per = 2 if kind == "pairs" else 1  # boxes per record
            flat = boxes.reshape(boxes.shape[0], -1, 4)
            lab = None if labels is None else labels.index_select(0, sel).repeat_interleave(per, 1)
            moved, lab = transform_boxes(flat, lab, A, t, h, w, min_box_size)
            x = x.index_copy(0, sel, moved.reshape(boxes.shape))
            if labels is not None:
                lab = lab.view(lab.shape[0], -1, per).amin(-1)  # -1 if any box of it is gone
                out[label_name] = labels.index_copy(0, sel, lab)
        out[name] = x
    return positional(out, names)


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


def _mix_targets(b: Batch, perm: torch.Tensor, lam: torch.Tensor, n_classes: int | None,
                 paste=None) -> Batch:  # fmt: skip
    out = dict(b)
    for k, y in b.items():
        kind = field_type(k)
        if kind == "label":
            if n_classes is None:
                raise DlfError(
                    "MixUp/CutMix of class labels needs n_classes (the data block sets it from the vocab)"
                )
            y = F.one_hot(y.long(), n_classes).float()
            out[k] = lam * y + (1 - lam) * y[perm]
        elif kind in ("multilabel", "regression"):
            y = y.float()
            out[k] = lam * y + (1 - lam) * y[perm]
        elif kind == "mask":
            if paste is None:
                raise DlfError("MixUp cannot mix segmentation masks; use CutMix")
            out[k] = torch.where(paste, y[perm], y)
        elif kind in ("boxes", "box_labels", "pairs", "pair_labels"):
            raise DlfError("MixUp/CutMix do not support boxes")
    return out


@dataclass
class MixUp:
    """Blend each image with another of the batch (weight lam ~ Beta(alpha, alpha) per batch);
    targets blend the same way (class labels become soft one-hot rows)."""

    alpha: float = 0.4
    n_classes: int | None = None
    kinds: tuple[str, ...] | None = field(default=None)
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        dev = _device(b)
        n = next(iter(b.values())).shape[0]
        lam = torch.distributions.Beta(self.alpha, self.alpha).sample().to(dev)
        perm = torch.randperm(n, device=dev)
        out = _mix_targets(b, perm, lam, self.n_classes)
        for k, x in b.items():
            if field_type(k) == "image":
                x = to_float(x)
                out[k] = lam * x + (1 - lam) * x[perm]
        return positional(out, names)


@dataclass
class CutMix:
    """Paste a rectangle from another image of the batch; targets mix by the pasted area."""

    alpha: float = 1.0
    n_classes: int | None = None
    kinds: tuple[str, ...] | None = None
    train_only = True

    def __call__(self, batch):
        b, names = named(batch, self.kinds)
        dev = _device(b)
        n, h, w = any_geometry(b)
        lam = float(torch.distributions.Beta(self.alpha, self.alpha).sample())
        rh, rw = round(h * math.sqrt(1 - lam)), round(w * math.sqrt(1 - lam))
        y0, x0 = int(torch.randint(0, h - rh + 1, ())), int(torch.randint(0, w - rw + 1, ()))
        paste = torch.zeros(h, w, dtype=torch.bool, device=dev)
        paste[y0 : y0 + rh, x0 : x0 + rw] = True
        lam_t = torch.tensor(1 - rh * rw / (h * w), device=dev)  # the area actually kept
        perm = torch.randperm(n, device=dev)
        out = _mix_targets(b, perm, lam_t, self.n_classes, paste=paste)
        for k, x in b.items():
            if field_type(k) == "image":
                x = to_float(x)
                out[k] = torch.where(paste, x[perm], x)
        return positional(out, names)


def aug_transforms(
    flip: bool = True,
    rotate: float = 10.0,
    zoom: float = 1.1,
    translate: float = 0.0,
    brightness: float = 0.2,
    contrast: float = 0.2,
    p_affine: float = 0.75,
) -> list:
    """A sensible default set: one fused flip+affine grid_sample, then lighting."""
    tfms: list = []
    if rotate or zoom > 1 or translate:
        tfms.append(
            Affine(
                rotate=rotate,
                zoom=(1.0, zoom),
                translate=translate,
                flip=0.5 if flip else 0.0,
                p=p_affine,
            )
        )
    elif flip:
        tfms.append(Flip())
    if brightness or contrast:
        tfms.append(Lighting(brightness=brightness, contrast=contrast))
    return tfms
