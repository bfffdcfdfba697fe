"""The generic array cache: any fixed-shape row made once from its sources (6-channel cell
stacks, per-video frame features), reused, remade only where a source changed.
Reference: the row maker called on each source directly."""

import os

import numpy as np
import pytest

from dlf.core import DlfError
from dlf.data.cache import ArrayCache
from dlf.data.image import read_image


def six_channel_sites(tmp_path, write_png, n=3):
    """Recursion-style sites: six single-channel PNGs per site (w1..w6)."""
    rng = np.random.default_rng(0)
    sites = []
    for s in range(n):
        sites.append(
            [
                write_png(tmp_path / f"B02_s{s}_w{c}.png", rng.integers(0, 256, (8, 8), np.uint8))
                for c in range(1, 7)
            ]
        )
    return sites


def stack(paths):
    return np.concatenate([read_image(p) for p in paths], axis=-1)


def test_six_channel_stacks_build_reopen_and_remake_only_a_changed_site(tmp_path, write_png):
    sites = six_channel_sites(tmp_path, write_png)
    calls = []

    def make(paths):
        calls.append(str(paths[0]))
        return stack(paths)

    cache = ArrayCache.build(sites, make, (8, 8, 6), folder=tmp_path / "c", progress=False)
    assert cache.array.shape == (3, 8, 8, 6) and cache.ok.all()
    for i, site in enumerate(sites):
        assert np.array_equal(cache[i], stack(site))
    assert np.array_equal(ArrayCache.open(tmp_path / "c").array, cache.array)

    calls.clear()
    write_png(sites[1][4], np.full((8, 8), 9, np.uint8))  # one channel of one site changes
    os.utime(sites[1][4], ns=(1, 1))
    again = ArrayCache.build(sites, make, (8, 8, 6), folder=tmp_path / "c", progress=False)
    assert calls == [str(sites[1][0])]
    assert (again[1][..., 4] == 9).all() and np.array_equal(again[0], cache[0])


def test_float_frame_features_keep_their_dtype_and_facts(tmp_path):
    """YouTube-8M-style rows: 300 frames x 8 features, dequantised to float16, the frame
    count kept in the manifest."""
    rng = np.random.default_rng(1)
    paths = []
    for v in range(4):
        n = int(rng.integers(5, 300))
        np.save(tmp_path / f"v{v}.npy", rng.integers(0, 256, (n, 8), dtype=np.uint8))
        paths.append(tmp_path / f"v{v}.npy")

    def make(path):
        q = np.load(path)
        row = np.zeros((300, 8), np.float16)
        row[: len(q)] = q * (4 / 255) + 4 / 512 - 2
        return row, {"frames": len(q)}

    cache = ArrayCache.build(
        paths, make, (300, 8), np.float16, folder=tmp_path / "c", progress=False
    )
    assert cache.array.dtype == np.float16
    assert [r["frames"] for r in cache.rows] == [len(np.load(p)) for p in paths]
    ref, _ = make(paths[2])
    assert np.array_equal(cache[2], ref)


def test_a_row_of_the_wrong_shape_and_a_bad_source(tmp_path):
    paths = [tmp_path / "a.npy", tmp_path / "b.npy"]
    np.save(paths[0], np.zeros((4,), np.float32))
    np.save(paths[1], np.zeros((5,), np.float32))
    with pytest.raises(
        DlfError, match=r"b.npy: made a row of shape \(5,\), the cache holds \(4,\)"
    ):
        ArrayCache.build(paths, np.load, (4,), np.float32, progress=False)
    skipped = ArrayCache.build(paths, np.load, (4,), np.float32, on_error="skip", progress=False)
    assert skipped.ok.tolist() == [True, False] and skipped.skipped[0][0] == 1
