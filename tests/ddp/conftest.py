"""Fixtures of the torchrun tests: a tiny APTOS dataset."""

from pathlib import Path

import pytest

from dlf.tasks.aptos.synth import synth_aptos


@pytest.fixture(scope="module")
def aptos_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("aptos") / "data"
    synth_aptos(folder, n=40, n_test=20, seed=1)
    return folder
