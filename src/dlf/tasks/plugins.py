"""A member's own part in a real run: `dlf train TASK --use FILE:NAME` (issue 20).

The week's exercises (dlf.exercises) grade a member's optimizer, loss, schedule, residual
block or Dataset; this module puts a passing one in place of dlf's own in the task's
pipeline, so the member sees it train a real model. What kind of part `NAME` is follows
from what it is (an Optimizer, a Dataset or an nn.Module class) or from its name (a function
named like a loss or a schedule); `KIND=FILE:NAME` says it outright. The run's config.json
keeps every part as `KIND=FILE:NAME`, so its report and `dlf predict` know them.

How each kind is used:
  optimizer  the Learner's optimizer: NAME(param_groups, lr=lr), the class's own defaults
  loss       the task's loss, called as NAME(prediction, target)
  schedule   the learning rate of the one-cycle fit: NAME(lr_max, div, div_final, pct_start)
             returns a function of progress in [0, 1]
  block      every dlf BasicBlock of the model is rebuilt as NAME(inplanes, planes, stride,
             downsample) with the same weights (so the run starts where dlf's would)
  dataset    NAME(data_folder, size) gives the training images (C x H x W in [0, 1]) and
             labels, in the order of the task's table, in place of dlf's reading of them
"""

import dataclasses
import importlib.util
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from dlf.core.errors import DlfError
from dlf.data.resident import array_column, image_column
from dlf.models.layers import BasicBlock
from dlf.tasks.base import Data

KINDS = ("optimizer", "loss", "schedule", "block", "dataset")


@dataclass
class MemberPart:
    kind: str
    spec: str  # KIND=FILE:NAME, as config.json keeps it
    obj: object

    @property
    def label(self) -> str:
        file, _, name = self.spec.partition("=")[2].rpartition(":")
        return f"{self.kind} {name} from {Path(file).name}"


def _load_file(path: Path) -> object:
    name = f"dlf_use_{path.stem}_{abs(hash(str(path)))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DlfError(f"--use {path}: not a Python file; give the .py file with your part")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(name, None)
        lines = [
            f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename) == path
        ]
        where = f":{lines[-1]}" if lines else ""
        raise DlfError(
            f"--use {path}{where}: importing it raised {type(e).__name__}: {e}"
        ) from None
    return module


def _infer_kind(obj: object, name: str) -> str | None:
    if isinstance(obj, type):
        if issubclass(obj, torch.optim.Optimizer):
            return "optimizer"
        if issubclass(obj, Dataset):
            return "dataset"
        if issubclass(obj, nn.Module):
            return "block"
        return None
    low = name.lower()
    if "loss" in low or "entropy" in low:
        return "loss"
    if "cycle" in low or "sched" in low:
        return "schedule"
    return None


def load_part(spec: str) -> MemberPart:
    """`[KIND=]FILE:NAME` -> the member's part, its kind checked or inferred."""
    kind, eq, rest = spec.partition("=")
    if not eq:
        kind, rest = "", spec
    file, colon, name = rest.rpartition(":")
    if not colon or not file or not name:
        raise DlfError(f"--use {spec}: write FILE:NAME, e.g. --use my_week4.py:Adam")
    if kind and kind not in KINDS:
        raise DlfError(f"--use {spec}: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    path = Path(file).resolve()
    if not path.is_file():
        raise DlfError(f"--use {spec}: {file}: file not found")
    obj = getattr(_load_file(path), name, None)
    if obj is None:
        raise DlfError(f"--use {spec}: {file} defines no {name!r}")
    kind = kind or _infer_kind(obj, name)
    if kind is None:
        raise DlfError(
            f"--use {spec}: say what {name} is: --use KIND={file}:{name}, KIND one of {', '.join(KINDS)}"
        )
    return MemberPart(kind, f"{kind}={path}:{name}", obj)


def member_parts(specs: list[str] | None) -> dict[str, MemberPart]:
    """The run's parts by kind; two of one kind are refused."""
    parts: dict[str, MemberPart] = {}
    for spec in specs or []:
        part = load_part(spec)
        if part.kind in parts:
            raise DlfError(
                f"--use: two parts of kind {part.kind} ({parts[part.kind].spec}, {part.spec}); give one"
            )
        parts[part.kind] = part
    return parts


def opt_func_of(part: MemberPart) -> Callable:
    """The Learner's `opt_func` from a member's optimizer class (its own default settings)."""
    cls = part.obj
    return lambda params, lr: cls(params, lr=lr)


def learner_settings(member: dict[str, MemberPart]) -> tuple[dict, dict]:
    """Keyword arguments for Learner(...) and fit_one_cycle(...) from a member's optimizer
    and schedule; empty when the run uses dlf's own."""
    opt = {"opt_func": opt_func_of(member["optimizer"])} if "optimizer" in member else {}
    sched = {"lr_schedule": member["schedule"].obj} if "schedule" in member else {}
    return opt, sched


def swap_blocks(model: nn.Module, block_cls: type) -> int:
    """Rebuild every dlf BasicBlock inside `model` as the member's class, weights copied;
    returns how many were swapped."""
    swapped = 0
    for parent in list(model.modules()):
        for child_name, child in list(parent.named_children()):
            if not isinstance(child, BasicBlock):
                continue
            conv = child.conv1
            mine = block_cls(conv.in_channels, conv.out_channels, conv.stride[0], child.downsample)
            try:
                mine.load_state_dict(child.state_dict())
            except RuntimeError as e:
                first = str(e).splitlines()[1].strip() if "\n" in str(e) else str(e)
                raise DlfError(f"--use block: your block's weights do not match dlf's BasicBlock ({first}); "
                               "`dlf check week3 FILE --only basic_block` says what differs") from None  # fmt: skip
            setattr(parent, child_name, mine)
            swapped += 1
    if swapped == 0:
        raise DlfError(f"--use block: the model ({type(model).__name__}) has no BasicBlock; "
                       "train a ResNet-18 or -34 (--arch resnet18)")  # fmt: skip
    return swapped


def data_from_dataset(part: MemberPart, folder: Path, size: int, dlf_data: Data) -> Data:
    """dlf's training Data with its images and labels replaced by the member's Dataset's,
    item for item (the same rows in the same order: the split and the ids stay dlf's)."""
    columns = dlf_data.columns
    labels = [k for k in columns if k != "image"] if isinstance(columns, dict) else []
    if "image" not in columns or len(labels) != 1:
        raise DlfError("--use dataset: this task's data is not one image and one label per item")
    ds = part.obj(folder, size)
    if len(ds) != len(dlf_data):
        raise DlfError(
            f"--use dataset: your Dataset has {len(ds)} items, the task's table {len(dlf_data)}"
        )
    images, targets = [], []
    for i in range(len(ds)):
        x, y = ds[i]
        images.append(
            (x.detach().float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()
        )
        targets.append(y)
    array = np.stack(images)
    old = columns[labels[0]](np.arange(len(ds)))
    values = np.asarray(targets, dtype=old.numpy().dtype)  # the dtype the task's loss expects
    new_columns = {"image": image_column(array), labels[0]: array_column(values)}
    strata = np.asarray(targets).astype(int)
    return dataclasses.replace(dlf_data, columns=new_columns, strata=strata, images=array)


__all__ = [
    "KINDS",
    "MemberPart",
    "data_from_dataset",
    "learner_settings",
    "load_part",
    "member_parts",
    "opt_func_of",
    "swap_blocks",
]
