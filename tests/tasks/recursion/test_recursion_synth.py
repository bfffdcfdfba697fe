"""The synthetic RxRx1 keeps the competition's design (the Kaggle data page): each siRNA once
per plate, a plate holding one of four siRNA groups, the controls on every plate, the answer
key matching test.csv, and the same bytes for the same seed."""

import filecmp
from collections import Counter

import numpy as np

from dlf.tasks.recursion import read_split, read_submission, sirna_signature, synth_recursion
from dlf.tasks.recursion.synth import POSITIVES, site_image


def test_plate_layout_and_answer_key(tiny_rxrx):
    train = read_split(tiny_rxrx, "train")
    plates: dict = {}
    for w in train:
        plates.setdefault((w.experiment, w.plate), []).append(w.sirna)
    groups = set()
    for sirnas in plates.values():
        treated = [s for s in sirnas if s < 1108]
        assert len(treated) == len(set(treated)) == 2  # each siRNA once per plate
        assert Counter(s >= 1108 for s in sirnas)[True] == 3 and 1138 in sirnas
        groups.add(tuple(sorted(treated)))
    assert len(groups) == 4
    for exp in {w.experiment for w in train}:  # every siRNA once per experiment
        treated = sorted(w.sirna for w in train if w.experiment == exp and not w.control)
        assert treated == list(range(8))
    test = [w for w in read_split(tiny_rxrx, "test") if not w.control]
    assert list(read_submission(tiny_rxrx / "test_labels.csv")) == [w.id_code for w in test]


def test_signatures_differ_and_controls_are_set_apart():
    codes = {sirna_signature(s) for s in range(1024)}
    assert len(codes) == 1024 and all(len(c) == 5 for c in codes)
    assert min(POSITIVES) == 1108


def test_same_seed_same_bytes(tmp_path):
    for name in ("a", "b"):
        synth_recursion(tmp_path / name, n_sirnas=4, train_experiments=1, test_experiments=1,
                        size=16, seed=5, cell_types=("RPE",))  # fmt: skip
    cmp = filecmp.dircmp(tmp_path / "a", tmp_path / "b")
    assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
    a = sorted((tmp_path / "a").rglob("*.png"))
    b = sorted((tmp_path / "b").rglob("*.png"))
    # 2 experiments x 4 plates x (1 siRNA + 3 controls) x 2 sites x 6 channels
    assert len(a) == 2 * 4 * 4 * 2 * 6 and all(
        x.read_bytes() == y.read_bytes() for x, y in zip(a, b)
    )


def test_site_image_is_six_channels_of_the_asked_size():
    batch = {"gain": np.ones(6), "offset": np.zeros(6), "texture": 1.0, "noise": 1.0,
             "stain": np.ones(6)}  # fmt: skip
    img = site_image(3, "HEPG2", batch, np.ones(6), 48, np.random.default_rng(0))
    assert img.shape == (48, 48, 6) and img.dtype == np.uint8
