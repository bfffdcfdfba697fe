"""Blocks: what one column of a dataset is, and how a raw value becomes an array.

A block has a `kind` (which batch transforms use to treat it as an image, a mask, boxes or
a target), `setup(values)` to learn a vocabulary, `encode(value)` for one item and
`decode(x)` back to something a person reads. Image-like blocks (`cached = True`) are
decoded into an `ImageCache` instead of being encoded row by row.
To add your own block, subclass `Block`: set `kind` and write `encode` (and `decode`).
"""

import os
from collections.abc import Callable, Sequence

import numpy as np

from dlf.core.errors import DlfError
from dlf.data.image import read_image


class Block:
    kind = "other"
    cached = False
    vocab: list | None = None

    def setup(self, values: Sequence) -> None:
        """Learn what is needed from all values (e.g. the class names)."""

    def encode(self, value) -> np.ndarray:
        return np.asarray(value)

    def decode(self, x):
        return x


class ImageBlock(Block):
    """Image files (or tuples of single-channel files to stack), resized to `size`.

    channels: None decides once from all the files (1 if every image is single-channel, else
    3, see `dlf.data.image.channel_count`); 1 or 3 forces it (colour read as luma, gray
    repeated to RGB). The decided count is `dls.channels`: pass it to `create_model(in_chans=)`.
    """

    kind, cached = "image", True

    def __init__(
        self,
        size: int | tuple[int, int] | None = None,
        channels: int | None = None,
        reader: Callable = read_image,
    ):
        if channels is not None and (not isinstance(channels, int) or channels < 1):
            raise DlfError(
                f"channels must be None (decide from the images), 1 or 3, got {channels!r}"
            )
        self.size, self.channels, self.reader = size, channels, reader
        self.nearest = False


class MaskBlock(ImageBlock):
    """Segmentation masks: label-map image files (pixel value = class), resized nearest."""

    kind = "mask"

    def __init__(
        self, codes: Sequence[str] | None = None, size=None, reader: Callable = read_image
    ):
        super().__init__(size, channels=1, reader=reader)
        self.nearest, self.vocab = True, None if codes is None else list(codes)


class CategoryBlock(Block):
    """One class per item; `vocab` is the sorted class names unless given."""

    kind = "label"

    def __init__(self, vocab: Sequence | None = None):
        self.vocab = None if vocab is None else list(vocab)

    def setup(self, values: Sequence) -> None:
        if self.vocab is None:
            self.vocab = sorted({v for v in values}, key=str)
        self._index = {v: i for i, v in enumerate(self.vocab)}

    def encode(self, value) -> np.ndarray:
        try:
            return np.int64(self._index[value])
        except KeyError:
            raise DlfError(f"label {value!r} is not in the vocab {self.vocab[:10]}") from None

    def decode(self, x):
        return self.vocab[int(x)]


def _labels(value, delim: str | None) -> list:
    if isinstance(value, str):
        return [v for v in value.split(delim)] if value else []
    return list(value)


class MultiCategoryBlock(CategoryBlock):
    """Several classes per item (a list, or a string split on `delim`) -> a multi-hot row."""

    kind = "multilabel"

    def __init__(self, vocab: Sequence | None = None, delim: str | None = " "):
        super().__init__(vocab)
        self.delim = delim

    def setup(self, values: Sequence) -> None:
        if self.vocab is None:
            self.vocab = sorted(
                {v for value in values for v in _labels(value, self.delim)}, key=str
            )
        self._index = {v: i for i, v in enumerate(self.vocab)}

    def encode(self, value) -> np.ndarray:
        row = np.zeros(len(self.vocab), np.float32)
        for v in _labels(value, self.delim):
            row[super().encode(v)] = 1
        return row

    def decode(self, x):
        return [self.vocab[i] for i in np.flatnonzero(np.asarray(x) > 0.5)]


class RegressionBlock(Block):
    """A number or a row of numbers per item (float32)."""

    kind = "regression"

    def encode(self, value) -> np.ndarray:
        try:
            return np.asarray(value, dtype=np.float32)
        except (TypeError, ValueError):
            raise DlfError(f"regression target {value!r} is not a number") from None


class BoxBlock(Block):
    """Boxes of one image: M x 4 (x1, y1, x2, y2) in pixels of the original image.
    The data block rescales them to the cached image size; batches pad with zeros."""

    kind = "boxes"

    def encode(self, value) -> np.ndarray:
        b = np.asarray(value, dtype=np.float32).reshape(-1, 4)
        return b


class BoxLabelBlock(CategoryBlock):
    """The class of each box of one image (list of names); batches pad with -1."""

    kind = "box_labels"

    def setup(self, values: Sequence) -> None:
        if self.vocab is None:
            self.vocab = sorted({v for value in values for v in value}, key=str)
        self._index = {v: i for i, v in enumerate(self.vocab)}

    def encode(self, value) -> np.ndarray:
        return np.array([super(BoxLabelBlock, self).encode(v) for v in value], dtype=np.int64)

    def decode(self, x):
        return [self.vocab[int(i)] for i in np.asarray(x) if i >= 0]


def is_path_like(x) -> bool:
    return isinstance(x, str | os.PathLike)
