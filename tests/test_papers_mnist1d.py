"""The MNIST-1D reproduction (dlf.papers.mnist1d, dlf.models.seq1d, `dlf reproduce`).

References: the parameter counts are the ones the authors' notebook prints for its models
(notebooks/mnist1d-classification.ipynb: 5210 CNN, 5134 GRU, 15210 MLP) and the layer
arithmetic written out by hand; the data is compared with what the authors' own
`mnist1d.data.make_dataset` returns; augmentation shifts with `torch.roll`; the final
accuracy with the Learner's own validation pass.
"""

import dataclasses
import json
import random
import sys

import numpy as np
import pytest
import torch

pytest.importorskip("mnist1d")

from mnist1d.data import get_dataset_args, make_dataset
from mnist1d.utils import ObjectView

from dlf.cli import main
from dlf.core.errors import DlfError
from dlf.models import create_model, list_models
from dlf.papers import mnist1d as paper


@pytest.fixture(scope="module")
def data() -> paper.Mnist1d:
    return paper.load_mnist1d()


# ------------------------------------------------------------------------------ models
@pytest.mark.parametrize(
    ("name", "params", "by_hand"),
    [
        ("mnist1d_logistic", 410, 40 * 10 + 10),
        ("mnist1d_mlp", 15_210, (40 * 100 + 100) + (100 * 100 + 100) + (100 * 10 + 10)),
        # conv 1->25 k5, 25->25 k3 twice, then 25 channels x 5 steps -> 10
        ("mnist1d_cnn", 5_210, (5 * 25 + 25) + 2 * (25 * 25 * 3 + 25) + (125 * 10 + 10)),
        # per direction 3 gates x (input 1 + hidden 6 weights + 2 biases) x 6; then 2*6*40 -> 10
        ("mnist1d_gru", 5_134, 2 * 3 * 6 * (1 + 6 + 2) + (2 * 6 * 40 * 10 + 10)),
    ],
)
def test_the_paper_models_have_the_papers_parameter_counts(name, params, by_hand):
    model = create_model(name, num_classes=10, in_chans=1)
    assert params == by_hand
    assert sum(p.numel() for p in model.parameters()) == params
    assert model(torch.randn(7, 40)).shape == (7, 10)


@pytest.mark.parametrize("name", list_models("mnist1d_*"))
def test_every_sequence_model_takes_channels_and_trains_every_parameter(name):
    """The zoo's 1-D family (the image models' version is tests/models/test_zoo.py)."""
    torch.manual_seed(0)
    model = create_model(name, num_classes=3, in_chans=2)
    y = model(torch.randn(4, 2, 40))
    assert y.shape == (4, 3)
    y.pow(2).mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_the_residual_cnn_is_shift_equivariant_up_to_its_pool():
    """Circular padding and a global pool: a circularly shifted input gives the same logits
    (a property of the architecture, checked against torch.roll)."""
    model = create_model("mnist1d_resnet", num_classes=10, in_chans=1).eval()
    x = torch.randn(4, 40)
    with torch.no_grad():
        torch.testing.assert_close(model(x.roll(7, dims=1)), model(x), atol=1e-5, rtol=1e-4)


# ------------------------------------------------------------------------------ data
def test_the_arrays_are_what_the_authors_generator_returns(data):
    ref = make_dataset(get_dataset_args())
    np.testing.assert_array_equal(data.x, ref["x"].astype(np.float32))
    np.testing.assert_array_equal(data.x_test, ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(data.y, ref["y"])
    np.testing.assert_array_equal(data.y_test, ref["y_test"])
    assert data.x.shape == (4000, 40) and data.x_test.shape == (1000, 40)
    assert sorted(set(data.y.tolist())) == list(range(10))


def test_another_seed_gives_the_generators_data_for_that_seed_and_leaves_global_rngs():
    np.random.seed(123)
    random.seed(123)
    expected_np, expected_py = np.random.rand(), random.random()
    np.random.seed(123)
    random.seed(123)
    mine = paper.load_mnist1d(seed=7, num_samples=200)
    assert (np.random.rand(), random.random()) == (expected_np, expected_py)
    ref = make_dataset(ObjectView({**get_dataset_args(as_dict=True), "seed": 7, "num_samples": 200}))  # fmt: skip
    np.testing.assert_array_equal(mine.x, ref["x"].astype(np.float32))
    assert not np.array_equal(mine.x[:20], paper.load_mnist1d(seed=8, num_samples=200).x[:20])


def test_an_unknown_dataset_argument_is_refused_in_one_line():
    with pytest.raises(DlfError, match=r"unknown MNIST-1D argument.*'nosuch'"):
        paper.load_mnist1d(nosuch=1)


def test_without_the_generator_one_line_says_how_to_install_it(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)  # `import mnist1d.data` fails
    with pytest.raises(DlfError, match=r"pip install 'dlf\[paper\]'"):
        paper.load_mnist1d()
    assert main(["reproduce", "mnist1d", "--quick", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "dlf[paper]" in err[0]


# ------------------------------------------------------------------------------ augmentation
def test_augmentation_with_only_the_shift_is_a_circular_roll_per_item():
    aug = paper.Augment1d(raw_std=1.0, max_shift=5, scale_coeff=0, shear_scale=0, iid_noise_scale=0)  # fmt: skip
    x = torch.randn(64, 40)
    torch.manual_seed(0)
    out = aug({"signal": x, "label": torch.zeros(64)})["signal"]
    for row, shifted in zip(x, out):
        rolls = [k for k in range(-5, 6) if torch.equal(row.roll(k), shifted)]
        assert len(rolls) == 1
    assert not torch.equal(out, x)  # 64 items: some shift is not zero


def test_augmentation_shear_adds_a_straight_ramp_and_scale_stays_in_its_range():
    x = torch.randn(32, 40)
    shear = paper.Augment1d(raw_std=0.5, max_shift=0, scale_coeff=0, shear_scale=0.75, iid_noise_scale=0)  # fmt: skip
    diff = shear({"signal": x})["signal"] - x
    second = diff[:, 2:] - 2 * diff[:, 1:-1] + diff[:, :-2]  # a line has no curvature
    torch.testing.assert_close(second, torch.zeros_like(second), atol=1e-5, rtol=0)
    # the ramp spans one unit, so its end-to-end rise is the coefficient, |c| <= 0.75/0.5/2
    rise = (diff[:, -1] - diff[:, 0]).abs()
    assert rise.max() <= 0.75 + 1e-5 and rise.max() > 0
    scale = paper.Augment1d(raw_std=1.0, max_shift=0, scale_coeff=0.4, shear_scale=0, iid_noise_scale=0)  # fmt: skip
    ratio = scale({"signal": x})["signal"] / x
    per_item = ratio[:, :1]
    torch.testing.assert_close(ratio, per_item.expand_as(ratio), atol=1e-5, rtol=1e-5)
    assert ((per_item >= 0.8 - 1e-6) & (per_item <= 1.2 + 1e-6)).all()


def test_every_row_and_its_quick_version_can_run():
    """A recipe whose steps are not whole evaluation intervals is refused at its start, which
    in a long `dlf reproduce` could be an hour in: every shipped row is checked here."""
    for r in (*paper.PAPER_ROWS, *paper.ABLATION_ROWS, *paper.SHUFFLED_ROWS):
        for recipe in (r, paper.quick(r)):
            assert recipe.steps % recipe.eval_every == 0, recipe.name
    assert {r.steps for r in paper.PAPER_ROWS} == {6000}  # the paper's notebook
    assert {(r.lr, r.bs, r.opt, r.schedule) for r in paper.PAPER_ROWS} == {(1e-2, 100, "adam", "constant")}  # fmt: skip


def test_the_step_sampler_makes_whole_passes_over_the_rows():
    torch.manual_seed(0)
    s = paper.StepSampler(n=10, per_epoch=4)
    seen = np.concatenate([s.epoch_indices() for _ in range(5)])  # 20 positions = 2 passes
    assert len(seen) == 20
    assert np.bincount(seen, minlength=10).tolist() == [2] * 10


# ------------------------------------------------------------------------------ training
def test_the_paper_cnn_trained_briefly_is_far_above_chance(data):
    """400 steps of the paper's CNN recipe (of 6,000): chance is 10%, the paper's logistic
    regression 32%; a working pipeline is past 60% already."""
    res = paper.train_recipe(paper.quick(paper.PAPER_ROWS[2], steps=400), data, seed=0)
    assert res.test_acc > 60
    assert [s for s, _ in res.curve] == [200, 400]
    # the figure (own inference pass) equals the Learner's last validation (its own loop)
    assert res.test_acc == pytest.approx(res.curve[-1][1], abs=1e-4)
    assert res.params == 5_210


def test_tta_with_one_shift_is_plain_accuracy_and_shifts_are_centred():
    model = create_model("mnist1d_logistic", num_classes=10, in_chans=1)
    x, y = np.random.randn(50, 40).astype(np.float32), np.arange(50) % 10
    with torch.no_grad():
        plain = 100 * (model(torch.from_numpy(x)).argmax(1).numpy() == y).mean()
        probs = sum(model(torch.from_numpy(x).roll(k, 1)).softmax(1) for k in (0, 1, -1))
    assert paper.evaluate_accuracy(model, x, y) == pytest.approx(plain)
    three = 100 * (probs.argmax(1).numpy() == y).mean()
    assert paper.evaluate_accuracy(model, x, y, shifts=3) == pytest.approx(three)


def _fake_run(recipe: paper.Recipe, seed: int, acc: float, **extra) -> paper.RunResult:
    curve = [(s, acc) for s in range(recipe.eval_every, recipe.steps + 1, recipe.eval_every)]
    return paper.RunResult(recipe.name, seed, acc, curve, 1.5, 5_210, {"steps": recipe.steps, **extra}, 3.0)  # fmt: skip


def test_the_table_shows_mean_and_sample_std_beside_the_papers_figure(tmp_path):
    cnn, beat = paper.PAPER_ROWS[2], paper.BEAT
    runs = [_fake_run(cnn, s, a) for s, a in enumerate([92.0, 93.0, 94.0])]
    runs += [_fake_run(beat, 0, 98.0, raw_weights=97.0, no_tta=97.5)]
    md = paper.render_markdown(runs, {"torch": "x"}, "curves.png")
    # mean 93.0, sample std (ddof 1) of 92, 93, 94 is 1.0 (numpy: np.std(..., ddof=1))
    assert np.std([92.0, 93.0, 94.0], ddof=1) == 1.0
    assert (
        "| CNN | `mnist1d_cnn` | 5,210 | 94 | 92.3 | 93.0 ± 1.0 | -1.0 | 92.0–94.0 | 3 | 2 | 3 |"
        in md
    )
    assert "| + label smoothing 0.1 | `mnist1d_resnet` | 5,210 |  |  | 97.0 ± 0.0 |" in md
    assert (
        "| + EMA of the weights (decay 0.99) | `mnist1d_resnet` | 5,210 |  |  | 97.5 ± 0.0 |" in md
    )
    assert (
        "| + TTA: mean over 5 shifts (ours) | `mnist1d_resnet` | 5,210 |  |  | 98.0 ± 0.0 |" in md
    )
    assert "MLP" not in md.split("## Beating")[0]  # rows without runs are left out
    assert paper.plot_curves(runs)[:4] == b"\x89PNG"


def test_a_results_folder_of_other_settings_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "r"
    out.mkdir()
    stale = _fake_run(paper.quick(paper.PAPER_ROWS[0]), 0, 30.0)
    (out / "results.json").write_text(json.dumps([dataclasses.asdict(stale)]))
    assert main(["reproduce", "mnist1d", "--seeds", "1", "--out", str(out)]) == 2
    assert "trained for 200 steps, not 6000 (a --quick run?)" in capsys.readouterr().err
    (out / "results.json").write_text("{not json")
    with pytest.raises(DlfError, match="not a results file of dlf reproduce"):
        paper.reproduce(out, seeds=1)


@pytest.mark.slow
def test_dlf_reproduce_quick_writes_every_row_and_the_page(tmp_path):
    out = tmp_path / "quick"
    assert main(["reproduce", "mnist1d", "--quick", "--out", str(out)]) == 0
    md = (out / "results.md").read_text()
    for recipe in (*paper.PAPER_ROWS, *paper.SHUFFLED_ROWS):
        assert f"| {recipe.name} |" in md
    assert "| + TTA: mean over 5 shifts (ours) |" in md
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "<img" in (out / "results.html").read_text()
    runs = json.loads((out / "results.json").read_text())
    assert len(runs) == len(paper.PAPER_ROWS) + len(paper.ABLATION_ROWS) + len(paper.SHUFFLED_ROWS)  # fmt: skip
    # a rerun finds every run done and trains nothing
    assert main(["reproduce", "mnist1d", "--quick", "--out", str(out)]) == 0
    assert len(json.loads((out / "results.json").read_text())) == len(runs)


@pytest.mark.slow
def test_the_full_paper_cnn_row_matches_the_papers_figure_within_2_points(data):
    res = paper.train_recipe(paper.PAPER_ROWS[2], data, seed=0)
    assert abs(res.test_acc - paper.PAPER_FIGURES["cnn"]) <= 2.0, res.test_acc
