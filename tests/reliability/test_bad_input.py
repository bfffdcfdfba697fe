"""Bad input is refused cleanly: one line on stderr naming the file, row or step, exit status 2,
no traceback, and nothing already written is damaged (docs/reliability.md has the table; each
test here is one row of it, through the real command line)."""

import errno
import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from dlf.tasks.siim.synth import dicom_bytes
from reliability.helpers import TINY, cli, one_error_line, snapshot

SHAPES_TINY = ["--size", "16", "--bs", "8", "--arch", "lenet", "--precision", "fp32", "--seed", "0"]


@pytest.fixture(scope="module")
def finished(aptos_master, tmp_path_factory):
    """A finished tiny APTOS run and a submission written from it: what must survive."""
    base = tmp_path_factory.mktemp("finished")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLF_HOME", str(base / "home"))
        from dlf.cli import main

        run, sub = base / "run", base / "submission.csv"
        assert (
            main(
                [
                    "train",
                    "aptos",
                    "--data",
                    str(aptos_master),
                    "--out",
                    str(run),
                    "--epochs",
                    "1",
                    *TINY,
                ]
            )
            == 0
        )
        assert main(["predict", "aptos", "--run", str(run), "--out", str(sub)]) == 0
    return run, sub


def refused(capsys, *argv, keep=()) -> str:
    """Run the CLI, expect the one-line refusal, and check that `keep` folders are untouched."""
    before = [snapshot(k) if k.is_dir() else k.read_bytes() for k in keep]
    rc, _, err = cli(capsys, *argv)
    assert rc == 2, err
    line = one_error_line(err)
    after = [snapshot(k) if k.is_dir() else k.read_bytes() for k in keep]
    assert before == after, "a file already written was changed"
    return line


def predict_refused(capsys, finished, data) -> str:
    run, sub = finished
    return refused(capsys, "predict", "aptos", "--run", run, "--data", data, "--out", sub,
                   keep=(run, sub, data))  # fmt: skip


def first_test_image(data: Path) -> Path:
    first_id = (data / "test.csv").read_text().splitlines()[1].strip()
    return data / "test_images" / f"{first_id}.png"


# ---- images ---------------------------------------------------------------------------------


def test_corrupt_image(capsys, finished, aptos):
    img = first_test_image(aptos)
    img.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(200))
    line = predict_refused(capsys, finished, aptos)
    assert str(img) in line and "not a readable image" in line


def test_truncated_image(capsys, finished, aptos):
    img = first_test_image(aptos)
    img.write_bytes(img.read_bytes()[: img.stat().st_size // 2])
    line = predict_refused(capsys, finished, aptos)
    assert str(img) in line and "not a readable image" in line


def test_zero_byte_image(capsys, finished, aptos):
    img = first_test_image(aptos)
    img.write_bytes(b"")
    line = predict_refused(capsys, finished, aptos)
    assert str(img) in line and "0 bytes" in line


# ---- CSV files ------------------------------------------------------------------------------


def test_csv_row_naming_a_missing_file(capsys, finished, aptos):
    img = first_test_image(aptos)
    img.unlink()
    line = predict_refused(capsys, finished, aptos)
    assert "test.csv line 2" in line and img.name in line and "not found" in line


@pytest.mark.parametrize("header", ["image,diagnosis", None])
def test_csv_with_a_wrong_or_missing_header(capsys, finished, aptos, header):
    csv = aptos / "test.csv"
    lines = csv.read_text().splitlines()
    lines = [header, *lines[1:]] if header else lines[1:]  # None: the header line is gone
    csv.write_text("\n".join(lines) + "\n")
    line = predict_refused(capsys, finished, aptos)
    assert "test.csv line 1" in line and "header" in line and "id_code" in line


def test_labels_out_of_range(capsys, aptos, tmp_path):
    truth = aptos / "test_labels.csv"
    pred = tmp_path / "pred.csv"
    rows = truth.read_text().splitlines()
    first = rows[1].split(",")[0]
    pred.write_text("\n".join([rows[0], f"{first},7", *rows[2:]]) + "\n")
    line = refused(
        capsys, "evaluate", "aptos", "--truth", truth, "--pred", pred, keep=(aptos, pred)
    )
    assert "pred.csv line 2" in line and "'7'" in line and "0-4" in line


def test_labels_out_of_range_in_train_csv(capsys, aptos, tmp_path):
    csv = aptos / "train.csv"
    rows = csv.read_text().splitlines()
    csv.write_text("\n".join([rows[0], rows[1].split(",")[0] + ",-1", *rows[2:]]) + "\n")
    line = refused(
        capsys, "train", "aptos", "--data", aptos, "--out", tmp_path / "run", *TINY, keep=(aptos,)
    )
    assert "train.csv line 2" in line and "diagnosis" in line


def test_duplicate_ids(capsys, finished, aptos):
    csv = aptos / "test.csv"
    rows = csv.read_text().splitlines()
    csv.write_text("\n".join([*rows, rows[1]]) + "\n")
    line = predict_refused(capsys, finished, aptos)
    assert f"test.csv line {len(rows) + 1}" in line and "repeats line 2" in line


@pytest.mark.parametrize("bad_id", ["../escape", "sub/dir", "..", "a\\\\b"])
def test_id_with_a_path_separator_or_dotdot(capsys, finished, aptos, bad_id):
    csv = aptos / "test.csv"
    rows = csv.read_text().splitlines()
    (aptos.parent / "escape.png").write_bytes(first_test_image(aptos).read_bytes())  # bait outside
    csv.write_text("\n".join([rows[0], bad_id, *rows[2:]]) + "\n")
    line = predict_refused(capsys, finished, aptos)
    assert "test.csv line 2" in line and "not a plain file name" in line


# ---- SIIM: RLE and DICOM ------------------------------------------------------------------------

SIIM_HEADER = "ImageId,EncodedPixels"


@pytest.mark.parametrize(
    "rle,says",
    [
        ("10 5 3", "odd count"),
        ("1048570 10", "past the image end"),
        ("10 -5", "negative"),
        ("10 five", "not an integer"),
    ],
)
def test_malformed_rle(capsys, tmp_path, rle, says):
    truth, pred = tmp_path / "truth.csv", tmp_path / "pred.csv"
    truth.write_text(f"{SIIM_HEADER}\nimg1,-1\nimg2,1 3\n")
    pred.write_text(f"{SIIM_HEADER}\nimg1,-1\nimg2,{rle}\n")
    line = refused(capsys, "evaluate", "siim", "--truth", truth, "--pred", pred, keep=(tmp_path,))
    assert "pred.csv line 3" in line and says in line


def write_dicom(path: Path, with_pixels: bool) -> None:
    uid = path.stem
    raw = dicom_bytes(
        np.zeros((16, 16), np.uint8), uid + ".1", uid + ".2", uid, np.random.default_rng(0)
    )
    ds = pydicom.dcmread(io.BytesIO(raw))
    if not with_pixels:
        del ds.PixelData
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def test_dicom_without_pixel_data(capsys, tmp_path):
    data = tmp_path / "siim"
    ids = ["1.2.3.1", "1.2.3.2"]
    for i in ids:
        write_dicom(
            data / "dicom-images-train" / "study" / "series" / f"{i}.dcm", with_pixels=i != ids[1]
        )
    (data / "train-rle.csv").write_text(f"ImageId, EncodedPixels\n{ids[0]}, -1\n{ids[1]}, -1\n")
    line = refused(capsys, "train", "siim", "--data", data, "--out", tmp_path / "run", "--size", "32",
                   "--arch", "unet_resnet18", keep=(data,))  # fmt: skip
    assert f"{ids[1]}.dcm" in line and "no pixel data" in line


# ---- runs -----------------------------------------------------------------------------------


def test_out_folder_holding_a_different_run(capsys, finished, aptos):
    run, _ = finished
    line = refused(
        capsys, "train", "aptos", "--data", aptos, "--out", run, "--epochs", "1", *TINY, keep=(run,)
    )
    assert str(run) in line and "--resume" in line and "--overwrite" in line


def test_out_folder_that_is_not_a_run(capsys, aptos, tmp_path):
    other = tmp_path / "my-notes"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    line = refused(capsys, "train", "aptos", "--data", aptos, "--out", other, *TINY, keep=(other,))
    assert str(other) in line and "not a dlf run" in line


def test_nan_loss_stops_keeps_the_last_good_checkpoint_and_names_the_step(capsys, aptos, tmp_path):
    from dlf.train.checkpoint import load_checkpoint_state

    run = tmp_path / "run"
    argv = [
        "train",
        "aptos",
        "--data",
        aptos,
        "--out",
        run,
        "--epochs",
        "2",
        "--checkpoint-every",
        "1",
    ]
    line = refused(capsys, *argv, *TINY, "--lr", "1e6", keep=(aptos,))
    assert (
        "loss became nan" in line
        or "loss became inf" in line
        or "weights became non-finite" in line
    )
    assert "at epoch 0 step" in line and "--lr" in line
    state_path = run / "checkpoint" / "state.pt"
    assert str(state_path) in line
    state = load_checkpoint_state(state_path)
    assert all(v.isfinite().all() for v in state["model"].values())  # never a NaN checkpoint
    assert not (run / "model.safetensors").exists()  # epoch 0 never ended: no weights written
    assert (
        "error: loss became" in (run / "log.txt").read_text()
        or "error: weights" in (run / "log.txt").read_text()
    )


def test_out_of_disk_while_writing_the_submission(capsys, finished, aptos, monkeypatch):
    run, sub = finished
    real_fsync = os.fsync

    def full_disk(fd):  # the disk fills up just as the new submission is written
        real_fsync(fd)
        if "submission" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dlf.core.atomic.os.fsync", full_disk)
    line = refused(
        capsys, "predict", "aptos", "--run", run, "--data", aptos, "--out", sub, keep=(run, sub)
    )
    assert str(sub) in line and "no space left" in line
    assert [p.name for p in sub.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_out_of_disk_while_checkpointing_keeps_the_previous_checkpoint(
    capsys, aptos, tmp_path, monkeypatch
):
    run = tmp_path / "run"
    rc, _, err = cli(
        capsys, "train", "aptos", "--data", aptos, "--out", run, "--epochs", "1", *TINY
    )
    assert rc == 0, err
    before = snapshot(run)
    shutil.copytree(run, tmp_path / "copy")

    def full_disk(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("dlf.core.atomic.os.fsync", full_disk)
    # --resume of a finished run rewrites config.json, weights and the report: all refused whole
    line = refused(capsys, "train", "aptos", "--out", run, "--resume")
    assert "no space left" in line
    assert {k: v for k, v in snapshot(run).items() if k != "log.txt"} == {
        k: v for k, v in before.items() if k != "log.txt"
    }


# ---- settings a model cannot train with, and settings --resume would ignore ------------------


@pytest.fixture(scope="module")
def shapes(tmp_path_factory) -> Path:
    """A tiny `folder` dataset: 24 training images of three shapes (64 px) and a test/ folder."""
    from dlf.tasks.folder import FolderTask

    folder = tmp_path_factory.mktemp("shapes")
    FolderTask().synth(folder, 24, seed=0)
    return folder


def train_refused(capsys, shapes, tmp_path, *args) -> str:
    """`dlf train folder ARGS` is refused in one line, the data untouched; the run folder keeps
    nothing but its log, so the corrected command can reuse it."""
    run = tmp_path / "run"
    line = refused(capsys, "train", "folder", "--data", shapes, "--out", run, "--epochs", "1",
                   *args, keep=(shapes,))  # fmt: skip
    assert not run.exists() or {p.name for p in run.iterdir()} <= {"log.txt"}
    return line


def test_option_without_a_value(capsys, shapes, tmp_path):
    line = train_refused(capsys, shapes, tmp_path, "--option", "pretrained")
    assert "--option: 'pretrained' is not KEY=VALUE" in line


@pytest.mark.parametrize(
    "arch, size, smallest",
    # Independent reference, by hand from the layers: VGG halves the map five times with
    # unpadded 2x2 pooling (needs 2**5 = 32 px); LeNet is conv5, pool2, conv5, pool2, so
    # ((s - 4) // 2 - 4) // 2 >= 1 first holds at s = 16.
    [("vgg11", 3, 32), ("lenet", 7, 16)],
)
def test_size_smaller_than_the_model_takes(capsys, shapes, tmp_path, arch, size, smallest):
    line = train_refused(capsys, shapes, tmp_path, "--arch", arch, "--size", str(size))
    assert f"--size {size} is too small for {arch}" in line
    assert f"the smallest size it takes is {smallest} px" in line


def test_summary_of_a_size_smaller_than_the_model_takes(capsys):
    line = refused(capsys, "summary", "lenet", "--size", "7")
    assert "the smallest size it takes is 16 px" in line


def test_batch_of_one_with_batch_norm(capsys, shapes, tmp_path):
    line = train_refused(capsys, shapes, tmp_path, "--bs", "1", "--size", "32")
    assert "--bs 1: resnet18 has batch norm" in line and "--bs 2 or more" in line


def test_device_that_is_not_there(capsys, shapes, tmp_path):
    line = train_refused(capsys, shapes, tmp_path, "--device", "tpu")
    assert "device 'tpu' is not one of auto, cpu, cuda, cuda:N or mps" in line
    if not torch.cuda.is_available():
        line = train_refused(capsys, shapes, tmp_path, "--device", "cuda")
        assert "device 'cuda': torch sees no CUDA GPU here" in line


def test_resume_with_changed_settings(capsys, shapes, tmp_path):
    run = tmp_path / "run"
    args = ["train", "folder", "--data", shapes, "--out", run, *SHAPES_TINY]
    rc, _, err = cli(capsys, *args, "--epochs", "1")
    assert rc == 0, err
    line = refused(capsys, "train", "folder", "--out", run, "--resume", "--epochs", "3",
                   "--lr", "0.01", keep=(run,))  # fmt: skip
    assert "--epochs 3 (saved: 1), --lr 0.01 (saved: 0.002)" in line
    assert "cannot be extended" in line and "--overwrite" in line
    # settings equal to the saved ones are not a change
    rc, _, err = cli(capsys, "train", "folder", "--out", run, "--resume", "--epochs", "1",
                     "--seed", "0", "--arch", "lenet")  # fmt: skip
    assert rc == 0, err


def test_resume_with_changed_settings_before_the_first_checkpoint(capsys, shapes, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # what a run killed before its first checkpoint leaves: its settings, no checkpoint
    cfg = {"task": "folder", "data": str(shapes), "out": str(run), "epochs": 1, "arch": "lenet",
           "size": 16, "bs": 8, "lr": 0.002, "seed": 0, "precision": "fp32"}  # fmt: skip
    (run / "config.json").write_text(json.dumps({"config": cfg}))
    line = refused(capsys, "train", "folder", "--out", run, "--resume", "--size", "32",
                   keep=(run,))  # fmt: skip
    assert "--size 32 (saved: 16)" in line and "--overwrite instead of --resume" in line
