"""Quick constructors for the week-1 path: a folder or a table of images to `DataLoaders`."""

import csv
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlf.core.errors import DlfError
from dlf.data.augment import Normalize, aug_transforms
from dlf.data.block import DataBlock, get_image_files
from dlf.data.blocks import CategoryBlock, ImageBlock, MultiCategoryBlock
from dlf.data.loaders import DataLoaders
from dlf.data.splits import column_splitter, random_splitter

log = logging.getLogger(__name__)  # notes about the data; printed to stderr if unconfigured


def _default_tfms(batch_tfms):
    return [*aug_transforms(), Normalize()] if batch_tfms is None else list(batch_tfms)


class ImageDataLoaders:
    """`from_folder`, `from_csv`, `from_df`: classification DataLoaders in one call.

    Shared keyword arguments: size (pixels, int or (h, w)), bs, channels (None: 1 if every
    image is single-channel, else 3; or force 1 or 3; the result is `dls.channels`, for
    `create_model(..., in_chans=dls.channels)`), batch_tfms (None: flips, small affine,
    lighting, ImageNet normalisation), item_tfms, seed, device, cache_dir (where the
    decoded-image cache lives; None: in memory), on_error ("raise" or "skip"; skipped files
    are listed in `dls.datasets.skipped`), num_workers.
    """

    @staticmethod
    def from_folder(
        path: str | os.PathLike,
        valid_pct: float = 0.2,
        train: str = "train",
        valid: str = "valid",
        test: str = "test",
        size: int | tuple[int, int] = 224,
        bs: int = 64,
        seed: int = 42,
        channels: int | None = None,
        batch_tfms=None,
        item_tfms=(),
        **kw,
    ) -> DataLoaders:
        """Images in class-named folders, by one rule (`class_folders`): the classes are the
        subfolders of `path/train` if it exists, else of `path`; `path/valid/CLASS` is the
        validation set if it exists, else a seeded random `valid_pct` of the images;
        `path/test` is never a class. Image files lying directly in a folder of classes
        belong to no class: they are ignored, with one note."""
        files, labels, n_train = class_folders(path, train, valid, test)
        if n_train < len(files):
            splitter = lambda items: (np.arange(n_train), np.arange(n_train, len(items)))  # noqa: E731
        else:
            splitter = random_splitter(valid_pct, seed)
        label_of = dict(zip(files, labels))
        dblock = DataBlock(
            blocks=(ImageBlock(size, channels=channels), CategoryBlock()),
            get_y=lambda f: label_of[f],
            splitter=splitter,
            item_tfms=item_tfms,
            batch_tfms=_default_tfms(batch_tfms),
        )
        dls = dblock.dataloaders(files, bs=bs, **kw)
        warn_thin_classes(labels, *dls.datasets.splits)
        return dls

    @staticmethod
    def from_df(
        rows,
        path: str | os.PathLike = ".",
        fn_col: str = "image",
        label_col: str = "label",
        valid_col: str | None = None,
        label_delim: str | None = None,
        suffix: str = "",
        valid_pct: float = 0.2,
        size: int | tuple[int, int] = 224,
        bs: int = 64,
        seed: int = 42,
        channels: int | None = None,
        batch_tfms=None,
        item_tfms=(),
        source: str = "table",
        **kw,
    ) -> DataLoaders:
        """A table (a pandas DataFrame or a list of dicts): file name column, label column,
        optionally a boolean/0-1 valid column. label_delim: several labels per cell."""
        records = rows.to_dict("records") if hasattr(rows, "to_dict") else list(rows)
        expected = [c for c in (fn_col, label_col, valid_col) if c is not None]
        found = list(records[0].keys()) if records else []
        missing = [c for c in expected if c not in found]
        if missing:
            raise DlfError(
                f"{source}: missing column(s) {missing}; found {found}; expected {expected}"
            )
        path = Path(path)
        if valid_col is None:
            splitter = random_splitter(valid_pct, seed)
        else:
            splitter = column_splitter(
                [str(r[valid_col]).strip().lower() in ("1", "true", "yes") for r in records]
            )
        y_block = CategoryBlock() if label_delim is None else MultiCategoryBlock(delim=label_delim)
        dblock = DataBlock(
            blocks=(ImageBlock(size, channels=channels), y_block),
            get_x=lambda r: path / f"{r[fn_col]}{suffix}",
            get_y=lambda r: r[label_col],
            splitter=splitter,
            item_tfms=item_tfms,
            batch_tfms=_default_tfms(batch_tfms),
        )
        return dblock.dataloaders(records, bs=bs, **kw)

    @staticmethod
    def from_csv(
        path: str | os.PathLike, csv_fname: str = "labels.csv", folder: str = ".", **kw
    ) -> DataLoaders:
        """`path/csv_fname` names the images (relative to `path/folder`); see `from_df`."""
        path = Path(path)
        csv_path = path / csv_fname
        try:
            with open(csv_path, newline="", encoding="utf-8") as f:
                records = list(csv.DictReader(f))
        except FileNotFoundError as e:
            raise DlfError(f"{csv_path}: CSV file not found") from e
        if not records:
            raise DlfError(f"{csv_path}: CSV has no rows")
        return ImageDataLoaders.from_df(records, path=path / folder, source=str(csv_path), **kw)


def class_folders(
    path: str | os.PathLike, train: str = "train", valid: str = "valid", test: str = "test"
) -> tuple[list[Path], list[str], int]:
    """The images of a class-folder tree as (files, labels, n_train): training images first.

    Classes are the subfolders of `path/train` if it exists, else of `path` (but not `valid/`
    or `test/`); images in `path/valid/CLASS` follow as the validation set. An image's class
    is the class folder it lies in, however deep. Images directly in `path`, `path/train` or
    `path/valid` belong to no class: they are left out with one note naming how many.
    Hidden folders (`.ipynb_checkpoints`, ...) are no class either.
    """
    path = Path(path)
    if not path.is_dir():
        raise DlfError(f"{path}: not a folder of images")
    root = path / train if (path / train).is_dir() else path
    skip = set() if root != path else {valid, test}
    files, labels, loose = _class_images(root, skip)
    n_train = len(files)
    if (path / valid).is_dir():
        more, more_labels, more_loose = _class_images(path / valid, set())
        files, labels, loose = files + more, labels + more_labels, loose + more_loose
    if loose:
        log.warning(
            f"note: {len(loose)} image(s) lie outside any class folder and are ignored, "
            f"e.g. {loose[0]}; a class is a subfolder of {root}"
        )
    if n_train == 0:
        raise DlfError(
            f"{root}: no images in class folders; put them in {path}/CLASS/ "
            f"or {path}/{train}/CLASS/ (one subfolder per class)"
        )
    return files, labels, n_train


def _class_images(root: Path, skip: set) -> tuple[list[Path], list[str], list[Path]]:
    files, labels, loose = [], [], []
    for f in get_image_files(root):
        top = f.relative_to(root).parts[0]
        if f.parent == root:
            loose.append(f)
        elif top not in skip and not top.startswith("."):
            files.append(f)
            labels.append(top)
    return files, labels, loose


def warn_thin_classes(labels: Sequence, train_idx: np.ndarray, valid_idx: np.ndarray) -> None:
    """One warning line naming the classes the split left with no validation (or no training)
    image: their accuracy would never be measured (or they could never be predicted)."""
    labels = np.asarray(labels, dtype=object)
    train, valid = set(labels[train_idx].tolist()), set(labels[valid_idx].tolist())
    counts = label_counts(labels)
    unseen = [c for c in counts if c not in train]
    unchecked = [c for c in counts if c not in valid and c in train] if len(valid_idx) else []
    parts = []
    if unchecked:
        parts.append(f"no validation image for {_named(unchecked, counts)}")
    if unseen:
        parts.append(f"no training image for {_named(unseen, counts)}")
    if parts:
        log.warning(
            f"warning: too few images for the split: {'; '.join(parts)}; "
            "add images to these classes (or give a valid/ folder with some of each)"
        )


def _named(classes: list, counts: dict) -> str:
    shown = ", ".join(f"{c!r} ({counts[c]} image{'s' * (counts[c] != 1)})" for c in classes[:5])
    return shown + (f" and {len(classes) - 5} more" if len(classes) > 5 else "")


def label_counts(labels: Sequence) -> dict:
    """How many items per class (handy before choosing a class-balanced sampler)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))
