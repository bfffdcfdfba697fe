"""`dlf export`: a run's model as ONNX, TorchScript or a torch.export program, with its
sidecar. Reference: the PyTorch model's own output on the same inputs (onnxruntime runs the
ONNX file; torch.jit.load and torch.export.load the others), for a classifier (aptos), a
segmentation U-Net (siim) and a detector (oid's FCOS, whose five outputs all come back)."""

import dataclasses
import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from dlf.cli import main
from dlf.core.errors import DlfError
from dlf.tasks.base import TrainConfig
from dlf.tasks.compose import context
from dlf.tasks.export import export_run
from dlf.tasks.registry import get_task
from dlf.tasks.runner import RunLog
from dlf.train.checkpoint import load_weights, save_weights


@pytest.fixture(autouse=True)
def small_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def fake_run(tmp_path, task_name: str, arch: str, size: int, fitted=None, post=None, options=None):
    """A finished run folder whose model has its initial weights: export does not care how
    the weights were found, and building one takes a second instead of a training run."""
    task = get_task(task_name)
    cfg = TrainConfig(task=task.name, arch=arch, size=size, data=str(tmp_path),
                      options=options or {}).fill_defaults(task.defaults)  # fmt: skip
    torch.manual_seed(0)
    ctx = context(task, cfg, tmp_path, RunLog(None), fitted)
    model = task.model(ctx).eval()
    run = tmp_path / f"run-{task_name}"
    run.mkdir()
    save_weights(model, run / "model.safetensors")
    config = {"config": dataclasses.asdict(cfg), "fitted": fitted or {}, "postprocess": post or {}}
    (run / "config.json").write_text(json.dumps(config))
    return task, run


def reference(task, run):
    from dlf.tasks.runner import load_run

    cfg, fitted, _ = load_run(task, run)
    model = task.model(context(task, cfg, run, RunLog(None), fitted))
    load_weights(model, run / "model.safetensors")
    return model.eval()


def outputs(model, x):
    with torch.no_grad():
        out = model(x)
    return [out] if isinstance(out, torch.Tensor) else list(out)


def check_onnx(task, run, x, atol=1e-4):
    path = export_run(task, run, "onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": x.numpy()})
    want = outputs(reference(task, run), x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w.numpy(), atol=atol, rtol=1e-3)
    return json.loads(path.with_name(path.name + ".json").read_text())


def test_aptos_classifier_onnx_matches_pytorch_and_sidecar_says_how_to_feed_it(tmp_path):
    # lenet keeps the test quick; the resnet18 backbone is exported in the siim and oid tests
    task, run = fake_run(tmp_path, "aptos", "lenet", 32, post={"thresholds": [0.5, 1.5, 2.5, 3.5], "tta": 2})  # fmt: skip
    # a batch of 3, not the 2 it was traced with: the batch size stays free
    x = torch.randn(3, 3, 32, 32)
    side = check_onnx(task, run, x)
    assert side["input"]["shape"] == ["batch", 3, 32, 32] and side["input"]["size"] == [32, 32]
    # ImageNet statistics, what aptos's Normalize() uses
    np.testing.assert_allclose(side["input"]["mean"], [0.485, 0.456, 0.406])
    np.testing.assert_allclose(side["input"]["std"], [0.229, 0.224, 0.225])
    assert side["outputs"] == [{"name": "output", "shape": ["batch", 1]}]
    assert "to_score" in side["output_meaning"]["activation"]
    assert side["output_meaning"]["postprocess"]["thresholds"] == [0.5, 1.5, 2.5, 3.5]


def test_torchscript_and_exported_match_pytorch(tmp_path):
    task, run = fake_run(tmp_path, "aptos", "lenet", 32)
    x = torch.randn(2, 3, 32, 32)
    want = outputs(reference(task, run), x)[0]
    ts = torch.jit.load(str(export_run(task, run, "torchscript")))
    torch.testing.assert_close(ts(x)[0], want)
    program = torch.export.load(str(export_run(task, run, "exported")))
    torch.testing.assert_close(program.module()(torch.randn(5, 3, 32, 32))[0].shape, torch.Size([5, 1]))  # fmt: skip
    torch.testing.assert_close(program.module()(x)[0], want)


def test_siim_segmentation_exports_to_onnx(tmp_path):
    task, run = fake_run(tmp_path, "siim", "unet_resnet18", 64)
    side = check_onnx(task, run, torch.randn(2, 1, 64, 64))
    assert side["input"]["channels"] == 1 and side["output_meaning"]["dense"] is True
    assert side["outputs"][0]["shape"] == ["batch", 1, 64, 64]


def test_oid_fcos_detector_exports_to_onnx_with_all_five_outputs(tmp_path):
    fitted = {"classes": ["/m/a", "/m/b", "/m/c"], "display_names": ["a", "b", "c"], "ancestors": [[], [], []]}  # fmt: skip
    task, run = fake_run(tmp_path, "oid", "fcos_resnet18", 64, fitted=fitted,
                         options={"fpn_channels": 32, "head_depth": 1})  # fmt: skip
    side = check_onnx(task, run, torch.randn(2, 3, 64, 64), atol=1e-3)
    assert [o["name"] for o in side["outputs"]] == ["logits", "ltrb", "centerness", "points", "strides"]  # fmt: skip
    assert side["outputs"][0]["shape"][0] == "batch" and side["outputs"][3]["shape"][0] != "batch"
    assert side["output_meaning"]["merged_by_tta"] is True
    assert side["output_meaning"]["labels"] == ["a", "b", "c"]


def test_cli_export_and_its_errors(tmp_path, capsys):
    _, run = fake_run(tmp_path, "aptos", "lenet", 32)
    out = tmp_path / "m.pt"
    assert main(["export", str(run), "--format", "torchscript", "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "m.pt.json").is_file()
    capsys.readouterr()
    assert main(["export", str(tmp_path / "nowhere"), "--format", "onnx"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a run folder" in err[0]
    assert main(["export", str(run), "--format", "tflite"]) == 2
    with pytest.raises(DlfError, match="choose one of onnx, torchscript, exported"):
        export_run(get_task("aptos"), run, "tflite")


def test_export_replaces_a_file_whole_and_gets_a_new_files_mode(tmp_path):
    import os

    _, run = fake_run(tmp_path, "aptos", "lenet", 32)
    out = tmp_path / "model.pt2"
    out.write_text("an older export")
    os.chmod(out, 0o640)
    export_run(get_task("aptos"), run, "exported", out)
    assert out.stat().st_mode & 0o777 == 0o640  # the replaced file's mode is kept
    torch.export.load(str(out))  # and it is the new export, whole
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.pt2.")]
    fresh = export_run(get_task("aptos"), run, "torchscript", tmp_path / "fresh.pt")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's owner-only 0600
