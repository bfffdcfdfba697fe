import pytest
import torch

from dlf.core import DlfError, resolve_precision
from dlf.core.hardware import fast_bf16


def test_auto_follows_hardware():
    p = resolve_precision("auto", "cpu")
    assert p.name == ("bf16" if fast_bf16("cpu") else "fp32")


def test_explicit_precisions():
    assert resolve_precision("fp32", "cpu").autocast_dtype is None
    assert resolve_precision("bf16", "cpu").autocast_dtype is torch.bfloat16
    assert not resolve_precision("fp16", "cpu").needs_scaler  # no GradScaler on CPU
    assert resolve_precision("fp16", "cuda").needs_scaler


def test_unknown_precision_is_refused():
    with pytest.raises(DlfError, match="fp8"):
        resolve_precision("fp8", "cpu")
