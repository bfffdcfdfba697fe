"""The synthetic APTOS generator: the real layout, determinism, the real grade imbalance,
and a dataset that a rule on global colour statistics cannot read.

QWK reference: sklearn's cohen_kappa_score(weights="quadratic"), the competition's metric.
"""

import numpy as np
import pytest
from PIL import Image

from dlf.core import DlfError
from dlf.tasks.aptos import fundus_image, read_labels, read_test, read_train, synth_aptos
from dlf.tasks.aptos.synth import GRADE_SHARE, LESION_COUNTS
from tasks.aptos.trivial import best_trivial_qwk, global_stats


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synth_aptos(tmp_path_factory.mktemp("s") / "aptos", n=40, n_test=7, seed=3)


def test_writes_exactly_the_competition_layout(small):
    assert sorted(p.name for p in small.iterdir()) == [
        "sample_submission.csv",
        "test.csv",
        "test_images",
        "test_labels.csv",  # the answer key Kaggle keeps private, for `dlf evaluate`
        "train.csv",
        "train_images",
    ]
    train_lines = (small / "train.csv").read_text().splitlines()
    assert train_lines[0] == "id_code,diagnosis" and len(train_lines) == 41
    test_lines = (small / "test.csv").read_text().splitlines()
    assert test_lines[0] == "id_code" and len(test_lines) == 8
    train, test = read_train(small), read_test(small)
    assert sorted(p.name for p in (small / "train_images").iterdir()) == sorted(
        f"{t.id_code}.png" for t in train
    )
    assert sorted(p.name for p in (small / "test_images").iterdir()) == sorted(
        f"{t.id_code}.png" for t in test
    )
    assert all(len(t.id_code) == 12 and int(t.id_code, 16) >= 0 for t in train + test)
    assert not {t.id_code for t in train} & {t.id_code for t in test}
    sample = read_labels(small / "sample_submission.csv")
    assert list(sample) == [t.id_code for t in test] and set(sample.values()) == {0}
    assert list(read_labels(small / "test_labels.csv")) == [t.id_code for t in test]
    sizes = set()
    for t in train[:10] + test:
        with Image.open(t.path) as im:
            assert im.format == "PNG" and im.mode == "RGB"
            w, h = im.size
        assert 200 <= w <= 400 and h < w
        sizes.add(im.size)
    assert len(sizes) > 5  # many cameras, many sizes


def test_same_seed_same_bytes_other_seed_other_data(tmp_path, small):
    again = synth_aptos(tmp_path / "again", n=40, n_test=7, seed=3)
    for p in small.rglob("*"):
        if p.is_file():
            assert (again / p.relative_to(small)).read_bytes() == p.read_bytes(), p
    other = synth_aptos(tmp_path / "other", n=40, n_test=7, seed=4)
    assert (other / "train.csv").read_bytes() != (small / "train.csv").read_bytes()


def test_real_grade_imbalance(small):
    grades = np.array([t.diagnosis for t in read_train(small)])
    counts = np.bincount(grades, minlength=5)
    # 40 x (0.493, 0.101, 0.273, 0.053, 0.080) = (19.7, 4.0, 10.9, 2.1, 3.2)
    assert counts.tolist() == [20, 4, 11, 2, 3]
    np.testing.assert_allclose(GRADE_SHARE, np.array([1805, 370, 999, 193, 295]) / 3662, atol=1e-3)


def test_lesion_counts_overlap_between_neighbouring_grades():
    for kind in ("microaneurysm", "haemorrhage", "exudate"):
        ranges = LESION_COUNTS[kind]
        overlaps = [ranges[g][1] >= ranges[g + 1][0] for g in range(4)]
        assert sum(overlaps) >= 2, kind  # no single count separates the grades
    assert LESION_COUNTS["new_vessels"][3] == (0, 0) and LESION_COUNTS["new_vessels"][4][0] >= 1


def test_refuses_a_folder_with_files_and_leaves_it_alone(tmp_path):
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(DlfError, match="not an empty folder"):
        synth_aptos(tmp_path, n=2, n_test=1)
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    synth_aptos(empty, n=2, n_test=1)
    assert (empty / "train.csv").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "keep.txt"]  # no temp left


def test_a_trivial_rule_on_global_colour_statistics_scores_badly():
    n, rng = 300, np.random.default_rng(11)
    y = rng.choice(5, size=n, p=np.array(GRADE_SHARE) / sum(GRADE_SHARE))
    X = np.array(
        [
            global_stats(fundus_image(int(g), np.random.default_rng((11, k))))
            for k, g in enumerate(y)
        ]
    )
    trivial = best_trivial_qwk(X, y)
    print(f"trivial-rule QWK {trivial:.3f}")
    assert trivial < 0.35
    # Control: the same fitting and scoring reads a feature that does carry the grade.
    leaky = np.hstack([X, (y + rng.normal(0, 0.3, n))[:, None]])
    assert best_trivial_qwk(leaky, y) > 0.8
