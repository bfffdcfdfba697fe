"""The recursion task's own pieces, each against an independent reference: ArcFace against
its paper's formula worked element by element with `math`, the cosine head against torch's
cosine_similarity, the plate assignment against brute force over all matchings, the site
mean, the normalisation statistics and the experiment folds against plain loops."""

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlf.tasks.recursion import (
    CosineHead,
    PerItemNormalize,
    arcface_logits,
    assign_plate,
    experiment_folds,
    group_stats,
    plate_assignment,
    plate_groups,
    well_mean,
    well_split,
)
from dlf.tasks.recursion.task import RecursionLoss, sirna_probs


def test_arcface_logits_follow_the_papers_formula():
    # Deng et al. 2019, eq. 3: target logit s*cos(theta_y + m), others s*cos(theta_j)
    torch.manual_seed(0)
    cos = torch.rand(5, 7) * 2 - 1
    target = torch.tensor([0, 3, 6, 2, 2])
    s, m = 30.0, 0.5
    got = arcface_logits(cos, target, s, m)
    for i in range(5):
        for j in range(7):
            c = float(cos[i, j])
            want = s * (math.cos(math.acos(c) + m) if j == int(target[i]) else c)
            assert float(got[i, j]) == pytest.approx(want, abs=1e-4)
    assert torch.equal(arcface_logits(cos, target, s, 0.0), s * cos)  # no margin: cosine softmax


def test_arcface_margin_makes_the_loss_harder_and_keeps_gradients_finite():
    cos = (torch.rand(8, 11) * 2 - 1).requires_grad_()
    target = torch.randint(0, 11, (8,))
    plain = F.cross_entropy(arcface_logits(cos, target, 16, 0.0), target)
    margin = F.cross_entropy(arcface_logits(cos, target, 16, 0.3), target)
    margin.backward()
    assert margin > plain and torch.isfinite(cos.grad).all()


def test_cosine_head_is_the_cosine_between_feature_and_class_weight():
    head = CosineHead(6, 4)
    x = torch.randn(3, 6)
    want = F.cosine_similarity(x[:, None, :], head.weight[None], dim=-1)
    torch.testing.assert_close(head(x), want, atol=1e-6, rtol=1e-5)


def test_loss_and_activation_split_the_outputs():
    out = torch.randn(4, 1139 + 4)
    sirna, cell = torch.tensor([0, 5, 1108, 1138]), torch.tensor([0, 1, 2, 3])
    with_cell = RecursionLoss("softmax", 1, 0, cell_head=True)(out, sirna, cell)
    want = F.cross_entropy(out[:, :1139], sirna) + 0.2 * F.cross_entropy(out[:, 1139:], cell)
    torch.testing.assert_close(with_cell, want)
    probs = sirna_probs(out)
    assert probs.shape == (4, 1108)  # controls are never an answer
    torch.testing.assert_close(probs.sum(1), torch.ones(4))


def _brute_force(log_probs):
    best, best_pred = -np.inf, None
    for cols in itertools.permutations(range(log_probs.shape[1]), log_probs.shape[0]):
        total = sum(log_probs[r, c] for r, c in enumerate(cols))
        if total > best:
            best, best_pred = total, np.array(cols)
    return best_pred, best


@pytest.mark.parametrize("wells, sirnas", [(4, 4), (3, 5), (5, 6)])
def test_assign_plate_finds_the_best_matching_by_brute_force(wells, sirnas):
    rng = np.random.default_rng(wells * 10 + sirnas)
    log_probs = np.log(rng.dirichlet(np.ones(sirnas), wells))
    pred, total = assign_plate(log_probs, np.arange(sirnas))
    want, want_total = _brute_force(log_probs)
    assert total == pytest.approx(want_total) and np.array_equal(pred, want)


def test_plate_assignment_uses_each_sirna_once_and_picks_the_plates_group():
    rng = np.random.default_rng(1)
    groups = [[0, 1, 2, 3], [4, 5, 6, 7]]
    truth = np.array([5, 4, 7, 6, 2, 0, 3, 1])  # plate 0 holds group 1, plate 1 group 0
    plate_of = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    probs = rng.dirichlet(np.ones(8) * 0.5, 8) * 0.5
    probs[np.arange(8), truth] += 0.3  # right, but not always the argmax
    probs /= probs.sum(1, keepdims=True)
    for groups_given in (None, groups):
        pred = plate_assignment(probs, plate_of, groups_given)
        for p in (0, 1):
            assert len(set(pred[plate_of == p])) == 4  # each siRNA once per plate
    pred = plate_assignment(probs, plate_of, groups)
    assert set(pred[:4]) == set(groups[1]) and set(pred[4:]) == set(groups[0])
    assert plate_groups(truth, plate_of) == groups


def test_well_mean_averages_the_sites_of_each_well():
    probs = torch.rand(6, 3)
    well_of = np.array([2, 0, 2, 1, 0, 1])
    wells, mean = well_mean(probs, well_of)
    assert list(wells) == [0, 1, 2]
    for k, w in enumerate(wells):
        torch.testing.assert_close(mean[k], probs[torch.as_tensor(well_of == w)].mean(0))


def test_group_stats_and_per_item_normalisation():
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (5, 4, 3, 6), dtype=np.uint8)
    keys = ["a", "b", "a", "a", "b"]
    stats = group_stats(array, keys)
    for k in "ab":
        rows = [i for i, key in enumerate(keys) if key == k]
        x = array[rows].astype(np.float64)
        np.testing.assert_allclose(stats[rows[0], 0], x.mean(axis=(0, 1, 2)), rtol=1e-5)
        np.testing.assert_allclose(stats[rows[0], 1], x.std(axis=(0, 1, 2)), rtol=1e-5)
    batch = {"image": torch.from_numpy(array).permute(0, 3, 1, 2), "norm": torch.from_numpy(stats),
             "sirna": torch.arange(5)}  # fmt: skip
    out = PerItemNormalize()(batch)
    assert set(out) == {"image", "sirna"}  # the statistics do not reach the model or the loss
    img = out["image"].permute(0, 2, 3, 1).numpy()
    a = [0, 2, 3]
    np.testing.assert_allclose(img[a].mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(img[a].std(axis=(0, 1, 2)), 1, rtol=1e-4)


def test_experiment_folds_hold_out_whole_experiments_of_every_cell_type():
    exps = [f"{c}-0{e}" for c in ("HEPG2", "RPE") for e in (1, 2, 3) for _ in range(4)]
    seen = []
    for fold in range(3):
        tr, va = experiment_folds(exps, 3, fold, seed=0)
        held = {exps[i] for i in va}
        assert held.isdisjoint({exps[i] for i in tr}) and len(tr) + len(va) == len(exps)
        assert {h.split("-")[0] for h in held} == {"HEPG2", "RPE"}
        seen += sorted(held)
    assert sorted(seen) == sorted(set(exps))  # every experiment validated exactly once
    tr, va = well_split(np.repeat(np.arange(10), 2), 0.3, seed=0)
    assert len(va) == 6 and set(va // 2).isdisjoint(set(tr // 2))  # both sites on one side
