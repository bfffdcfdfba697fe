"""A tiny synthetic RxRx1, written once per test session (two cell types, eight siRNAs)."""

import pytest

from dlf.tasks.recursion import synth_recursion


@pytest.fixture(scope="session")
def tiny_rxrx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rxrx") / "data"
    synth_recursion(folder, n_sirnas=8, train_experiments=3, test_experiments=1, size=32,
                    seed=3, cell_types=("HUVEC", "U2OS"))  # fmt: skip
    return folder
