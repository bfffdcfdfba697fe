"""DataBlock, blocks, ImageDataLoaders and loaders on tiny generated images.
References: the arrays written to disk, and hand-computed box scaling."""

import csv

import numpy as np
import pytest
import torch

from dlf.core import DlfError
from dlf.data import (
    ArrayLoader,
    BoxBlock,
    BoxLabelBlock,
    CategoryBlock,
    ClassBalancedSampler,
    DataBlock,
    Flip,
    ImageBlock,
    ImageDataLoaders,
    MaskBlock,
    MultiCategoryBlock,
    Normalize,
    RegressionBlock,
    array_column,
    get_image_files,
    parent_label,
)


def _folder(tmp_path, write_png, classes=("cat", "dog"), n=6, valid=False):
    rng = np.random.default_rng(0)
    for split in ("train", "valid") if valid else ("",):
        for c in classes:
            (tmp_path / split / c).mkdir(parents=True, exist_ok=True)
            for i in range(n):
                write_png(
                    tmp_path / split / c / f"{i}.png",
                    rng.integers(0, 256, (10, 12, 3), dtype=np.uint8),
                )
    return tmp_path


def test_from_folder_random_split_batches_and_vocab(tmp_path, write_png):
    _folder(tmp_path, write_png)
    dls = ImageDataLoaders.from_folder(
        tmp_path, valid_pct=0.25, size=8, bs=4, device="cpu", progress=False
    )
    assert dls.vocab == ["cat", "dog"] and dls.n_inp == 1
    x, y = dls.one_batch()
    assert x.shape == (4, 3, 8, 8) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert len(dls.datasets.splits[1]) == 3
    xv, _ = next(iter(dls.valid))
    assert xv.shape[1:] == (3, 8, 8)
    # predict path: a raw file -> the same tensor the cache holds for it
    f = get_image_files(tmp_path)[0]
    row = dls.datasets.items.index(f)
    assert torch.equal(dls.datasets.encode_item(f), dls.datasets[row][0])
    assert dls.test_batch([f])[0].shape == (1, 3, 8, 8)


def test_from_folder_valid_folder_and_workers(tmp_path, write_png):
    _folder(tmp_path, write_png, valid=True, n=3)
    dls = ImageDataLoaders.from_folder(
        tmp_path,
        size=8,
        bs=2,
        device="cpu",
        batch_tfms=[Normalize()],
        num_workers=1,
        progress=False,
    )
    tr, va = dls.datasets.splits
    assert len(tr) == 6 and len(va) == 6
    assert all("valid" in str(dls.datasets.items[i]) for i in va)
    x, _y = dls.one_batch()
    assert x.shape == (2, 3, 8, 8)


def test_from_csv_missing_column_and_missing_file_and_skip(tmp_path, write_png):
    _folder(tmp_path, write_png, n=3)
    rows = [{"fname": f"cat/{i}.png", "label": "cat"} for i in range(3)] + [
        {"fname": f"dog/{i}.png", "label": "dog"} for i in range(3)
    ]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, ["fname", "label"])
        w.writeheader()
        w.writerows(rows)
    with pytest.raises(
        DlfError, match=r"missing column\(s\) \['image'\]; found \['fname', 'label'\]"
    ):
        ImageDataLoaders.from_csv(tmp_path, size=8, bs=2, device="cpu")
    dls = ImageDataLoaders.from_csv(
        tmp_path, fn_col="fname", size=8, bs=2, device="cpu", progress=False
    )
    assert dls.vocab == ["cat", "dog"]
    (tmp_path / "dog" / "1.png").unlink()
    with pytest.raises(DlfError, match=r"item 4: .*1\.png: file not found"):
        ImageDataLoaders.from_csv(
            tmp_path, fn_col="fname", size=8, bs=2, device="cpu", progress=False
        )
    dls = ImageDataLoaders.from_csv(
        tmp_path, fn_col="fname", size=8, bs=2, device="cpu", on_error="skip", progress=False
    )
    assert [i for i, _, _ in dls.datasets.skipped] == [4]
    assert 4 not in set(np.concatenate(dls.datasets.splits).tolist())


def test_mask_boxes_multicategory_regression_blocks(tmp_path, write_png):
    rng = np.random.default_rng(0)
    items = []
    for i in range(4):
        img = write_png(tmp_path / f"i{i}.png", rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
        mask = write_png(
            tmp_path / f"m{i}.png", (np.arange(800).reshape(20, 40) % 3).astype(np.uint8)
        )
        items.append(
            {
                "img": img,
                "mask": mask,
                "tags": "a b" if i % 2 else "c",
                "v": float(i),
                "boxes": [[4, 2, 20, 10]],
                "bl": ["x"],
            }
        )
    dblock = DataBlock(
        blocks=(
            ImageBlock(size=(10, 20)),
            MaskBlock(size=(10, 20)),
            MultiCategoryBlock(),
            RegressionBlock(),
            BoxBlock(),
            BoxLabelBlock(),
        ),
        getters=[
            lambda r: r["img"],
            lambda r: r["mask"],
            lambda r: r["tags"],
            lambda r: r["v"],
            lambda r: r["boxes"],
            lambda r: r["bl"],
        ],
        splitter=lambda its: (np.arange(3), np.arange(3, 4)),
        batch_tfms=[Flip(p=0.0)],
    )
    dls = dblock.dataloaders(items, bs=3, device="cpu", shuffle=False, progress=False)
    x, m, tags, v, boxes, bl = dls.one_batch()
    assert x.shape == (3, 3, 10, 20) and m.shape == (3, 10, 20) and m.dtype == torch.int64
    assert tags.tolist()[0] == [0, 0, 1] and tags.tolist()[1] == [1, 1, 0]
    assert v.tolist() == [0, 1, 2]
    assert boxes[0, 0].tolist() == [2, 1, 10, 5] and bl[0].tolist() == [0]  # scaled by 0.5


def test_summary_prints_steps_and_names_failing_step(tmp_path, write_png, capsys):
    _folder(tmp_path, write_png, n=2)
    dblock = DataBlock(
        blocks=(ImageBlock(8), CategoryBlock()),
        get_items=get_image_files,
        get_y=parent_label,
        batch_tfms=[Flip(), Normalize()],
    )
    text = dblock.summary(tmp_path)
    assert (
        "ImageBlock -> (3, 8, 8) torch.uint8" in text
        and "Normalize -> (3, 3, 8, 8) torch.float32" in text
    )
    bad = DataBlock(
        blocks=(ImageBlock(8), CategoryBlock()),
        get_items=get_image_files,
        get_y=lambda p: p.stem.upper() + 1,
    )
    with pytest.raises(DlfError, match=r"step 'getter 1 .*' failed on item 0 .*TypeError"):
        bad.summary(tmp_path)


def test_array_loader_sorted_batches_sampler_and_prefetch():
    data = np.arange(20)
    loader = ArrayLoader([array_column(data)], np.arange(20), bs=6, shuffle=True, seed=0)
    batches = [b[0] for b in loader]
    assert len(batches) == len(loader) == 4
    assert all(torch.equal(b, b.sort().values) for b in batches)
    assert sorted(torch.cat(batches).tolist()) == list(range(20))
    labels = np.array([0] * 18 + [1] * 2)
    sampler = ClassBalancedSampler(labels, num_samples=4000, seed=0)
    drawn = torch.cat(
        [b[0] for b in ArrayLoader([array_column(labels)], np.arange(20), bs=500, sampler=sampler)]
    )
    assert abs(drawn.float().mean().item() - 0.5) < 0.05  # classes drawn equally often
    it = iter(ArrayLoader([array_column(data)], np.arange(20), bs=2, prefetch=1))
    next(it)
    it.close()  # stopping early must not hang the producer thread
