"""Images per second: decoded-image cache + device augmentation vs per-item Pillow decode.

Both sides see the same generated PNGs and the same augmentation (flip + affine + lighting,
one random draw per image). Baseline: a torch DataLoader (2 workers) decoding each PNG with
Pillow and augmenting it per item with the same dlf transforms on a batch of one.
Ours: ImageCache (built once; its cost is reported separately) + ArrayLoader slices +
the batched transforms, one grid_sample per batch.

    python bench/data_throughput.py                      # 3000 images of 256 px
    python bench/data_throughput.py --n 64 --size 64 --bs 16 --epochs 1   # smoke run
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dlf.data import Affine, ArrayLoader, ImageCache, Lighting, image_column, read_image
from dlf.data.augment import to_float


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
    affine = Affine(rotate=10, zoom=(1.0, 1.1), flip=0.5, p=1.0, dtype=dtype)
    light = Lighting(brightness=0.2, contrast=0.2, p=1.0)
    return lambda batch: light(affine(batch))


class PillowDataset(Dataset):
    """The baseline: decode and augment one image at a time."""

    def __init__(self, paths, dtype):
        self.paths, self.aug = paths, augment(dtype)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        x = torch.from_numpy(np.array(read_image(self.paths[i]))).permute(2, 0, 1)[None]
        return self.aug((to_float(x),))[0][0]


def run_epochs(loader, epochs, tfm=None) -> float:
    n, t0 = 0, time.perf_counter()
    for _ in range(epochs):
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
    ap.add_argument("--epochs", type=int, default=2, help="epochs timed after the cache is built")
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
        loader = ArrayLoader(
            [image_column(cache.array)], np.arange(args.n), bs=args.bs, shuffle=True, seed=0
        )
        ours = run_epochs(loader, args.epochs, augment(dtype))
        base_loader = DataLoader(
            PillowDataset(paths, dtype),
            batch_size=args.bs,
            shuffle=True,
            num_workers=args.workers,
            persistent_workers=args.workers > 0,
        )
        base = run_epochs(base_loader, args.epochs)
    print(
        f"images: {args.n} x {args.size}px, bs {args.bs}, {args.epochs} epochs, torch threads {torch.get_num_threads()}, affine dtype {args.dtype}"
    )
    print(f"cache build (first epoch cost): {build_s:.2f} s = {args.n / build_s:.0f} img/s")
    print(f"baseline (Pillow decode + per-item aug, {args.workers} workers): {base:.0f} img/s")
    print(f"cache + batched device aug: {ours:.0f} img/s")
    print(f"ratio: {ours / base:.2f}x")


if __name__ == "__main__":
    main()
