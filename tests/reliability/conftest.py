"""Fixtures of the reliability tests: a private DLF_HOME and a tiny APTOS dataset."""

import shutil
from pathlib import Path

import pytest

from dlf.tasks.aptos.synth import synth_aptos


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def aptos_master(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("aptos") / "data"
    synth_aptos(folder, n=40, n_test=20, seed=1)
    return folder


@pytest.fixture
def aptos(aptos_master, tmp_path) -> Path:
    """A private copy of the tiny APTOS dataset that a test may break."""
    return Path(shutil.copytree(aptos_master, tmp_path / "aptos"))
