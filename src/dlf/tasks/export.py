"""`dlf export RUN --format onnx|torchscript|exported`: a run's model as one file another
program can load without dlf, with a JSON sidecar that says how to prepare its input and
what its outputs mean.

The three formats, as torch 2.13 makes them (all checked in tests/tasks/test_export.py):
- onnx: `torch.onnx.export(..., dynamo=True)`, the torch.export-based exporter (the legacy
  TorchScript-based one still works but warns that it is deprecated); weights inside the one
  .onnx file (external_data=False; fine below ONNX's 2 GB limit), batch size free;
- torchscript: `torch.jit.trace` at the run's image size, saved with `torch.jit.save` (.pt);
- exported: `torch.export.export` with a free batch size, saved with `torch.export.save`
  (.pt2; load with `torch.export.load(path).module()`).
The file holds the network only: the task's activation, TTA, decoding (boxes: NMS) and
fitted post-processing run after it, and the sidecar names them.
"""

import contextlib
import dataclasses
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path

import torch
from torch import nn

from dlf.core.atomic import atomic_write_text
from dlf.core.errors import DlfError
from dlf.data.augment import Normalize
from dlf.tasks.base import Task
from dlf.tasks.compose import context
from dlf.tasks.runner import RunLog, load_run
from dlf.train.checkpoint import load_weights

FORMATS = {"onnx": ".onnx", "torchscript": ".pt", "exported": ".pt2"}


def _in_chans(model: nn.Module) -> int:
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is None:
        raise DlfError(
            "dlf export writes image models (N x C x H x W input); this model has no "
            "convolution, so its input shape is not known"
        )
    return first.in_channels


class _Outputs(nn.Module):
    """The model with its outputs as a flat tuple of tensors (a detector's named tuple is
    one already; a single tensor becomes a 1-tuple), so every format sees the same thing."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(x)
        return (out,) if isinstance(out, torch.Tensor) else tuple(out)


def _output_names(out) -> list[str]:
    if isinstance(out, torch.Tensor):
        return ["output"]
    fields = getattr(out, "_fields", None)
    return list(fields) if fields else [f"output{i}" for i in range(len(out))]


def _describe(fn) -> str | None:
    """An activation (a function of the raw output) as a reader can look it up."""
    if fn is None:
        return None
    name = getattr(fn, "__qualname__", type(fn).__name__)
    doc = " ".join((getattr(fn, "__doc__", None) or "").strip().split("\n\n")[0].split())
    return f"{getattr(fn, '__module__', '')}.{name}" + (f": {doc}" if doc else "")


def _write_atomically(path: Path, write) -> None:
    """`write(tmp_path)` into a temporary file beside `path`, renamed onto it when done (the
    exporters take a path, not an open file, so dlf.core.atomic's recipe is spelt out here:
    the file gets the mode of the one it replaces, or of any new file, not mkstemp's 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _quiet_onnx_exporter():
    """The exporter logs that torchvision's ops are not registered (dlf does not use them) and
    warns about torch's own deprecations; neither concerns the user, so both are hushed while
    it runs (and the logger's level is put back)."""
    logger = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            yield
    finally:
        logger.setLevel(level)


def export_model(model: nn.Module, example: torch.Tensor, fmt: str, path: Path) -> list[str]:
    """Write `model` (eval mode, on the CPU) in format `fmt` to `path`, traced on `example`
    (N x C x H x W); the batch size stays free where the format allows. Returns the output
    names, in order."""
    if fmt not in FORMATS:
        raise DlfError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    model = _Outputs(model.cpu()).eval()
    with torch.no_grad():
        names = _output_names(model.model(example))
    batch = {0: torch.export.Dim("batch", min=1, max=1024)}
    if fmt == "onnx":
        with _quiet_onnx_exporter():
            _write_atomically(path, lambda tmp: torch.onnx.export(
                model, (example,), tmp, dynamo=True, external_data=False, verbose=False,
                input_names=["image"], output_names=names, dynamic_shapes=(batch,)))  # fmt: skip
    elif fmt == "torchscript":
        with torch.no_grad():
            traced = torch.jit.trace(model, example)
        _write_atomically(path, lambda tmp: torch.jit.save(traced, tmp))
    else:
        program = torch.export.export(model, (example,), dynamic_shapes=(batch,))
        _write_atomically(path, lambda tmp: torch.export.save(program, tmp))
    return names


def preprocessing(task: Task, ctx, in_chans: int) -> dict:
    """What must happen to an image before the exported model sees it, from the task's
    inference transforms (those that also run on validation batches)."""
    steps = [t for t in task.transforms(ctx) if not getattr(t, "train_only", False)]
    norm = next((t for t in steps if isinstance(t, Normalize)), None)
    mean, std = norm.stats(in_chans) if norm is not None else (None, None)
    return {
        "size": [ctx.cfg.size, ctx.cfg.size],
        "channels": in_chans,
        "channel_order": "RGB" if in_chans == 3 else "gray" if in_chans == 1 else "task-specific",
        "layout": "NCHW float32",
        "scale": "uint8 pixels / 255 -> 0..1, then (x - mean) / std per channel" if norm else None,
        "mean": mean,
        "std": std,
        "inference_transforms": [repr(t) for t in steps],
        "reader": f"the {task.name} task's own image reader and cache at this size "
        f"(dlf.tasks.{task.name}); dlf predict {task.name} does all of this",
    }


def run_task(run: Path) -> str:
    """The task a run folder trained (its config.json), so `dlf export RUN` needs no TASK."""
    path = Path(run) / "config.json"
    if not path.is_file():
        raise DlfError(
            f"{run}: not a run folder (no config.json); pass the --out folder of `dlf train`"
        )
    try:
        return json.loads(path.read_text())["config"]["task"]
    except (ValueError, KeyError, TypeError) as e:
        raise DlfError(f"{path}: not a dlf run's config ({e}); train the run again") from None


def export_run(task: Task, run: Path, fmt: str, out: Path | None = None) -> Path:
    """Export a finished run's model (see the module docstring); the sidecar is written
    beside it as OUT.json. Returns the model file's path."""
    if fmt not in FORMATS:
        raise DlfError(f"--format {fmt}: choose one of {', '.join(FORMATS)}")
    run = Path(run)
    cfg, fitted, post = load_run(task, run)
    ctx = context(task, cfg, Path(cfg.data or "."), RunLog(None), fitted)
    model = task.model(ctx)
    load_weights(model, run / "model.safetensors")
    model.eval()
    chans = _in_chans(model)
    out = Path(out or run / "export" / f"model{FORMATS[fmt]}")
    example = torch.rand(2, chans, cfg.size, cfg.size)
    names = export_model(model, example, fmt, out)
    with torch.no_grad():  # a dim that follows the batch size is named "batch"
        outs, ones = _Outputs(model)(example), _Outputs(model)(example[:1])
    shapes = [
        ["batch" if a != b else a for a, b in zip(o.shape, i.shape)] for o, i in zip(outs, ones)
    ]
    sidecar = {
        "format": fmt,
        "file": out.name,
        "task": task.name,
        "arch": cfg.arch,
        "run": str(run),
        "torch": torch.__version__,
        "input": {
            "name": "image",
            "shape": ["batch", chans, cfg.size, cfg.size],
            **preprocessing(task, ctx, chans),
        },
        "outputs": [{"name": n, "shape": shape} for n, shape in zip(names, shapes)],
        "output_meaning": {
            "activation": _describe(task.activation(ctx)),
            "dense": task.dense,
            "merged_by_tta": task.tta_merge(ctx) is not None,
            "decoded": _describe(task.decode(ctx)),
            "metric": task.metric_name,
            "postprocess": post,
            "labels": fitted.get("vocab") or fitted.get("display_names") or fitted.get("classes"),
        },
        "config": dataclasses.asdict(cfg),
    }
    atomic_write_text(out.with_name(out.name + ".json"), json.dumps(sidecar, indent=2))
    return out


__all__ = ["FORMATS", "export_model", "export_run", "preprocessing", "run_task"]
