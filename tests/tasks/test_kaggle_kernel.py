"""A Kaggle kernel, simulated on this machine.

The embedded APTOS data is laid out as `<input>/aptos2019-blindness-detection/` in a
read-only temporary folder (DLF_KAGGLE_INPUT), the kernel's writable folder is another
(DLF_KAGGLE_WORKING, also the working directory), and HOME cannot be written (it lies under
a regular file, so not even root can create it). `dlf train aptos` and `dlf predict aptos`,
with no --data, --out or DLF_HOME, must find the input, keep it untouched and leave
`submission.csv` in the working folder.

The fast test runs the commands with this venv's Python; the slow one installs dlf into a
fresh venv from `make kaggle-bundle` with `pip install --no-index` (torch, which Kaggle
kernels already have, is installed first from the local CPU wheel and the machine's own
package index, as the kernel's image).
"""

import csv
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from dlf.cli import main

ROOT = Path(__file__).resolve().parents[2]
SLUG = "aptos2019-blindness-detection"


def snapshot(folder: Path) -> dict:
    """Every file and folder under `folder`: size, modification time, mode."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(folder.rglob("*"))
    }


def make_read_only(folder: Path) -> None:
    for p in [*folder.rglob("*"), folder]:
        mode = p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        p.chmod(mode)


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """The folders of a pretend kernel and the environment its commands run in."""
    data = tmp_path / "input" / SLUG
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "synth-home"))  # only for writing the input
    assert main(["synth", "aptos", str(data), "--n", "40", "--seed", "1"]) == 0
    (data / "test_labels.csv").rename(tmp_path / "test_labels.csv")  # Kaggle keeps it private
    make_read_only(tmp_path / "input")
    working = tmp_path / "working"
    working.mkdir()
    (tmp_path / "not-a-folder").write_text("HOME lies under this file: it cannot be created\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DLF_", "PIP_"))}
    env.update(
        DLF_KAGGLE_INPUT=str(tmp_path / "input"),
        DLF_KAGGLE_WORKING=str(working),
        HOME=str(tmp_path / "not-a-folder" / "home"),
    )
    yield {"input": tmp_path / "input", "data": data, "working": working, "env": env,
           "truth": tmp_path / "test_labels.csv"}  # fmt: skip
    for p in [*(tmp_path / "input").rglob("*"), tmp_path / "input"]:  # let pytest clean up
        p.chmod(p.stat().st_mode | stat.S_IWUSR)


def run_kernel_commands(python: str, kernel: dict) -> None:
    before = snapshot(kernel["input"])
    dlf = [python, "-m", "dlf.cli"]
    # the kernel's command, with the recipe's backbone and size (far too big here) overridden
    train = [*dlf, "train", "aptos", "--recipe", "kaggle", "--time-budget", "8h",
             "--arch", "resnet18", "--size", "32", "--bs", "8", "--epochs", "1"]  # fmt: skip
    for argv in (train, [*dlf, "predict", "aptos", "--run", "runs/aptos"]):
        done = subprocess.run(argv, cwd=kernel["working"], env=kernel["env"],
                              capture_output=True, text=True, timeout=900)  # fmt: skip
        assert done.returncode == 0, f"{' '.join(argv[2:])}:\n{done.stdout}\n{done.stderr}"
        if argv[3] == "train":
            assert f"using the competition's input {kernel['data']}" in done.stdout
    assert snapshot(kernel["input"]) == before  # nothing written, touched or chmod-ed
    working = kernel["working"]
    assert (working / "runs" / "aptos" / "model.safetensors").is_file()
    cfg = json.loads((working / "runs" / "aptos" / "config.json").read_text())["config"]
    assert cfg["recipe"] == "kaggle" and cfg["arch"] == "resnet18"  # given settings win
    assert cfg["options"]["ben_graham"] is True and cfg["tta"] == 2  # the rest: the recipe's
    assert (working / ".dlf" / "cache").is_dir()  # the decoded-image cache, in the kernel's folder
    with open(working / "submission.csv") as f:
        rows = list(csv.reader(f))
    with open(kernel["data"] / "test.csv") as f:
        test_ids = [r[0] for r in list(csv.reader(f))[1:]]
    assert rows[0] == ["id_code", "diagnosis"] and [r[0] for r in rows[1:]] == test_ids
    assert {r[1] for r in rows[1:]} <= set("01234")


def test_kernel_with_this_venv(kernel):
    run_kernel_commands(sys.executable, kernel)


def test_without_a_kernel_the_defaults_stay_as_they_were(tmp_path, monkeypatch):
    from dlf.core.kaggle import competition_input, kaggle_working
    from dlf.core.paths import dlf_home, runs_root

    for k in ("DLF_HOME", "DLF_KAGGLE_WORKING"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("DLF_KAGGLE_INPUT", str(tmp_path / "nothing-here"))
    if Path("/kaggle/working").is_dir():
        pytest.skip("this machine is a Kaggle kernel")
    assert kaggle_working() is None and competition_input([SLUG]) is None
    assert dlf_home() == Path.home() / ".cache" / "dlf" and runs_root() == Path("runs")


def torch_wheels() -> Path | None:
    folder = Path(os.environ.get("DLF_TORCH_WHEELS", "/opt/wheels"))
    return folder if any(folder.glob("torch-*.whl")) else None


@pytest.mark.slow
def test_kernel_with_a_fresh_venv_from_the_bundle(kernel, tmp_path):
    wheels = torch_wheels()
    if wheels is None:
        pytest.skip("no local torch wheel (set DLF_TORCH_WHEELS to a folder holding one)")
    bundle = tmp_path / "bundle"
    subprocess.run(["make", "-s", "kaggle-bundle", f"BUNDLE={bundle}"], cwd=ROOT, check=True,
                   capture_output=True, timeout=900)  # fmt: skip
    assert not list(bundle.glob("torch-*")), "the bundle must leave torch to the kernel"
    venv = tmp_path / "kernel-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    import torch  # the kernel image: the same torch as here, from the local wheel

    version = torch.__version__
    subprocess.run([python, "-m", "pip", "install", "-q", "--find-links", str(wheels),
                    f"torch=={version}"], check=True, capture_output=True, timeout=1200)  # fmt: skip
    # the kernel's own install: no index at all, no pip configuration, only the bundle
    offline = {**kernel["env"], "PIP_CONFIG_FILE": os.devnull, "HOME": str(tmp_path)}
    done = subprocess.run([python, "-m", "pip", "install", "-q", "--no-index", "--find-links",
                           str(bundle), "dlf"], env=offline, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    where = subprocess.run([python, "-c", "import dlf; print(dlf.__file__)"], check=True,
                           capture_output=True, text=True, cwd=tmp_path).stdout  # fmt: skip
    assert str(venv) in where  # dlf from the bundle, not this checkout
    run_kernel_commands(python, kernel)
