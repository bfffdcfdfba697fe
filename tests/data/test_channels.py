"""One channel count per dataset, decided once from every file (issue 12, items 1-2).
References: Pillow's own conversions of each file (Image.convert("RGB")), the 16-bit scaling
written out by hand, and Normalize's formula with the averaged ImageNet statistics by hand."""

import numpy as np
import pytest
import torch
from PIL import Image

from dlf.core import DlfError
from dlf.data import ImageBlock, ImageCache, ImageDataLoaders, Normalize
from dlf.data.augment import IMAGENET_MEAN, IMAGENET_STD

SIZE = 8
GRAY = ("L", "I;16", "1", "LA")
COLOUR = ("RGB", "RGBA", "P", "CMYK")


def _image(mode: str, rng) -> Image.Image:
    rgb = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    gray = rng.integers(0, 256, (SIZE, SIZE), dtype=np.uint8)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (SIZE, SIZE)).astype(np.uint16))
    if mode == "LA":
        return Image.fromarray(np.stack([gray, gray[::-1]], -1), mode="LA")
    if mode == "1":
        return Image.fromarray(gray > 127)
    if mode in ("L", "RGB"):
        return Image.fromarray(gray if mode == "L" else rgb)
    return Image.fromarray(rgb).convert(mode)  # RGBA, P (palette), CMYK


def _write(folder, modes, first: int) -> dict:
    """One file per mode; the file names rotate so that modes[first] sorts first."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for k, mode in enumerate(modes):
        rank = (k - first) % len(modes)
        suffix = ".tif" if mode == "CMYK" else ".png"  # PNG has no CMYK
        path = folder / f"{rank}_{mode.replace(';', '')}{suffix}"
        _image(mode, rng).save(path)
        paths[mode] = path
    return paths


def _gray_reference(mode: str, path) -> np.ndarray:
    with Image.open(path) as im:
        if mode == "I;16":  # 16 bit -> 8 bit by 255/65535, rounded
            return ((np.asarray(im).astype(np.uint32) + 128) // 257).astype(np.uint8)
        return np.asarray(im.convert("L"))


@pytest.mark.parametrize("first", range(len(GRAY + COLOUR)))
def test_mixed_modes_load_as_rgb_whatever_sorts_first(tmp_path, first):
    # before: the first file in sort order decided, so a gray file first made every RGB
    # image luma (1 channel) and an RGB file first kept 3
    paths = _write(tmp_path, GRAY + COLOUR, first)
    files = sorted(paths.values())
    cache = ImageCache.build(files, SIZE, progress=False)
    assert cache.array.shape == (len(files), SIZE, SIZE, 3)
    for mode, path in paths.items():
        row = cache[files.index(path)]
        if mode in GRAY:  # gray repeated to R = G = B
            for c in range(3):
                assert np.array_equal(row[..., c], _gray_reference(mode, path)), mode
        else:
            with Image.open(path) as im:
                assert np.array_equal(row, np.asarray(im.convert("RGB"))), mode


@pytest.mark.parametrize("first", range(len(GRAY)))
def test_all_single_channel_modes_stay_one_channel(tmp_path, first):
    paths = _write(tmp_path, GRAY, first)
    files = sorted(paths.values())
    cache = ImageCache.build(files, SIZE, progress=False)
    assert cache.array.shape[-1] == 1
    for mode, path in paths.items():
        assert np.array_equal(cache[files.index(path)][..., 0], _gray_reference(mode, path))


def test_channels_can_be_forced(tmp_path):
    paths = _write(tmp_path, GRAY + COLOUR, 0)
    files = sorted(paths.values())
    gray = ImageCache.build(files, SIZE, channels=1, progress=False)
    assert gray.array.shape[-1] == 1
    with Image.open(paths["RGB"]) as im:  # luma, as Pillow's convert("L") (within rounding)
        want = np.asarray(im.convert("L")).astype(int)
    assert np.abs(gray[files.index(paths["RGB"])][..., 0].astype(int) - want).max() <= 1
    only_gray = sorted(p for m, p in paths.items() if m in GRAY)
    assert ImageCache.build(only_gray, SIZE, channels=3, progress=False).array.shape[-1] == 3
    with pytest.raises(DlfError, match="channels must be"):
        ImageBlock(SIZE, channels=0)


def _class_folder(root, modes_by_class: dict) -> None:
    rng = np.random.default_rng(1)
    for cls, modes in modes_by_class.items():
        (root / cls).mkdir(parents=True)
        for i, mode in enumerate(modes):
            _image(mode, rng).save(root / cls / f"{i}.png")


def test_from_folder_decides_from_all_files_and_exposes_channels(tmp_path):
    # class "a" (sorted first) is gray, class "b" holds one RGB image among gray ones
    _class_folder(tmp_path / "mixed", {"a": ["L"] * 4, "b": ["L", "L", "RGB", "L"]})
    dls = ImageDataLoaders.from_folder(tmp_path / "mixed", size=SIZE, bs=4, progress=False)
    assert dls.channels == 3 and dls.one_batch()[0].shape[1] == 3
    _class_folder(tmp_path / "gray", {"a": ["L"] * 4, "b": ["I;16"] * 4})
    dls = ImageDataLoaders.from_folder(tmp_path / "gray", size=SIZE, bs=4, progress=False)
    assert dls.channels == 1 and dls.one_batch()[0].shape[1] == 1
    # a new colour image is read as the model was trained: one channel
    assert dls.test_batch([tmp_path / "mixed" / "b" / "2.png"])[0].shape == (1, 1, SIZE, SIZE)
    forced = ImageDataLoaders.from_folder(
        tmp_path / "gray", size=SIZE, bs=4, channels=3, progress=False
    )
    assert forced.channels == 3 and forced.one_batch()[0].shape[1] == 3


def test_normalize_one_channel_with_averaged_imagenet_stats():
    # before: "Normalize has 3 means for images of 1 channels"
    x = torch.randint(0, 256, (2, 1, 4, 4), dtype=torch.uint8)
    (out,) = Normalize()((x,))
    mean, std = sum(IMAGENET_MEAN) / 3, sum(IMAGENET_STD) / 3
    assert torch.allclose(out, (x.float() / 255 - mean) / std, atol=1e-6)
    assert torch.allclose(Normalize().decode(out), x.float() / 255, atol=1e-6)
    with pytest.raises(DlfError, match="3 means for images of 2 channels"):
        Normalize()((torch.zeros(1, 2, 4, 4),))
