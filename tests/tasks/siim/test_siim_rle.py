"""The SIIM-ACR RLE codec against the competition's definition.

Reference: the competition's data page and its sample `mask_functions.py` (`rle2mask`,
`mask2rle`). `rle2mask` keeps a running position: it adds each start to it, paints
`length` pixels, then adds the length, so the first start is absolute (0-based) and each
later one counts from the end of the previous run; it fills a flat array and reshapes it
to (width, height), which kernels transpose: pixels run down the columns. `mask2rle` walks
the pixels in that order and writes a run when it closes, so a run still open at the last
pixel is never written (the known bug that this codec must not have).
The loop codec below is written from that definition, pixel by pixel, as the reference.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dlf.core import DlfError
from dlf.tasks.siim.rle import rle_decode, rle_decode_union, rle_encode


def reference_decode(rle: str, height: int, width: int) -> np.ndarray:
    flat = np.zeros(height * width, dtype=bool)
    if rle.strip() != "-1":
        values = [int(v) for v in rle.split()]
        position = 0
        for start, length in zip(values[0::2], values[1::2]):
            position += start
            flat[position : position + length] = True
            position += length
    return flat.reshape(width, height).T


def reference_encode(mask: np.ndarray) -> str:
    """Pixel by pixel down the columns, closing the run left open at the last pixel."""
    height, width = mask.shape
    out, run_start, run_end_prev = [], None, 0
    for index in range(height * width + 1):
        inside = index < height * width and bool(mask[index % height, index // height])
        if inside and run_start is None:
            run_start = index
        elif not inside and run_start is not None:
            out += [run_start - run_end_prev, index - run_start]
            run_start, run_end_prev = None, index
    return " ".join(map(str, out)) or "-1"


def test_hand_worked_4x4():
    # pixel index = col * 4 + row; True at 1, 2 | 7, 8 (a run across a column) | 15 (the last)
    mask = np.zeros((4, 4), dtype=bool)
    mask[1:3, 0] = True  # pixels 1, 2
    mask[3, 1] = mask[0, 2] = True  # pixels 7, 8
    mask[3, 3] = True  # pixel 15
    # absolute runs (1,2) (7,2) (15,1); ends 3, 9, 16 -> relative starts 1, 7-3=4, 15-9=6
    assert rle_encode(mask) == "1 2 4 2 6 1"
    assert (rle_decode("1 2 4 2 6 1", 4, 4) == mask).all()


def test_hand_worked_5x3_not_square():
    # height 5, width 3: pixel index = col * 5 + row
    mask = np.zeros((5, 3), dtype=bool)
    mask[3:5, 0] = True  # pixels 3, 4
    mask[0, 1] = True  # pixel 5: one run 3..5 across the column boundary
    mask[2, 2] = True  # pixel 12
    mask[4, 2] = True  # pixel 14, the last
    assert rle_encode(mask) == "3 3 6 1 1 1"
    decoded = rle_decode("3 3 6 1 1 1", height=5, width=3)
    assert decoded.shape == (5, 3)
    assert (decoded == mask).all()
    # read as absolute starts, the same pixels overrun the image: the format is relative
    with pytest.raises(DlfError, match="past the image end"):
        rle_decode("3 3 12 1 14 1", 5, 3)
    # numbered row-major (along the rows), the same mask would read differently
    assert rle_encode(mask.T) != rle_encode(mask)


def test_empty_and_full():
    assert rle_encode(np.zeros((6, 7), bool)) == "-1"
    assert not rle_decode("-1", 6, 7).any()
    assert not rle_decode(" -1", 6, 7).any()
    full = np.ones((6, 7), bool)
    assert rle_encode(full) == "0 42"
    assert rle_decode("0 42", 6, 7).all()


def test_last_pixel_run_is_kept():
    mask = np.zeros((8, 8), bool)
    mask[5:, 7] = True  # a run that ends on the very last pixel
    assert rle_encode(mask) == "61 3"
    assert (rle_decode(rle_encode(mask), 8, 8) == mask).all()


def test_union_of_rows():
    a = rle_decode("0 2", 4, 4)
    b = rle_decode("1 3", 4, 4)
    union = rle_decode_union(["0 2", "1 3", "-1"], 4, 4)
    assert (union == (a | b)).all()
    assert union.T.ravel()[:4].tolist() == [True, True, True, True]
    assert not rle_decode_union([], 4, 4).any()


masks = st.integers(1, 12).flatmap(
    lambda h: st.integers(1, 12).flatmap(lambda w: arrays(bool, (h, w), elements=st.booleans()))
)


@settings(max_examples=200, deadline=None)
@given(masks)
def test_random_masks_round_trip_and_match_the_reference(mask):
    rle = rle_encode(mask)
    assert rle == reference_encode(mask)
    assert (rle_decode(rle, *mask.shape) == mask).all()
    assert (reference_decode(rle, *mask.shape) == mask).all()


@settings(max_examples=100, deadline=None)
@given(masks, st.booleans(), st.booleans())
def test_runs_at_first_and_last_pixel(mask, first, last):
    mask = mask.copy()
    mask[0, 0] = first
    mask[-1, -1] = last
    rle = rle_encode(mask)
    assert rle.startswith("0 ") == bool(mask[0, 0])  # 1x1: first is also last
    assert (rle_decode(rle, *mask.shape) == mask).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(arrays(bool, (5, 6), elements=st.booleans()), min_size=1, max_size=4))
def test_union_of_random_instances(instances):
    union = rle_decode_union([rle_encode(m) for m in instances], 5, 6)
    assert (union == np.logical_or.reduce(instances)).all()


@pytest.mark.parametrize(
    "rle, message",
    [
        ("1 2 3", "odd count"),
        ("1 -2", "negative"),
        ("-1 3", "negative"),
        ("1 2.5", "value 2 .*'2.5', not an integer"),
        ("1 abc", "value 2 .*'abc'"),
        ("99999999999999999999 1", "value 1"),
        ("10 5 1 2", "run 1 .* ends at pixel 15, past the image end .*12 pixels"),
        ("0 4 0 4 0 5", "run 3 "),
    ],
)
def test_malformed_rle_names_the_place(rle, message):
    with pytest.raises(DlfError, match=f"^train-rle.csv row 17: .*{message}"):
        rle_decode(rle, 3, 4, where="train-rle.csv row 17")


def test_union_error_names_the_instance():
    with pytest.raises(DlfError, match=r"img7 \(instance 2\)"):
        rle_decode_union(["0 1", "1"], 4, 4, where="img7")
