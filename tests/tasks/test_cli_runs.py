"""The command line around a run: a failed start is rerun in place, scores say what they are,
slow data generation shows progress, and `--device` is real (issue 12, items 7-10 and 12)."""

import io
import json
import sys

import numpy as np
import pytest
import torch
from torch import nn

from dlf.cli import main
from dlf.core import DlfError, default_device, resolve_device
from dlf.data.loaders import DataLoaders
from dlf.data.resident import ArrayLoader, array_column
from dlf.models import create_model, min_input_size, takes_input, total_stride
from dlf.tasks.aptos.synth import synth_aptos
from dlf.tasks.base import Parts, TrainConfig
from dlf.tasks.folder import FolderTask
from dlf.tasks.runner import check_trainable
from dlf.tasks.siim.synth import synth_siim

TINY = ["--size", "16", "--bs", "8", "--arch", "lenet", "--precision", "fp32", "--seed", "0"]


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("shapes")
    FolderTask().synth(folder, 24, seed=0)
    return folder


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return rc, out, err


# ---- item 8: a run that failed before its first checkpoint is rerun in place ----------------


def test_a_failed_start_is_rerun_in_place_with_corrected_settings(capsys, shapes, tmp_path):
    run = tmp_path / "run"
    train = ["train", "folder", "--data", shapes, "--out", run, "--epochs", "1", *TINY]
    rc, _, err = run_cli(capsys, *train, "--size", "7")  # lenet takes 16 px or more
    assert rc == 2 and "too small for lenet" in err
    assert not (run / "config.json").exists()  # was left behind, blocking the fixed command
    assert "error: --size 7 is too small" in (run / "log.txt").read_text()  # the reason stays
    rc, _, err = run_cli(capsys, *train)  # the corrected command, same --out, no --overwrite
    assert rc == 0, err
    assert json.loads((run / "config.json").read_text())["config"]["size"] == 16


def test_resume_after_a_failed_start_takes_the_new_settings(capsys, shapes, tmp_path):
    run = tmp_path / "run"
    train = ["train", "folder", "--data", shapes, "--out", run, "--epochs", "1", *TINY]
    assert run_cli(capsys, *train, "--bs", "64", "--option", "pretrained=missing.pth")[0] == 2
    rc, _, err = run_cli(capsys, *train, "--resume")  # replayed the bad settings before
    assert rc == 0, err
    cfg = json.loads((run / "config.json").read_text())["config"]
    assert cfg["bs"] == 8 and cfg["options"]["pretrained"] is None


# ---- item 7: checks on the model's geometry and the batches ----------------------------------


def test_min_input_size_of_lenet_against_its_geometry():
    # Reference: the output size formula of unpadded conv5 / pool2 / conv5 / pool2.
    model = create_model("lenet", num_classes=3)
    for size in range(1, 40):
        assert takes_input(model, size) == (size >= 5 and ((size - 4) // 2 - 4) // 2 >= 1), size
    assert min_input_size(model) == 16


def test_min_input_size_and_total_stride_of_the_zoo():
    assert min_input_size(create_model("vgg11")) == 32  # five unpadded 2x2 max pools
    assert min_input_size(create_model("resnet18")) == 1  # padded throughout
    assert total_stride(create_model("resnet18")) == 32
    assert total_stride(create_model("unet_resnet18")) == 32  # from its encoder
    assert total_stride(nn.Linear(2, 2)) is None


def parts_with(model, n: int, bs: int, drop_last: bool) -> Parts:
    x = np.zeros((n, 3, 32, 32), np.float32)
    train = ArrayLoader([array_column(x)], np.arange(n), bs=bs, drop_last=drop_last)
    return Parts(DataLoaders(train, device="cpu"), model, None, [], "m")


def test_check_trainable_refuses_a_last_batch_of_one_and_an_empty_epoch():
    cfg = TrainConfig(task="t", arch="resnet18", size=32, bs=4)
    bn = create_model("resnet18", num_classes=2)
    with pytest.raises(DlfError, match="leave a last batch of 1"):
        check_trainable(parts_with(bn, 9, 4, drop_last=False), cfg, print)
    check_trainable(parts_with(bn, 9, 4, drop_last=True), cfg, print)  # the 1 is dropped
    check_trainable(parts_with(create_model("lenet"), 9, 4, False), cfg, print)  # no batch norm
    with pytest.raises(DlfError, match="more than the 3 training items"):
        check_trainable(parts_with(bn, 3, 4, drop_last=True), cfg, print)


def test_the_folder_loader_never_yields_a_training_batch_of_one(shapes):
    from dlf.data import ImageDataLoaders

    # 24 images, 20% validation: 19 or 20 for training; bs 9 leaves a remainder of 1 or 2
    for bs in (3, 6, 9, 19):
        dls = ImageDataLoaders.from_folder(shapes, size=16, bs=bs, seed=0, progress=False)
        assert min(len(xb) for xb, _ in dls.train) >= 2


def test_a_size_below_the_total_stride_warns_in_one_line(capsys, shapes, tmp_path):
    # --bs 1 stops the run right after the size checks (training resnet18 would take seconds)
    rc, out, err = run_cli(capsys, "train", "folder", "--data", shapes, "--out", tmp_path / "r",
                           "--epochs", "1", "--arch", "resnet18", "--size", "8", "--bs", "1")  # fmt: skip
    assert rc == 2 and "--bs 1" in err
    warnings = [line for line in out.splitlines() if line.startswith("warning: --size")]
    assert warnings == [
        "warning: --size 8 is below resnet18's total stride (32 px): its deepest layers see "
        "a 1x1 map and it may learn little; use --size 32 or more"
    ]
    cfg = TrainConfig(task="t", arch="resnet18", size=32, bs=4)
    said = []
    check_trainable(parts_with(create_model("resnet18"), 9, 4, True), cfg, said.append)
    assert said == []  # at the stride itself: no warning


# ---- item 9: the two scores of `make demo` say what they are ---------------------------------


def test_train_and_evaluate_label_their_scores(capsys, tmp_path):
    data, run = tmp_path / "aptos", tmp_path / "run"
    synth_aptos(data, n=40, n_test=20, seed=1)
    rc, out, err = run_cli(capsys, "train", "aptos", "--data", data, "--out", run,
                           "--epochs", "1", "--size", "32", "--bs", "8", "--arch", "lenet")  # fmt: skip
    assert rc == 0, err
    last = out.strip().splitlines()[-1]
    assert last.startswith("validation qwk ")
    assert last.endswith(" (thresholds fitted on these same images: optimistic)")
    assert main(["predict", "aptos", "--run", str(run)]) == 0
    truth, pred = data / "test_labels.csv", run / "submission.csv"
    rc, out, err = run_cli(capsys, "evaluate", "aptos", "--truth", truth, "--pred", pred)
    assert rc == 0, err
    label, score = out.strip().splitlines()[-2:]
    assert label == f"test score of {pred} against {truth} (nothing fitted on these labels):"
    name, value = score.split()  # the last line stays "METRIC VALUE" for scripts
    assert name == "qwk" and -1 <= float(value) <= 1


# ---- item 10: writing a synthetic dataset shows progress -------------------------------------


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(
    "write",
    [
        lambda d: synth_aptos(d / "a", n=2, n_test=1, seed=0, width=(64, 80)),
        lambda d: synth_siim(d, n=1, n_test=1, size=64),
        lambda d: FolderTask().synth(d, 3, seed=0),
    ],
    ids=["aptos", "siim", "folder"],
)
def test_every_synth_shows_a_progress_bar_on_a_terminal_only(tmp_path, monkeypatch, write):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    write(tmp_path / "t")
    assert "train images:" in terminal.getvalue() and "test images:" in terminal.getvalue()
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    write(tmp_path / "p")
    assert piped.getvalue() == ""


def test_dlf_synth_says_what_it_is_doing_before_it_starts(capsys, tmp_path):
    rc, out, _ = run_cli(capsys, "synth", "folder", tmp_path / "d", "--n", "3")
    assert rc == 0
    first = out.splitlines()[0]
    assert (
        first == f"writing a synthetic folder dataset of 3 training items to {tmp_path / 'd'} ..."
    )


# ---- item 12: --device ------------------------------------------------------------------------


def test_resolve_device():
    assert resolve_device("auto") == resolve_device(None) == default_device()
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(DlfError, match="not one of auto, cpu, cuda, cuda:N or mps"):
        resolve_device("gpu")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    with pytest.raises(DlfError, match="cuda"):
        resolve_device(f"cuda:{n}")


def test_device_is_saved_used_and_given_to_predict(capsys, shapes, tmp_path):
    run = tmp_path / "run"
    rc, out, err = run_cli(capsys, "train", "folder", "--data", shapes, "--out", run,
                           "--epochs", "1", "--device", "cpu", *TINY)  # fmt: skip
    assert rc == 0, err
    assert "device cpu, precision fp32" in out
    assert json.loads((run / "config.json").read_text())["config"]["device"] == "cpu"
    rc, _, err = run_cli(capsys, "predict", "folder", "--run", run, "--device", "cpu")
    assert rc == 0, err
    rc, _, err = run_cli(capsys, "predict", "folder", "--run", run, "--device", "gpu")
    assert rc == 2 and err.startswith("dlf: error: device 'gpu' is not one of")


def test_resolve_device_checks_the_cuda_index(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda:1")
    with pytest.raises(DlfError, match=r"sees 2 CUDA GPU\(s\), cuda:0 to cuda:1; pick one of them"):
        resolve_device("cuda:2")


def test_dataloaders_to_moves_every_later_batch():
    x = np.zeros((4, 3, 8, 8), np.float32)
    loader = ArrayLoader([array_column(x)], np.arange(4), bs=2)
    dls = DataLoaders(loader, loader, device="cpu").to("meta")  # meta: any device but the CPU
    assert dls.device.type == "meta"
    assert next(iter(dls.train))[0].device.type == next(iter(dls.valid))[0].device.type == "meta"


# ---- a task's own truth inputs (`Task.truth_inputs`) ------------------------------------------


def test_evaluate_takes_the_tasks_truth_inputs_and_names_a_missing_one(capsys, tmp_path):
    pred = tmp_path / "sub.csv"
    pred.write_text("id_code,diagnosis\na,0\nb,2\n")
    rc, _, err = run_cli(capsys, "evaluate", "aptos", "--pred", pred)
    assert rc == 2 and err.strip() == "dlf: error: dlf evaluate aptos needs --truth"
    rc, _, err = run_cli(
        capsys, "evaluate", "aptos", "--pred", pred, "--truth", pred, "--boxes", pred
    )
    assert rc == 2 and "unrecognized arguments: --boxes" in err
    rc, _, err = run_cli(capsys, "train", "aptos", "--boxes", pred)  # only evaluate takes extras
    assert rc == 2 and "unrecognized arguments: --boxes" in err
    rc, out, err = run_cli(capsys, "evaluate", "aptos", "--truth", pred, "--pred", pred)
    assert rc == 0, err
    assert out.strip().splitlines()[-1] == "qwk 1.000000"  # a file against itself
