"""Planted bugs for week 2: the usual mistakes, each with the hint it must produce."""

from pathlib import Path

import numpy as np
import torch

from dlf.exercises import load_member_file

ok = load_member_file(Path(__file__).parent / "solutions" / "week2.py")


class DatasetHWC(ok.FundusDataset):
    def __getitem__(self, i):
        image, grade = super().__getitem__(i)
        return image.permute(1, 2, 0), grade


class DatasetHeaderAsRow(ok.FundusDataset):  # the rows shifted by one: the header read as data
    def __getitem__(self, i):
        image, _ = super().__getitem__(i)
        return image, self.rows[i - 1][1] if i else 0


class DatasetBGR(ok.FundusDataset):
    def __getitem__(self, i):
        image, grade = super().__getitem__(i)
        return image.flip(0), grade


class DatasetUnscaled(ok.FundusDataset):
    def __getitem__(self, i):
        image, grade = super().__getitem__(i)
        return image * 255, grade


def collate_pad_zero(items):
    images, boxes, labels = ok.collate_boxes(items)
    return images, boxes, labels.clamp_min(0)


def collate_truncate(items):
    m = min(len(b) for _, b, _ in items)
    return (torch.stack([i for i, _, _ in items]), torch.stack([b[:m] for _, b, _ in items]),
            torch.stack([lab[:m] for _, _, lab in items]))  # fmt: skip


def collate_no_empty_batch(items):
    m = max(len(b) for _, b, _ in items)
    if m == 0:
        raise ValueError("no boxes")
    return ok.collate_boxes(items)


def rle_encode_row_major(mask):
    return ok.rle_encode(mask.T)


def rle_encode_absolute(mask):
    flat = np.concatenate([[0], mask.T.ravel() != 0, [0]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat))
    if edges.size == 0:
        return "-1"
    return " ".join(f"{s} {e - s}" for s, e in zip(edges[0::2], edges[1::2]))


def rle_encode_one_based(mask):
    rle = ok.rle_encode(mask)
    if rle == "-1":
        return rle
    first, *rest = rle.split()
    return " ".join([str(int(first) + 1), *rest])


def rle_encode_empty_blank(mask):
    return "" if not mask.any() else ok.rle_encode(mask)


def rle_decode_row_major(rle, height, width):
    return ok.rle_decode(rle, width, height).T


def rle_decode_absolute(rle, height, width):
    flat = np.zeros(height * width, np.uint8)
    if rle != "-1":
        nums = [int(v) for v in rle.split()]
        for start, length in zip(nums[0::2], nums[1::2]):
            flat[start : start + length] = 1
    return flat.reshape(width, height).T


def kfold_plain(labels, k=5, seed=0):
    idx = np.random.default_rng(seed).permutation(len(labels))
    chunks = np.array_split(np.arange(len(labels)), k)  # contiguous: ignores classes (and the seed)
    del idx
    return [(np.setdiff1d(np.arange(len(labels)), c), c) for c in chunks]


def kfold_random_each_fold(labels, k=5, seed=0):
    rng = np.random.default_rng(seed)
    n = len(labels)
    out = []
    for _ in range(k):
        valid = np.sort(rng.choice(n, n // k, replace=False))  # independent draws overlap
        out.append((np.setdiff1d(np.arange(n), valid), valid))
    return out


def kfold_ignores_seed(labels, k=5, seed=0):
    return ok.stratified_kfold(labels, k, seed=0)


def stats_unbiased(images):
    x = torch.from_numpy(images).double() / 255
    return x.mean((0, 1, 2)), x.std((0, 1, 2), correction=1)


def stats_per_image(images):
    x = torch.from_numpy(images).double() / 255
    return x.mean((0, 1, 2)), x.std((1, 2), correction=0).mean(0)


def stats_unscaled(images):
    x = torch.from_numpy(images).double()
    return x.mean((0, 1, 2)), x.std((0, 1, 2), correction=0)


def normalize_times_std(x, mean, std):
    return (x - mean[:, None, None]) * std[:, None, None]


BUGS = [
    ("dataset", "FundusDataset", DatasetHWC, "permute(2, 0, 1)"),
    ("dataset", "FundusDataset", DatasetHeaderAsRow, "keep the csv's order"),
    ("dataset", "FundusDataset", DatasetBGR, "channels are reversed"),
    ("dataset", "FundusDataset", DatasetUnscaled, "divide by 255"),
    ("collate_boxes", "collate_boxes", collate_pad_zero, "pad labels with -1"),
    ("collate_boxes", "collate_boxes", collate_truncate, "the LARGEST count"),
    ("collate_boxes", "collate_boxes", collate_no_empty_batch, "your code raised ValueError"),
    ("rle_encode", "rle_encode", rle_encode_row_major, "transposed"),
    ("rle_encode", "rle_encode", rle_encode_absolute, "absolute starts"),
    ("rle_encode", "rle_encode", rle_encode_one_based, "off by one"),
    ("rle_encode", "rle_encode", rle_encode_empty_blank, "'-1'"),
    ("rle_decode", "rle_decode", rle_decode_row_major, "transposed"),
    ("rle_decode", "rle_decode", rle_decode_absolute, "starts read as absolute"),
    ("stratified_kfold", "stratified_kfold", kfold_plain, "split each class separately"),
    ("stratified_kfold", "stratified_kfold", kfold_random_each_fold, "exactly one"),
    (
        "stratified_kfold",
        "stratified_kfold",
        kfold_ignores_seed,
        "shuffle each class with the seed",
    ),
    ("normalize", "channel_stats", stats_unbiased, "not N - 1"),
    ("normalize", "channel_stats", stats_per_image, "averaged each image's std"),
    ("normalize", "channel_stats", stats_unscaled, "255 times too large"),
    ("normalize", "normalize", normalize_times_std, "broadcast"),
]
