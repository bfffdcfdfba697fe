"""RxRx1 data path: 6-channel 512 px sites (six PNGs each) into the array cache, then training.

Three figures, each beside a baseline measured in the same run:
1. cache build: sites/s decoding six 512 px PNGs, stacking and presizing them to --size
   (what `dlf train recursion` does once), in the cache's thread pool;
2. loading: images/s of training batches (dihedral + per-experiment normalisation) from the
   cache, against a plain torch Dataset that decodes the six PNGs of a site each time
   (DataLoader, --workers processes), as a first PyTorch pipeline would;
3. training: images/s of ResNet-18 (in_chans=6, the task's default model) training steps fed
   by each pipeline.
Runs alternate cache, plain, cache, plain ...; medians over --repeats are printed.

    python bench/recursion_data.py                       # 64 sites, --size 64 (the task's default)
    python bench/recursion_data.py --n 16 --repeats 1    # smoke run
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from dlf.data.augment import Dihedral
from dlf.data.cache import ImageCache
from dlf.data.image import resize
from dlf.data.resident import ArrayLoader, array_column, image_column
from dlf.models import create_model
from dlf.tasks.recursion.files import read_site
from dlf.tasks.recursion.normalize import PerItemNormalize, group_stats
from dlf.tasks.recursion.synth import _batch_effect, site_image


def write_sites(folder: Path, n: int) -> list[list[Path]]:
    rng = np.random.default_rng(0)
    batch = _batch_effect(rng)
    sites = []
    for i in range(n):
        img = site_image(i % 40, "HUVEC", batch, np.ones(6), 512, rng)
        files = [folder / f"B{i:02d}_s1_w{c + 1}.png" for c in range(6)]
        for c, f in enumerate(files):
            Image.fromarray(img[..., c]).save(f)
        sites.append(files)
    return sites


class DecodingDataset(Dataset):
    """The plain pipeline: decode and resize the six PNGs of a site on every access."""

    def __init__(self, sites, size, stats):
        self.sites, self.size, self.stats = sites, size, stats

    def __len__(self):
        return len(self.sites)

    def __getitem__(self, i):
        x = resize(read_site(self.sites[i]), (self.size, self.size)).astype(np.float32)
        x = (x - self.stats[0]) / self.stats[1]
        return torch.from_numpy(x).permute(2, 0, 1), i % 40


def cache_loader(cache, bs):
    norm = group_stats(cache.array, ["one"] * len(cache))
    cols = {"image": image_column(cache.array), "norm": array_column(norm),
            "sirna": array_column(np.arange(len(cache)) % 40)}  # fmt: skip
    loader = ArrayLoader(cols, np.arange(len(cache)), bs=bs, shuffle=True, seed=0)
    tfms = [Dihedral(), PerItemNormalize()]

    def batches():
        for b in loader:
            for t in tfms:
                b = t(b)
            yield b["image"], b["sirna"]

    return batches


def epoch(batches, model=None, opt=None) -> float:
    n, t = 0, time.perf_counter()
    for x, y in batches():
        if model is not None:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
        n += len(x)
    return n / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=64, help="sites (six 512 px PNGs each)")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--bs", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="rxrx-bench-"))
    try:
        sites = write_sites(tmp, args.n)
        build = []
        for r in range(args.repeats):
            t = time.perf_counter()
            cache = ImageCache.build(sites, args.size, folder=tmp / f"cache{r}", reader=read_site,
                                     channels=6, progress=False)  # fmt: skip
            build.append(args.n / (time.perf_counter() - t))
        stats = group_stats(cache.array, ["one"] * len(cache))[0]
        plain_ds = DecodingDataset(sites, args.size, stats)

        def plain():
            return DataLoader(plain_ds, batch_size=args.bs, shuffle=True, num_workers=args.workers)

        ours = cache_loader(cache, args.bs)
        load = {"cache": [], "plain": []}
        train = {"cache": [], "plain": []}
        torch.manual_seed(0)
        model = create_model("resnet18", num_classes=1139, in_chans=6)
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for _ in range(args.repeats):
            for name, batches in (("cache", ours), ("plain", plain)):
                load[name].append(epoch(batches))
                train[name].append(epoch(batches, model, opt))
        med = lambda v: statistics.median(v)  # noqa: E731
        print(f"{args.n} sites of 6 x 512 px PNGs, --size {args.size}, bs {args.bs}, "
              f"{torch.get_num_threads()} torch threads, medians of {args.repeats}")  # fmt: skip
        print(f"cache build: {med(build):.1f} sites/s (once per dataset)")
        for what, d in (("loading", load), ("training (resnet18, 6 ch)", train)):
            c, p = med(d["cache"]), med(d["plain"])
            print(f"{what}: cache {c:.1f} images/s, plain decode-per-item {p:.1f} images/s, "
                  f"ratio {c / p:.2f}x")  # fmt: skip
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
