"""Quick constructors for the week-1 path: a folder or a table of images to `DataLoaders`."""

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dlf.core.errors import DlfError
from dlf.data.augment import Normalize, aug_transforms
from dlf.data.block import DataBlock, get_image_files, parent_label
from dlf.data.blocks import CategoryBlock, ImageBlock, MultiCategoryBlock
from dlf.data.loaders import DataLoaders
from dlf.data.splits import column_splitter, folder_splitter, random_splitter


def _default_tfms(batch_tfms):
    return [*aug_transforms(), Normalize()] if batch_tfms is None else list(batch_tfms)


class ImageDataLoaders:
    """`from_folder`, `from_csv`, `from_df`: classification DataLoaders in one call.

    Shared keyword arguments: size (pixels, int or (h, w)), bs, batch_tfms (None: flips,
    small affine, lighting, ImageNet normalisation), item_tfms, seed, device, cache_dir
    (where the decoded-image cache lives; None: in memory), on_error ("raise" or "skip";
    skipped files are listed in `dls.datasets.skipped`), num_workers.
    """

    @staticmethod
    def from_folder(
        path: str | os.PathLike,
        valid_pct: float = 0.2,
        train: str = "train",
        valid: str = "valid",
        size: int | tuple[int, int] = 224,
        bs: int = 64,
        seed: int = 42,
        batch_tfms=None,
        item_tfms=(),
        **kw,
    ) -> DataLoaders:
        """Images in class-named folders. A `valid/` folder (beside `train/`) is the validation
        set; otherwise a seeded random `valid_pct` of the images is."""
        path = Path(path)
        if (path / valid).is_dir():
            roots = [path / train, path / valid] if (path / train).is_dir() else [path]
            get_items = lambda p: [f for r in roots for f in get_image_files(r)]  # noqa: E731
            splitter = folder_splitter(train, valid)
        else:
            # only the train/ folder (if there is one): a test/ folder beside it is not a class
            root = path / train if (path / train).is_dir() else path
            get_items = lambda p: get_image_files(root)  # noqa: E731
            splitter = random_splitter(valid_pct, seed)
        dblock = DataBlock(
            blocks=(ImageBlock(size), CategoryBlock()),
            get_items=get_items,
            get_y=parent_label,
            splitter=splitter,
            item_tfms=item_tfms,
            batch_tfms=_default_tfms(batch_tfms),
        )
        return dblock.dataloaders(path, bs=bs, **kw)

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
            blocks=(ImageBlock(size), y_block),
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


def label_counts(labels: Sequence) -> dict:
    """How many items per class (handy before choosing a class-balanced sampler)."""
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    return dict(zip(values.tolist(), counts.tolist()))
