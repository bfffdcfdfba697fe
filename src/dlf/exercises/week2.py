"""Week 2 checks: a Dataset over real competition files, collating boxes, SIIM's RLE, a
stratified k-fold split, per-channel normalisation.

References: a small APTOS folder in the competition's layout (dlf.tasks.aptos.synth) read
with PIL as the docstring says; SIIM's RLE worked by hand on the competition's example and
dlf's codec (dlf.tasks.siim.rle); the fold rules counted directly; torch statistics in
float64.
"""

import tempfile
from pathlib import Path
from types import ModuleType

import numpy as np
import torch
from PIL import Image

from dlf.exercises.harness import CheckFailed, Exercise, expect_close, require
from dlf.tasks.aptos.files import read_train
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.siim.rle import rle_decode as reference_decode
from dlf.tasks.siim.rle import rle_encode as reference_encode

# ---- the Dataset ---------------------------------------------------------------------------


def check_dataset(m: ModuleType) -> float:
    (cls,) = require(m, "FundusDataset")
    size = 24
    with tempfile.TemporaryDirectory() as tmp:
        folder = synth_aptos(Path(tmp) / "aptos", n=6, n_test=1, seed=3, width=(48, 64))
        rows = read_train(folder)
        ds = cls(folder, size)
        if len(ds) != len(rows):
            raise CheckFailed(
                f"len() is {len(ds)}, train.csv has {len(rows)} rows (the header is not a row)"
            )
        errs = []
        for i, row in enumerate(rows):
            image, grade = ds[i]
            if not isinstance(image, torch.Tensor):
                raise CheckFailed(
                    f"item {i}: the image is a {type(image).__name__}: return a torch tensor"
                )
            if image.shape == (size, size, 3):
                raise CheckFailed(
                    f"item {i}: the image is H x W x C: permute(2, 0, 1) to C x H x W"
                )
            if not isinstance(grade, int) or isinstance(grade, bool):
                raise CheckFailed(
                    f"item {i}: the grade is a {type(grade).__name__}: return int(diagnosis)"
                )
            if grade != row.diagnosis:
                raise CheckFailed(f"item {i}: grade {grade}, but row {i} of train.csv says "
                                  f"{row.diagnosis}: keep the csv's order, rows start after the header")  # fmt: skip
            with Image.open(row.path) as im:
                ref = torch.from_numpy(
                    np.asarray(im.convert("RGB").resize((size, size)), dtype=np.float32) / 255
                )
            ref = ref.permute(2, 0, 1)
            if image.dtype == torch.float32 and image.max() > 1.5:
                raise CheckFailed(
                    f"item {i}: values up to {float(image.max()):.0f}: divide by 255 for [0, 1]"
                )
            if image.shape == ref.shape and torch.allclose(image, ref.flip(0), atol=1e-6):
                raise CheckFailed(
                    f"item {i}: the channels are reversed (BGR, as cv2 reads): use RGB"
                )
            errs.append(expect_close(f"item {i} image", image, ref, dtype=torch.float32,
                                     hint="open with PIL, .convert('RGB'), .resize((size, size)), then / 255"))  # fmt: skip
    return max(errs)


# ---- collating boxes -------------------------------------------------------------------------


def _item(n_boxes: int, g: torch.Generator):
    image = torch.rand(3, 8, 8, generator=g)
    boxes = torch.rand(n_boxes, 4, generator=g) * 8
    labels = torch.randint(0, 5, (n_boxes,), generator=g)
    return image, boxes, labels


def _reference_collate(items):
    m = max(len(b) for _, b, _ in items)
    boxes = torch.zeros(len(items), m, 4)
    labels = torch.full((len(items), m), -1, dtype=torch.int64)
    for i, (_, b, lab) in enumerate(items):
        boxes[i, : len(b)], labels[i, : len(b)] = b, lab
    return torch.stack([im for im, _, _ in items]), boxes, labels


def check_collate(m: ModuleType) -> float:
    (collate,) = require(m, "collate_boxes")
    g = torch.Generator().manual_seed(0)
    errs = []
    for counts in ([2, 0, 3], [1], [0, 0]):  # uneven, batch size 1, no box at all
        items = [_item(c, g) for c in counts]
        ref = _reference_collate(items)
        out = collate(items)
        if not isinstance(out, tuple | list) or len(out) != 3:
            raise CheckFailed("return a tuple (images, boxes, labels)")
        images, boxes, labels = out
        what = f"box counts {counts}"
        if isinstance(labels, torch.Tensor) and labels.shape == ref[2].shape and labels.numel():
            pad = ref[2] == -1
            if pad.any() and (labels[pad] == 0).all():
                raise CheckFailed(f"{what}: padded labels are 0, a real class: pad labels with -1")
        if (
            isinstance(boxes, torch.Tensor)
            and boxes.ndim == 3
            and boxes.shape[1] != ref[1].shape[1]
        ):
            raise CheckFailed(f"{what}: boxes has room for {boxes.shape[1]} per image, expected "
                              f"{ref[1].shape[1]}: M is the LARGEST count, pad the others")  # fmt: skip
        errs.append(expect_close(f"{what}: images", images, ref[0], dtype=torch.float32))
        errs.append(expect_close(f"{what}: boxes", boxes, ref[1], dtype=torch.float32))
        errs.append(expect_close(f"{what}: labels", labels, ref[2], dtype=torch.int64))
    return max(errs)


# ---- SIIM's run-length encoding ------------------------------------------------------------

EXAMPLE = np.zeros((4, 4), np.uint8)
EXAMPLE.T.flat[[1, 2, 7, 8, 15]] = 1  # the docstring's example, column-major pixel numbers
EXAMPLE_RLE = "1 2 4 2 6 1"  # worked by hand: runs (1,3) (7,9) (15,16), starts relative


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    blob = np.zeros((6, 5), np.uint8)
    blob[1:4, 2:5] = 1  # a rectangle: its rows and columns give different encodings
    noisy = (rng.random((7, 6)) < 0.4).astype(np.uint8)
    full = np.ones((3, 4), np.uint8)
    return [EXAMPLE, blob, noisy, full, np.zeros((5, 5), np.uint8)]


def _absolute(rle: str) -> str:
    """The same runs with absolute starts: the usual mistake."""
    if rle == "-1":
        return rle
    nums = [int(v) for v in rle.split()]
    out, pos = [], 0
    for start, length in zip(nums[0::2], nums[1::2], strict=True):
        pos += start
        out += [pos, length]
        pos += length
    return " ".join(map(str, out))


def check_rle_encode(m: ModuleType) -> float:
    (encode,) = require(m, "rle_encode")
    if reference_encode(EXAMPLE) != EXAMPLE_RLE:  # dlf's codec agrees with the hand-worked case
        raise CheckFailed(
            "internal: dlf's reference RLE disagrees with the worked example; please report"
        )
    for mask in _masks():
        got, ref = encode(mask.copy()), reference_encode(mask)
        if not isinstance(got, str):
            raise CheckFailed(f"returned {type(got).__name__}: return the RLE as a str")
        got = " ".join(got.split())
        if got == ref:
            continue
        shape = f"{mask.shape[0]}x{mask.shape[1]} mask"
        if ref == "-1":
            raise CheckFailed(f"an empty mask encodes as '-1', got {got!r}")
        if got == reference_encode(mask.T):
            raise CheckFailed(
                f"{shape}: transposed: your RLE reads the mask row by row; SIIM numbers pixels down the columns (mask.T.ravel())"
            )
        if got == _absolute(ref):
            raise CheckFailed(
                f"{shape}: absolute starts: after the first run SIIM counts from the END of the previous run"
            )
        first = ref.split()
        if got.split()[1:] == first[1:] and int(got.split()[0]) == int(first[0]) + 1:
            raise CheckFailed(f"{shape}: off by one: the first pixel is 0, not 1")
        raise CheckFailed(f"{shape}: got {got[:40]!r}, expected {ref[:40]!r}")
    return 0.0


def check_rle_decode(m: ModuleType) -> float:
    (decode,) = require(m, "rle_decode")
    for mask in _masks():
        h, w = mask.shape
        rle = reference_encode(mask)
        got = np.asarray(decode(rle, h, w))
        if got.shape != mask.shape:
            raise CheckFailed(f"shape {got.shape}, expected ({h}, {w})")
        if np.array_equal(got != 0, mask != 0):
            if got.dtype != np.uint8:
                raise CheckFailed(f"dtype {got.dtype}: return a uint8 array of 0 and 1")
            continue
        row_major = reference_decode(rle, w, h).T  # the same pixel numbers read row by row
        if np.array_equal(got != 0, row_major != 0) and not np.array_equal(row_major, mask):
            raise CheckFailed(
                "transposed: SIIM numbers pixels down the columns; fill a W x H array row-major, then .T"
            )
        as_absolute = np.zeros_like(mask)  # every start taken as a pixel index
        nums = [int(v) for v in rle.split()] if rle != "-1" else []
        for start, length in zip(nums[0::2], nums[1::2], strict=True):
            as_absolute.T.flat[start : start + length] = 1
        if np.array_equal(got != 0, as_absolute != 0):
            raise CheckFailed(
                "starts read as absolute: each start after the first counts from the END of the previous run"
            )
        raise CheckFailed(
            f"{h}x{w} mask from {rle[:30]!r}: wrong pixels ({int((got != mask).sum())} differ)"
        )
    return 0.0


# ---- stratified k-fold ---------------------------------------------------------------------


def check_kfold(m: ModuleType) -> float:
    (kfold,) = require(m, "stratified_kfold")
    labels = np.repeat([0, 1, 2], [23, 11, 6])  # sorted: a split that ignores classes shows it
    n, k = len(labels), 5
    folds = kfold(labels.copy(), k=k, seed=0)
    if len(folds) != k:
        raise CheckFailed(f"{len(folds)} folds, expected k = {k}")
    seen = np.zeros(n, int)
    for f, (train, valid) in enumerate(folds):
        train, valid = np.asarray(train), np.asarray(valid)
        seen[valid] += 1
        if np.intersect1d(train, valid).size:
            raise CheckFailed(f"fold {f}: items in both train and valid")
        if np.union1d(train, valid).size != n:
            raise CheckFailed(
                f"fold {f}: train and valid together miss {n - np.union1d(train, valid).size} items"
            )
    if (seen != 1).any():
        i = int(np.flatnonzero(seen != 1)[0])
        raise CheckFailed(
            f"item {i} is in {seen[i]} validation folds: each item must be in exactly one"
        )
    for f, (_, valid) in enumerate(folds):
        counts = np.bincount(labels[np.asarray(valid)], minlength=3)
        for c, n_c in enumerate(np.bincount(labels)):
            if not n_c // k <= counts[c] <= n_c // k + 1:
                raise CheckFailed(f"fold {f} holds {counts[c]} of class {c}'s {n_c} items, expected "
                                  f"{n_c // k} or {n_c // k + 1}: split each class separately")  # fmt: skip
    other = kfold(labels.copy(), k=k, seed=1)
    if all(np.array_equal(np.sort(a[1]), np.sort(b[1])) for a, b in zip(folds, other, strict=True)):
        raise CheckFailed("seed 0 and seed 1 give the same folds: shuffle each class with the seed")
    return 0.0


# ---- normalisation -------------------------------------------------------------------------


def check_normalize(m: ModuleType) -> float:
    stats, norm = require(m, "channel_stats", "normalize")
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (10, 8, 6, 3), generator=g, dtype=torch.uint8)
    images[:5] //= 2  # images that differ in brightness: per-image averages then go wrong
    x = images.double() / 255
    mean, std = x.mean((0, 1, 2)), x.std((0, 1, 2), correction=0)
    out = stats(images.numpy().copy())
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise CheckFailed("channel_stats: return (mean, std)")
    got_mean, got_std = (torch.as_tensor(v) for v in out)
    if got_mean.shape == mean.shape and torch.allclose(got_mean.double(), mean * 255, rtol=1e-9):
        raise CheckFailed("mean is 255 times too large: scale the pixels to [0, 1] first")
    errs = [expect_close("mean", got_mean, mean, hint="average over N, H and W per channel")]
    unbiased = x.std((0, 1, 2), correction=1)
    per_image = x.std((1, 2), correction=0).mean(0)
    hint = "wrong standard deviation"
    if got_std.shape == std.shape and torch.allclose(got_std, unbiased, rtol=1e-9):
        hint = "divide by the pixel count N, not N - 1 (the population statistic, as torchvision's Normalize expects)"
    elif got_std.shape == std.shape and torch.allclose(got_std, per_image, rtol=1e-9):
        hint = "you averaged each image's std: take the std over all pixels of all images at once"
    errs.append(expect_close("std", got_std, std, hint=hint))
    batch = x.permute(0, 3, 1, 2)[:4].clone()
    ref = (batch - mean[:, None, None]) / std[:, None, None]
    errs.append(expect_close("normalize", norm(batch, mean, std), ref,
                             hint="(x - mean) / std with mean and std shaped C x 1 x 1 to broadcast over H, W"))  # fmt: skip
    return max(errs)


EXERCISES = [
    Exercise("dataset", "week2", ("FundusDataset",), "a Dataset over APTOS's real files", check_dataset, "dataset"),
    Exercise("collate_boxes", "week2", ("collate_boxes",), "batching items with different box counts", check_collate),
    Exercise("rle_encode", "week2", ("rle_encode",), "SIIM run-length encoding", check_rle_encode),
    Exercise("rle_decode", "week2", ("rle_decode",), "SIIM run-length decoding", check_rle_decode),
    Exercise("stratified_kfold", "week2", ("stratified_kfold",), "a stratified k-fold split", check_kfold),
    Exercise("normalize", "week2", ("channel_stats", "normalize"), "per-channel statistics and normalisation",
             check_normalize),
]  # fmt: skip

__all__ = ["EXERCISES"]
