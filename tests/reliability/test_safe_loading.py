"""Safe to load: a planted pickle that would run code is refused, and the code never runs.

The payload's __reduce__ asks the unpickler to call `pathlib.Path.touch(MARKER)`; with a
plain `torch.load` (weights_only=False) that file would appear. dlf must raise DlfError
and the marker must not exist afterwards.
"""

import pathlib
import pickle

import pytest
import torch

from dlf import DlfError
from dlf.models import create_model
from reliability.helpers import TINY, cli


class Payload:
    def __init__(self, marker: pathlib.Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def plant(path: pathlib.Path, marker: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": {"w": torch.zeros(1)}, "x": Payload(marker)}, path)


def test_the_payload_really_runs_code_when_unpickled_unsafely(tmp_path):
    # The control: without weights_only the same file does run its code.
    path, marker = tmp_path / "evil.pth", tmp_path / "pwned"
    plant(path, marker)
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_resume_refuses_a_planted_checkpoint(capsys, aptos, tmp_path):
    run, marker = tmp_path / "run", tmp_path / "pwned"
    rc, _, err = cli(
        capsys, "train", "aptos", "--data", aptos, "--out", run, "--epochs", "1", *TINY
    )
    assert rc == 0, err
    plant(run / "checkpoint" / "state.pt", marker)
    rc, _, err = cli(capsys, "train", "aptos", "--out", run, "--resume")
    assert rc == 2 and "refused to load" in err and "state.pt" in err
    assert len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_create_model_refuses_a_planted_pretrained_file(tmp_path):
    path, marker = tmp_path / "resnet18.pth", tmp_path / "pwned"
    plant(path, marker)
    with pytest.raises(DlfError, match=r"resnet18\.pth: refused to load") as e:
        create_model("lenet", num_classes=2, pretrained=path)
    assert "\n" not in str(e.value) and "\x1b" not in str(e.value)  # one plain line
    assert not marker.exists()


def test_a_plain_pickle_file_is_refused_too(tmp_path):
    path, marker = tmp_path / "weights.pt", tmp_path / "pwned"
    path.write_bytes(pickle.dumps({"w": Payload(marker)}))
    with pytest.raises(DlfError, match=r"refused to load|cannot read weights") as e:
        create_model("lenet", num_classes=2, pretrained=path)
    assert "\n" not in str(e.value)
    assert not marker.exists()
