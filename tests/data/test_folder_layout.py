"""The one folder layout rule of `from_folder` (issue 12, items 3, 4 and 6): classes under
DIR/train or DIR, DIR/valid validates, DIR/test is no class, loose files are no class, and
a class the split cannot validate is named. Reference: the file lists written by the test."""

import logging

import numpy as np
from PIL import Image

from dlf.data import ImageDataLoaders


def _write(root, counts: dict, rng=None) -> list:
    rng = rng or np.random.default_rng(0)
    written = []
    for cls, n in counts.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            path = root / cls / f"{cls}_{i}.png"
            Image.fromarray(rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)).save(path)
            written.append(path)
    return written


def _loose(folder, name="new.png"):
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((6, 6, 3), np.uint8)).save(folder / name)
    return folder / name


def _dls(path, **kw):
    return ImageDataLoaders.from_folder(path, size=4, bs=2, progress=False, **kw)


def test_both_layouts_give_the_same_classes_and_test_is_never_a_class(tmp_path):
    flat, nested = tmp_path / "flat", tmp_path / "nested"
    _write(flat, {"cat": 5, "dog": 5})
    _write(flat / "test", {"sub": 2})  # before: "test" became a class of the flat layout
    _loose(flat / "test", "x.png")
    _write(nested / "train", {"cat": 5, "dog": 5})
    _loose(nested / "test", "x.png")
    a, b = _dls(flat), _dls(nested)
    assert a.vocab == b.vocab == ["cat", "dog"]
    assert len(a.datasets.items) == len(b.datasets.items) == 10


def test_valid_folder_is_the_validation_set_in_both_layouts(tmp_path):
    from dlf.data.image_dls import class_folders

    for root in (tmp_path / "flat", tmp_path / "nested" / "train"):
        train = _write(root, {"cat": 4, "dog": 4})
        valid = _write(root.parent / "valid" if root.name == "train" else root / "valid",
                       {"cat": 2, "dog": 2})  # fmt: skip
        files, labels, n_train = class_folders(root if root.name != "train" else root.parent)
        assert files[:n_train] == train and files[n_train:] == valid
        assert labels == ["cat"] * 4 + ["dog"] * 4 + ["cat"] * 2 + ["dog"] * 2
        dls = _dls(root if root.name != "train" else root.parent)
        tr, va = dls.datasets.splits
        assert dls.vocab == ["cat", "dog"]
        assert [dls.datasets.items[i] for i in va] == valid
        assert [dls.datasets.items[i] for i in tr] == train


def test_files_in_the_root_are_no_class_and_noted_once(tmp_path, caplog):
    # before: the README's my_project/new.jpg trained as a class named "my_project"
    _write(tmp_path / "my_project", {"cat": 5, "dog": 5})
    _loose(tmp_path / "my_project", "new.png")
    _loose(tmp_path / "my_project", "other.png")
    with caplog.at_level(logging.WARNING, logger="dlf.data"):
        dls = _dls(tmp_path / "my_project")
    assert dls.vocab == ["cat", "dog"] and len(dls.datasets.items) == 10
    notes = [r.getMessage() for r in caplog.records if "outside any class folder" in r.message]
    assert len(notes) == 1 and "2 image(s)" in notes[0] and "new.png" in notes[0]


def test_a_class_the_split_cannot_validate_is_named(tmp_path, caplog):
    # before: the one-image class was silently never validated
    _write(tmp_path, {"cat": 10, "dog": 10, "rare": 1})
    with caplog.at_level(logging.WARNING, logger="dlf.data"):
        dls = _dls(tmp_path, valid_pct=0.2, seed=0)
    labels = [p.parent.name for p in dls.datasets.items]
    rare = labels.index("rare")
    where = "validation" if rare in dls.datasets.splits[0] else "training"
    lines = [r.getMessage() for r in caplog.records if "too few images" in r.message]
    assert len(lines) == 1 and f"no {where} image for 'rare' (1 image)" in lines[0]
    caplog.clear()
    _write(tmp_path / "ok", {"cat": 10, "dog": 10})
    with caplog.at_level(logging.WARNING, logger="dlf.data"):
        _dls(tmp_path / "ok", valid_pct=0.5)
    assert not [r for r in caplog.records if "too few images" in r.message]
