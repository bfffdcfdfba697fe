"""The decoded-image cache: build, reuse, invalidation, resume, bad files.
Reference: read_image + resize on each file directly."""

import json
import os

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.data.cache import ImageCache
from dlf.data.image import read_image, resize


def _files(tmp_path, write_png, n=6, size=(12, 10)):
    rng = np.random.default_rng(0)
    return [
        write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (*size, 3), dtype=np.uint8))
        for i in range(n)
    ]


class CountingReader:
    def __init__(self, fail_at=None):
        self.calls, self.fail_at = [], fail_at

    def __call__(self, item):
        self.calls.append(str(item))
        if self.fail_at is not None and len(self.calls) > self.fail_at:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-build
        return read_image(item)


def test_build_matches_direct_decode_and_reopens(tmp_path, write_png):
    paths = _files(tmp_path, write_png)
    cache = ImageCache.build(paths, (8, 6), tmp_path / "c", workers=2, progress=False)
    assert cache.array.shape == (6, 8, 6, 3) and cache.array.dtype == np.uint8
    for i, p in enumerate(paths):
        assert np.array_equal(cache[i], resize(read_image(p), (8, 6)))
    assert cache.orig_shapes.tolist() == [[12, 10]] * 6
    again = ImageCache.open(tmp_path / "c")
    assert np.array_equal(again.array, cache.array)
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert manifest["shape"] == [6, 8, 6, 3] and manifest["items"][0]["files"][0][0] == str(
        paths[0]
    )


def test_reuse_decodes_nothing_and_change_rebuilds_only_that_row(tmp_path, write_png):
    paths = _files(tmp_path, write_png)
    ImageCache.build(paths, 8, tmp_path / "c", progress=False)
    reader = CountingReader()
    ImageCache.build(paths, 8, tmp_path / "c", reader=reader, channels=3, progress=False)
    assert reader.calls == []
    new = np.full((12, 10, 3), 7, np.uint8)
    write_png(paths[2], new)
    os.utime(paths[2], ns=(1, 1))  # a different mtime even on coarse clocks
    cache = ImageCache.build(paths, 8, tmp_path / "c", reader=reader, channels=3, progress=False)
    assert reader.calls == [str(paths[2])]
    assert (cache[2] == 7).all()
    # a new target size is a new cache: everything is decoded again
    reader.calls.clear()
    ImageCache.build(paths, 4, tmp_path / "c", reader=reader, channels=3, progress=False)
    assert len(reader.calls) == 6


def test_resume_after_interruption(tmp_path, write_png):
    paths = _files(tmp_path, write_png, n=8)
    with pytest.raises(KeyboardInterrupt):
        ImageCache.build(
            paths,
            8,
            tmp_path / "c",
            reader=CountingReader(fail_at=3),
            channels=3,
            workers=1,
            progress=False,
        )
    states = [
        r["state"] for r in json.loads((tmp_path / "c" / "manifest.json").read_text())["items"]
    ]
    assert states.count("done") == 3
    reader = CountingReader()
    cache = ImageCache.build(paths, 8, tmp_path / "c", reader=reader, channels=3, progress=False)
    assert len(reader.calls) == 5 and cache.ok.all()
    for i, p in enumerate(paths):
        assert np.array_equal(cache[i], resize(read_image(p), (8, 8)))


def test_bad_file_raises_with_index_or_is_skipped(tmp_path, write_png):
    paths = _files(tmp_path, write_png, n=4)
    paths[2].write_bytes(b"")
    with pytest.raises(DlfError, match=r"item 2: .*2\.png"):
        ImageCache.build(paths, 8, None, channels=3, progress=False)
    cache = ImageCache.build(paths, 8, tmp_path / "c", on_error="skip", progress=False)
    assert cache.ok.tolist() == [True, True, False, True]
    assert [(i, s) for i, s, _ in cache.skipped] == [(2, str(paths[2]))]


def test_gray_promoted_to_rgb_and_masks_nearest(tmp_path, write_png):
    g = write_png(tmp_path / "g.png", np.arange(120, dtype=np.uint8).reshape(12, 10))
    cache = ImageCache.build([g], (12, 10), None, channels=3, progress=False)
    assert (cache[0] == np.arange(120).reshape(12, 10, 1)).all()
    m = write_png(tmp_path / "m.png", (np.arange(120).reshape(12, 10) % 3).astype(np.uint8))
    masks = ImageCache.build([m], (5, 5), None, nearest=True, progress=False)
    assert set(np.unique(masks.array)) <= {0, 1, 2}
