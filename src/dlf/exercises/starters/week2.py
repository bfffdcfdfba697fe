"""Week 2 exercises: data. Read a competition's real files, batch what does not stack,
encode masks the way Kaggle wants them, split fairly, normalise.

Grade with

    dlf check week2 THIS_FILE            (or --only rle_encode, ...)

A passing FundusDataset can feed a real project: `dlf train aptos --use THIS_FILE:FundusDataset`.
"""

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset


class FundusDataset(Dataset):
    """The APTOS 2019 training set from its real files: `folder`/train.csv (columns
    id_code,diagnosis) and `folder`/train_images/ID.png.

    item i -> (image, grade): image is the i-th row's picture opened with PIL, converted to
    RGB, resized to size x size with PIL's Image.resize((size, size)) (bilinear, the
    default), as a float32 tensor 3 x size x size with values in [0, 1] (divide by 255);
    grade is the row's diagnosis as an int. len() is the number of rows.
    """

    def __init__(self, folder: str | Path, size: int = 64):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        raise NotImplementedError


def collate_boxes(items: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Batch detection items whose box counts differ.

    items: B tuples (image C x H x W, boxes N_i x 4 float, labels N_i int64), N_i may be 0.
    Returns (images B x C x H x W, boxes B x M x 4, labels B x M) with M = max N_i (0 when
    every item has no box): the boxes of item i first, the rest padded with 0 for boxes and
    -1 for labels (-1 is never a class: the loss skips it).
    """
    raise NotImplementedError


def rle_encode(mask: np.ndarray) -> str:
    """SIIM-ACR run-length encoding of a 2-D 0/1 mask (H x W).

    Pixels are numbered down the columns (column-major: mask.T.ravel()), from 0. The string
    is pairs "start length": the FIRST start is the 0-based index of the run's first pixel;
    every later start counts the pixels skipped since the END of the previous run. An empty
    mask is "-1". Example, a 4 x 4 mask whose pixels 1-2, 7-8 and 15 are set: "1 2 4 2 6 1".
    """
    raise NotImplementedError


def rle_decode(rle: str, height: int, width: int) -> np.ndarray:
    """The inverse of rle_encode: an H x W uint8 array of 0 and 1 ("-1": all zeros)."""
    raise NotImplementedError


def stratified_kfold(
    labels: np.ndarray, k: int = 5, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """k (train_idx, valid_idx) pairs of int arrays: every item is in exactly one validation
    fold; each class is spread over the folds as evenly as possible (a fold holds n_c // k or
    n_c // k + 1 items of a class with n_c items); the order within a class is shuffled with
    `seed` (another seed, other folds)."""
    raise NotImplementedError


def channel_stats(images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 images N x H x W x C on the [0, 1]
    scale, over every pixel of every image (divide by the pixel count, not count - 1).
    Returns two float64 tensors of C values."""
    raise NotImplementedError


def normalize(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """(x - mean) / std per channel, for a batch x: B x C x H x W (mean, std: C values)."""
    raise NotImplementedError
