"""Deployment paths: torch.export (always) and ONNX (when the onnx packages are installed)."""

import pytest
import torch

from dlf.models import resnet18


def test_torch_export_resnet18_matches_eager():
    model = resnet18(num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x), rtol=1e-4, atol=1e-5)


def test_onnx_export_resnet18(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    model = resnet18(num_classes=10).eval()
    torch.onnx.export(model, (torch.randn(1, 3, 32, 32),), str(tmp_path / "r18.onnx"))
    onnx.checker.check_model(onnx.load(str(tmp_path / "r18.onnx")))
