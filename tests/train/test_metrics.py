"""Metrics against sklearn (accuracy_score, top_k_accuracy_score, f1_score,
cohen_kappa_score) on random inputs fed in uneven batches, and Dice against hand-worked
examples."""

import math
import warnings

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
    f1_score,
    top_k_accuracy_score,
)

from dlf.core import DlfError
from dlf.train import metrics as M


def _batches(*tensors, sizes=(7, 1, 13, 4)):
    """Split tensors into uneven consecutive batches (the sizes cycle until the end)."""
    n, start, i = tensors[0].shape[0], 0, 0
    while start < n:
        stop = min(n, start + sizes[i % len(sizes)])
        yield tuple(t[start:stop] for t in tensors)
        start, i = stop, i + 1


def _run(metric, *tensors):
    metric.reset()
    for batch in _batches(*tensors):
        metric.update(*batch)
    return metric.compute().item()


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(3)
    y, pred = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
    ours = M.confusion_matrix(torch.from_numpy(y), torch.from_numpy(pred), 4)
    np.testing.assert_array_equal(ours.numpy(), confusion_matrix(y, pred, labels=range(4)))


def test_error_rate_matches_sklearn():
    g = torch.Generator().manual_seed(0)
    scores, y = torch.randn(101, 4, generator=g), torch.randint(0, 4, (101,), generator=g)
    expected = 1 - accuracy_score(y.numpy(), scores.argmax(1).numpy())
    assert M.error_rate(scores, y).item() == pytest.approx(expected, abs=1e-7)
    assert _run(M.AvgMetric(M.error_rate), scores, y) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_top_k_accuracy_matches_sklearn(k):
    g = torch.Generator().manual_seed(k)
    scores, y = torch.randn(97, 6, generator=g), torch.randint(0, 6, (97,), generator=g)
    expected = top_k_accuracy_score(y.numpy(), scores.numpy(), k=k, labels=range(6))
    assert M.top_k_accuracy(scores, y, k=k).item() == pytest.approx(expected, abs=1e-7)
    metric = M.TopKAccuracy(k)
    assert metric.name == f"top_{k}_accuracy"
    assert _run(metric, scores, y) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_binary_f1_matches_sklearn(seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(60, 1, generator=g) - 0.5
    y = (torch.rand(60, generator=g) < 0.3).long()
    expected = f1_score(y.numpy(), (logits[:, 0] > 0).long().numpy())
    assert _run(M.F1Score(), logits, y) == pytest.approx(expected, abs=1e-12)  # (N, 1) logits
    assert _run(M.F1Score(), logits[:, 0], y) == pytest.approx(expected, abs=1e-12)  # (N,)
    two_scores = torch.cat([torch.zeros_like(logits), logits], dim=1)  # (N, 2) scores
    assert _run(M.F1Score(), two_scores, y.float()) == pytest.approx(expected, abs=1e-12)


def test_binary_f1_without_positives_is_zero_as_in_sklearn():
    y, pred = np.zeros(10, dtype=int), np.zeros(10, dtype=int)
    expected = f1_score(y, pred, zero_division=0.0)  # sklearn's default value, without warning
    assert _run(M.F1Score(), torch.from_numpy(pred), torch.from_numpy(y)) == expected == 0.0


@pytest.mark.parametrize("seed", range(20))
def test_macro_f1_matches_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes, n = int(rng.integers(2, 7)), int(rng.integers(1, 40))  # classes often missing
    scores = torch.from_numpy(rng.normal(size=(n, n_classes)))
    y = torch.from_numpy(rng.integers(0, n_classes, n))
    expected = f1_score(y.numpy(), scores.argmax(1).numpy(), average="macro", zero_division=0.0)
    assert _run(M.F1Score("macro"), scores, y) == pytest.approx(expected, abs=1e-12)
    labels = scores.argmax(1)
    metric = M.F1Score("macro", n_classes=n_classes)
    assert _run(metric, labels, y) == pytest.approx(expected, abs=1e-12)


def test_macro_f1_on_labels_needs_the_class_count():
    with pytest.raises(DlfError, match="n_classes"):
        M.F1Score("macro").update(torch.tensor([0, 1]), torch.tensor([1, 1]))


def _sklearn_qwk(y_true, y_pred, labels=None):
    with warnings.catch_warnings():  # sklearn warns on the undefined (nan) cases
        warnings.simplefilter("ignore")
        return cohen_kappa_score(y_true, y_pred, weights="quadratic", labels=labels)


def _same(a, b):
    return (math.isnan(a) and math.isnan(b)) or a == pytest.approx(b, abs=1e-12)


def test_qwk_function_matches_sklearn_on_random_inputs():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n_classes, n = int(rng.integers(1, 7)), int(rng.integers(1, 30))
        # draw from a random subset of the grades, so some grades are skipped (gaps)
        grades = rng.choice(n_classes, size=int(rng.integers(1, n_classes + 1)), replace=False)
        y_true, y_pred = rng.choice(grades, n), rng.choice(grades, n)
        if rng.random() < 0.3:  # predictions near the truth, so kappa is well above 0
            y_pred = np.clip(y_true + rng.integers(-1, 2, n), 0, n_classes - 1)
        assert _same(M.quadratic_weighted_kappa(y_true, y_pred), _sklearn_qwk(y_true, y_pred))
        with_range = M.quadratic_weighted_kappa(y_true, y_pred, n_classes=n_classes)
        assert _same(with_range, _sklearn_qwk(y_true, y_pred, labels=list(range(n_classes))))


def test_qwk_degenerate_cases_follow_sklearn():
    # everything in one class on both sides: undefined, nan in both
    assert math.isnan(M.quadratic_weighted_kappa([2, 2, 2], [2, 2, 2]))
    assert math.isnan(_sklearn_qwk([2, 2, 2], [2, 2, 2]))
    # all true in one class, all predicted in another: 0 in both
    assert M.quadratic_weighted_kappa([0, 0, 0], [3, 3, 3]) == _sklearn_qwk([0, 0, 0], [3, 3, 3])
    assert M.quadratic_weighted_kappa([0, 1, 2, 3], [0, 1, 2, 3]) == 1.0
    with pytest.raises(DlfError, match=r"0\.\.4"):
        M.quadratic_weighted_kappa([0, 5], [0, 1], n_classes=5)


def test_qwk_metric_on_scores_and_labels():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(5, 50))
        y = torch.from_numpy(rng.integers(0, 5, n))
        scores = torch.from_numpy(rng.normal(size=(n, 5))) + 2 * torch.eye(5)[y]
        expected = _sklearn_qwk(y.numpy(), scores.argmax(1).numpy(), labels=list(range(5)))
        assert _same(_run(M.QWK(5), scores, y), expected)
        assert _same(_run(M.QWK(5), scores.argmax(1), y.float()[:, None]), expected)


def test_regression_outputs_to_grades():
    values = torch.tensor([-3.0, 0.49, 0.5, 1.2, 2.5, 3.49, 9.0])
    assert M.regression_to_class(values, 5).tolist() == [0, 0, 1, 1, 3, 3, 4]
    thresholds = [0.7, 1.4, 2.6, 3.1]
    # numpy's digitize with right=False puts a value equal to a threshold in the upper class
    expected = np.digitize(values.numpy(), thresholds, right=False)
    assert M.regression_to_class(values, 5, thresholds).tolist() == expected.tolist()
    with pytest.raises(DlfError, match="4 thresholds"):
        M.regression_to_class(values, 5, [0.5, 1.5])


def test_qwk_metric_on_regression_outputs_matches_sklearn():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 5, 80)
    pred = (y + rng.normal(scale=0.8, size=80)).astype(np.float32)[:, None]  # (N, 1)
    thresholds = [0.4, 1.6, 2.4, 3.3]
    for th in (None, thresholds):
        bins = [0.5, 1.5, 2.5, 3.5] if th is None else th
        expected = _sklearn_qwk(y, np.digitize(pred[:, 0], bins), labels=list(range(5)))
        got = _run(M.QWK(5, thresholds=th), torch.from_numpy(pred), torch.from_numpy(y))
        assert got == pytest.approx(expected, abs=1e-12)


def _masks(rows):
    return torch.tensor(rows, dtype=torch.bool)


def test_dice_hand_worked_per_image_mean():
    # image 1: P = {(0,0), (0,1)}, T = {(0,0)}: 2·1 / (2 + 1) = 2/3
    # image 2: both empty: 1 by convention
    # image 3: P empty, T = {(1,1)}: 0 / 1 = 0
    # mean = (2/3 + 1 + 0) / 3 = 5/9
    pred = _masks([[[1, 1], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [0, 0]]])
    target = _masks([[[1, 0], [0, 0]], [[0, 0], [0, 0]], [[0, 0], [0, 1]]])
    per_image = M.dice_per_image(pred[:, None], target[:, None])
    torch.testing.assert_close(
        per_image, torch.tensor([[2 / 3], [1.0], [0.0]], dtype=torch.float64)
    )
    logits = torch.where(pred, 4.0, -4.0)[:, None]  # (N, 1, H, W) logits, (N, H, W) masks
    assert _run(M.Dice(), logits, target.long()) == pytest.approx(5 / 9, abs=1e-7)


def test_dice_threshold_and_channels():
    # probabilities 0.6 are positive at threshold 0.5, negative at 0.7
    logits = torch.full((1, 2, 2, 2), math.log(0.6 / 0.4))
    logits[0, 1] = -10.0  # channel 2 predicts nothing
    target = torch.zeros(1, 2, 2, 2)
    target[0, 0, 0, 0] = 1  # channel 1: one pixel; channel 2: empty
    # threshold 0.5: channel 1 P = all 4, T = 1 -> 2/5; channel 2 empty-empty -> 1
    assert _run(M.Dice(0.5), logits, target) == pytest.approx((2 / 5 + 1) / 2)
    # threshold 0.7: channel 1 P empty, T = 1 -> 0; channel 2 -> 1
    assert _run(M.Dice(0.7), logits, target) == pytest.approx(0.5)
    with pytest.raises(DlfError, match="shape"):
        M.Dice().update(logits, target[:, :1])
