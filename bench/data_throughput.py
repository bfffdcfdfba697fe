"""Images per second: decoded-image cache + device augmentation vs per-item Pillow pipelines.

All sides see the same generated PNGs and the same augmentation, one random draw per image:
a left-right flip (p 0.5), rotation (+-10 degrees) and zoom (1-1.1) as one bilinear affine
resample, then brightness and contrast (+-0.2); output float 0..1, C x H x W.

- ours: ImageCache (built once; its cost is reported separately) + ArrayLoader slices +
  the batched dlf transforms (one grid_sample per batch), in the main process.
- Pillow: a torch DataLoader (2 workers) decoding each PNG with Pillow and augmenting it
  with Pillow (`Image.transform` affine, `ImageEnhance` brightness and contrast), the way
  a torchvision-style pipeline does; the baseline the issue's target refers to.
- Pillow decode + dlf per item: the same workers, decoding with Pillow and applying the
  dlf transforms to a batch of one (what batching saves on the augmentation alone).

Epochs alternate between the pipelines; figures are medians over epochs.

    python bench/data_throughput.py                      # 3000 images of 256 px
    python bench/data_throughput.py --n 64 --size 64 --bs 16 --epochs 1   # smoke run
"""

import argparse
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import DataLoader, Dataset

from dlf.data import Affine, ArrayLoader, ImageCache, Lighting, image_column, read_image
from dlf.data.augment import to_float

ROTATE, ZOOM, FLIP, LIGHT = 10.0, (1.0, 1.1), 0.5, 0.2


def make_pngs(folder: Path, n: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
    paths = []
    for i in range(n):
        p = folder / f"{i:05d}.png"
        Image.fromarray(np.roll(base, i, axis=1)).save(p, compress_level=1)
        paths.append(p)
    return paths


def augment(dtype):
    affine = Affine(rotate=ROTATE, zoom=ZOOM, flip=FLIP, p=1.0, dtype=dtype)
    light = Lighting(brightness=LIGHT, contrast=LIGHT, p=1.0)
    return lambda batch: light(affine(batch))


class DlfPerItem(Dataset):
    """Pillow decode, then the dlf transforms on a batch of one."""

    def __init__(self, paths, dtype):
        self.paths, self.aug = paths, augment(dtype)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        x = torch.from_numpy(np.array(read_image(self.paths[i]))).permute(2, 0, 1)[None]
        return self.aug((to_float(x),))[0][0]


class PillowPerItem(Dataset):
    """Pillow decode and Pillow augmentation, one image at a time."""

    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        img = Image.open(self.paths[i]).convert("RGB")
        w, h = img.size
        ang = math.radians(random.uniform(-ROTATE, ROTATE))
        z = random.uniform(*ZOOM)
        fl = -1.0 if random.random() < FLIP else 1.0
        # output pixel -> input pixel about the centre: (R Z F)^-1 = F R^-1 / z
        a, b = fl * math.cos(ang) / z, fl * math.sin(ang) / z
        c, d = -math.sin(ang) / z, math.cos(ang) / z
        cx, cy = w / 2, h / 2
        data = (a, b, cx - a * cx - b * cy, c, d, cy - c * cx - d * cy)
        img = img.transform((w, h), Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)
        img = ImageEnhance.Brightness(img).enhance(random.uniform(1 - LIGHT, 1 + LIGHT))
        img = ImageEnhance.Contrast(img).enhance(random.uniform(1 - LIGHT, 1 + LIGHT))
        return torch.from_numpy(np.array(img)).permute(2, 0, 1).float().div_(255)


def run_epoch(loader, tfm=None) -> float:
    """Images per second over one pass of `loader` (then `tfm` on each batch)."""
    n, t0 = 0, time.perf_counter()
    for batch in loader:
        x = batch[0] if isinstance(batch, tuple | list) else batch
        if tfm is not None:
            x = tfm((x,))[0]
        n += x.shape[0]
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000, help="number of generated PNGs")
    ap.add_argument("--size", type=int, default=256, help="image side in pixels")
    ap.add_argument("--bs", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=3, help="epochs timed after the cache is built")
    ap.add_argument("--workers", type=int, default=2, help="baseline DataLoader workers")
    ap.add_argument(
        "--dtype", choices=["auto", "fp32", "bf16"], default="auto", help="affine sampling dtype"
    )
    args = ap.parse_args()
    dtype = {"auto": "auto", "fp32": torch.float32, "bf16": torch.bfloat16}[args.dtype]
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        paths = make_pngs(tmp, args.n, args.size)
        t0 = time.perf_counter()
        cache = ImageCache.build(paths, args.size, tmp / "cache", progress=False)
        build_s = time.perf_counter() - t0
        ours = ArrayLoader(
            [image_column(cache.array)], np.arange(args.n), bs=args.bs, shuffle=True, seed=0
        )
        ours_tfm = augment(dtype)

        def per_item(ds):
            return DataLoader(ds, batch_size=args.bs, shuffle=True, num_workers=args.workers,
                              persistent_workers=args.workers > 0)  # fmt: skip

        pipelines = {
            "ours": lambda: run_epoch(ours, ours_tfm),
            "pillow": (lambda dl: lambda: run_epoch(dl))(per_item(PillowPerItem(paths))),
            "dlf_item": (lambda dl: lambda: run_epoch(dl))(per_item(DlfPerItem(paths, dtype))),
        }
        speed = {k: [] for k in pipelines}
        for _ in range(args.epochs):
            for name, epoch in pipelines.items():
                speed[name].append(epoch())
    med = {k: statistics.median(v) for k, v in speed.items()}
    print(f"images: {args.n} x {args.size}px, bs {args.bs}, median of {args.epochs} alternating epochs, "
          f"torch threads {torch.get_num_threads()}, affine dtype {args.dtype}")  # fmt: skip
    print(f"cache build (first epoch cost): {build_s:.2f} s = {args.n / build_s:.0f} img/s")
    print(
        f"Pillow decode + Pillow aug per item ({args.workers} workers): {med['pillow']:.0f} img/s"
    )
    print(f"Pillow decode + dlf aug per item ({args.workers} workers): {med['dlf_item']:.0f} img/s")
    print(f"cache + batched device aug: {med['ours']:.0f} img/s")
    print(f"ratio to the Pillow pipeline: {med['ours'] / med['pillow']:.2f}x (target: at least 3x); "
          f"to Pillow decode + dlf per item: {med['ours'] / med['dlf_item']:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
