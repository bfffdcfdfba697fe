"""The SIIM-ACR run-length encoding of a binary mask.

An RLE is a string of integer pairs `start length`. Pixels are numbered column-major
(down the first column, then the next: the mask transposed, then flattened). The FIRST
start is a 0-based absolute pixel index; every later start counts the pixels skipped
since the END of the previous run. An empty mask is written `-1`.

    mask (H=4, W=4), pixel index = col * 4 + row:   runs at 1..2, 7..8, 15
    absolute (start, end):  (1, 3) (7, 9) (15, 16)  ->  "1 2 4 2 6 1"

The competition's own sample encoder never writes the run that is still open at the last
pixel; this codec does, so every mask round-trips.
"""

from collections.abc import Iterable

import numpy as np

from dlf.core import DlfError

EMPTY = "-1"


def rle_encode(mask: np.ndarray) -> str:
    """Encode a 2-D mask (nonzero = inside) as a SIIM RLE string; `-1` when empty."""
    if mask.ndim != 2:
        raise ValueError(f"rle_encode needs a 2-D mask, got shape {mask.shape}")
    flat = np.asarray(mask).T.ravel() != 0  # column-major pixel order
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # start, end, start, end, ...
    if edges.size == 0:
        return EMPTY
    starts, ends = edges[0::2], edges[1::2]
    gaps = starts.copy()
    gaps[1:] -= ends[:-1]  # later starts count from the end of the previous run
    pairs = np.stack([gaps, ends - starts], axis=1).ravel()
    return " ".join(map(str, pairs.tolist()))


def rle_runs(rle: str, n_pixels: int, where: str = "RLE") -> tuple[np.ndarray, np.ndarray]:
    """Parse and check an RLE: absolute (starts, ends) in column-major pixel indices."""
    text = rle.strip()
    if text in ("", EMPTY):
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    tokens = text.split()
    try:
        values = np.array(tokens, dtype=np.int64)
    except (ValueError, OverflowError):
        bad = next(i for i, t in enumerate(tokens) if not _is_int(t))
        raise DlfError(
            f"{where}: value {bad + 1} of the RLE is {tokens[bad]!r}, not an integer; "
            "an RLE is space-separated whole numbers 'start length ...' or -1 for an empty mask"
        ) from None
    if values.size % 2:
        raise DlfError(
            f"{where}: the RLE has {values.size} numbers, an odd count; "
            "it must be pairs 'start length'"
        )
    if (values < 0).any():
        bad = int(np.flatnonzero(values < 0)[0])
        raise DlfError(
            f"{where}: value {bad + 1} of the RLE is negative ({values[bad]}); "
            "starts and lengths are >= 0 (only a lone -1 means an empty mask)"
        )
    gaps, lengths = values[0::2], values[1::2]
    ends = np.cumsum(gaps + lengths)
    if ends[-1] > n_pixels:
        run = int(np.flatnonzero(ends > n_pixels)[0])
        raise DlfError(
            f"{where}: run {run + 1} of the RLE ends at pixel {ends[run]}, past the image end "
            f"({n_pixels} pixels); check the image size and that starts are relative"
        )
    return ends - lengths, ends


def rle_decode(rle: str, height: int = 1024, width: int = 1024, where: str = "RLE") -> np.ndarray:
    """Decode one RLE into a (height, width) bool mask."""
    starts, ends = rle_runs(rle, height * width, where)
    return _paint(starts, ends, height, width)


def rle_decode_union(
    rles: Iterable[str], height: int = 1024, width: int = 1024, where: str = "RLE"
) -> np.ndarray:
    """Decode several RLEs (one per instance) into the (height, width) mask of their union."""
    n = height * width
    runs = [rle_runs(r, n, f"{where} (instance {i + 1})") for i, r in enumerate(rles)]
    none = np.zeros(0, np.int64)
    starts = np.concatenate([s for s, _ in runs] or [none])
    ends = np.concatenate([e for _, e in runs] or [none])
    return _paint(starts, ends, height, width)


def _paint(starts: np.ndarray, ends: np.ndarray, height: int, width: int) -> np.ndarray:
    n = height * width
    # +1 where a run opens, -1 where it closes; the running sum counts the runs covering
    # each pixel, so overlapping instances simply count twice.
    coverage = np.zeros(n + 1, dtype=np.int32)
    np.add.at(coverage, starts, 1)
    np.add.at(coverage, ends, -1)
    np.cumsum(coverage, out=coverage)
    return np.ascontiguousarray((coverage[:n] > 0).reshape(width, height).T)


def _is_int(token: str) -> bool:
    try:
        return -(2**63) <= int(token) < 2**63
    except ValueError:
        return False
