"""Real grayscale images for tests: scikit-learn's bundled handwritten digits (1797 scans of
8x8 pixels, 16 gray levels, UCI "Optical Recognition of Handwritten Digits") as PNG files."""

from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(
    folder: Path, n: int | None = None, size: int = 32, test_frac: float = 0.0, seed: int = 0
) -> tuple[Path, dict[str, str]]:
    """Write `n` digits (all by default) as size x size gray PNGs into folder/train/CLASS/;
    a `test_frac` share goes to folder/test/ instead. Returns (folder, test file -> label)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    order = np.random.default_rng(seed).permutation(len(digits.target))[:n]
    n_test = round(test_frac * len(order))
    truth = {}
    for k, i in enumerate(order):
        img = (digits.images[i] * (255 / 16)).round().astype(np.uint8)
        im = Image.fromarray(img, mode="L").resize((size, size), Image.Resampling.BILINEAR)
        label = str(digits.target[i])
        if k < n_test:
            name = f"img_{i:04d}.png"
            path = folder / "test" / name
            truth[name] = label
        else:
            path = folder / "train" / label / f"{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        im.save(path)
    return folder, truth
