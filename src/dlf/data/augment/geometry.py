"""Geometric transforms, written once per field type (image, mask, boxes; box pairs
reuse boxes) and applied with one random choice per item to every such field of a batch."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dlf.core.errors import DlfError
from dlf.data.augment.common import _chosen, _device, _rand, _where, to_float
from dlf.data.batch import any_geometry, field_type, named, positional


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
