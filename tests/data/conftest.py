import numpy as np
import pytest
from PIL import Image


@pytest.fixture
def write_png():
    """Write an HxWxC (or HxW) uint8/uint16 array as a PNG and return its path."""

    def write(path, arr):
        arr = np.asarray(arr)
        if arr.ndim == 3 and arr.shape[-1] == 1:
            arr = arr[..., 0]
        if arr.dtype == np.uint16:
            Image.fromarray(arr).save(path)  # uint16 -> mode "I;16"
        else:
            Image.fromarray(arr).save(path)
        return path

    return write
