"""The learning-rate finder: fastai's sweep and suggestion rules, and a sweep that leaves no
trace (no printed rows, no history, same training afterwards).

The independent reference below is fastai 2.7's `lr_find` suggestion step (trim, valley,
steep, minimum, slide) and its smoothing (`AvgSmoothLoss`) and stop rule (`LRFinder`),
written here from the published definitions in fastai/callback/schedule.py and
fastai/learner.py, computed the way fastai does: in float32 torch tensors, with list
indices as fastai uses them (including its -1 start of a valley).
"""

import math
import sys
import types

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dlf import seed_everything
from dlf.core.errors import DlfError
from dlf.train import Learner, LRFinder
from dlf.train.callbacks import CSVLogger
from dlf.train.lr_find import slide, suggest, trim, valley
from tiny import TinyCNN, make_dls


@pytest.fixture(autouse=True)
def one_thread():
    # These sweeps are a few hundred tiny steps: extra threads only fight other processes.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---------------------------------------------------------------- the reference (fastai 2.7)


def ref_smooth(raw: list[float], beta: float = 0.98) -> list[float]:
    """AvgSmoothLoss: val = lerp(loss, val, beta); value = val / (1 - beta**count)."""
    val, out = torch.tensor(0.0), []
    for count, loss in enumerate(raw, start=1):
        val = torch.lerp(torch.tensor(loss), val, beta)
        out.append(float(val / (1 - beta**count)))
    return out


def ref_stop(smooth: list[float], num_it: int) -> int:
    """How many points LRFinder records: best updated first, stop past 4x best or at num_it."""
    best = math.inf
    for i, s in enumerate(smooth, start=1):
        best = min(best, s)
        if s > 4 * best or i >= num_it:
            return i
    return len(smooth)


def ref_suggest(lrs: list[float], losses: list[float], num_it: int) -> dict[str, float]:
    lrs_t = torch.tensor(lrs[num_it // 10 : -5])
    losses_t = torch.tensor(losses[num_it // 10 : -5])
    nans = torch.nonzero(torch.isnan(losses_t.view(-1)))
    if len(nans) > 0:
        lrs_t, losses_t = lrs_t[: int(nans.min())], losses_t[: int(nans.min())]
    lo = losses_t.tolist()  # float32 values: comparisons as fastai makes them
    n = len(lo)
    # valley: longest decreasing subsequence (O(n^2)), then a third and a sixth of it in
    lds, max_start, max_end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if lo[i] < lo[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end, max_start = i, i - lds[i]
    sections = (max_end - max_start) / 3
    valley_lr = float(lrs_t[max_start + int(sections) + int(sections / 2)])
    # steep: forward differences against log lr, the left point of the steepest
    grads = (losses_t[1:] - losses_t[:-1]) / (lrs_t[1:].log() - lrs_t[:-1].log())
    steep_lr = float(lrs_t[grads.argmin()])
    minimum_lr = float(lrs_t[losses_t.argmin()]) / 10
    # slide (lr_diff=15, thresh=0.005): numpy gradient per step, window walking left
    g = np.gradient(losses_t.numpy())
    r, left = -1, -16
    slide_lr = float(lrs_t[left])
    while left >= -len(g) and abs(g[r] - g[left]) > 0.005:
        slide_lr = float(lrs_t[left])
        r, left = r - 1, left - 1
    return {"valley": valley_lr, "steep": steep_lr, "minimum": minimum_lr, "slide": slide_lr}


# ---------------------------------------------------------------- recorded curves


def sweep_lrs(n: int, num_it: int = 100, start: float = 1e-7, end: float = 10.0) -> list[float]:
    return [start * (end / start) ** (i / num_it) for i in range(n)]


def u_shape(lr: float) -> float:
    """Flat at 2.3, a fall to 0.6 around 1e-3, a blow-up past 0.1."""
    x = math.log10(lr)
    return 0.6 + 1.7 / (1 + math.exp(2.5 * (x + 3))) + 0.05 * math.exp(4 * (x + 1))


def curve_u() -> tuple[list[float], list[float]]:
    raw = [u_shape(lr) for lr in sweep_lrs(100)]
    smooth = ref_smooth(raw)
    n = ref_stop(smooth, 100)
    return sweep_lrs(n), smooth[:n]


def curve_noisy() -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(3)
    raw = [u_shape(lr) * (1 + 0.15 * rng.standard_normal()) for lr in sweep_lrs(100)]
    smooth = ref_smooth(raw)
    n = ref_stop(smooth, 100)
    return sweep_lrs(n), smooth[:n]


# A real sweep: `dlf lr-find folder --size 32` (resnet18, bf16 autocast, the embedded shapes
# data, seed 42), its 95 smoothed losses rounded to 4 decimals. It stopped at the blow-up.
REAL_LOSSES = [
    1.0344, 1.4648, 1.4793, 1.4202, 1.3780, 1.3852, 1.3530, 1.3518, 1.3142, 1.3011, 1.2924,
    1.2824, 1.2750, 1.2868, 1.2869, 1.2734, 1.2728, 1.2585, 1.2558, 1.2540, 1.2488, 1.2414,
    1.2393, 1.2354, 1.2506, 1.2488, 1.2471, 1.2422, 1.2436, 1.2449, 1.2498, 1.2408, 1.2530,
    1.2601, 1.2677, 1.2613, 1.2624, 1.2553, 1.2580, 1.2526, 1.2522, 1.2456, 1.2442, 1.2425,
    1.2353, 1.2331, 1.2290, 1.2238, 1.2163, 1.2059, 1.2023, 1.1966, 1.1988, 1.1971, 1.2163,
    1.2313, 1.2502, 1.2795, 1.3153, 1.3262, 1.3619, 1.3940, 1.4001, 1.4211, 1.4325, 1.4578,
    1.4547, 1.4513, 1.4697, 1.4621, 1.4846, 1.4731, 1.5008, 1.5513, 1.5477, 1.5511, 1.6473,
    1.7151, 1.7775, 1.7719, 1.8956, 1.9500, 2.0010, 1.9793, 2.0428, 2.0380, 2.0141, 2.0146,
    2.0392, 2.0240, 2.0200, 2.0002, 2.2893, 3.2260, 4.9894,
]  # fmt: skip


def curve_real() -> tuple[list[float], list[float]]:
    return sweep_lrs(len(REAL_LOSSES)), list(REAL_LOSSES)


def curve_transient() -> tuple[list[float], list[float]]:
    """A first batch far worse than the rest: the smoothed curve's steepest fall is its
    first step, where a slope over all points finds it (the old rule answered 1e-7)."""
    raw = [u_shape(lr) for lr in sweep_lrs(100)]
    raw[0] = 6.0
    smooth = ref_smooth(raw)
    n = ref_stop(smooth, 100)
    return sweep_lrs(n), smooth[:n]


def curve_nan() -> tuple[list[float], list[float]]:
    lrs, losses = curve_noisy()
    losses = list(losses)
    losses[70] = float("nan")  # a NaN that did not stop the sweep: the rules stop before it
    return lrs, losses


def curve_short() -> tuple[list[float], list[float]]:
    """Blew up 3 decades early: asked for 100 steps, stopped after about 60."""
    rng = np.random.default_rng(4)
    raw = [u_shape(lr * 1e3) * (1 + 0.1 * rng.standard_normal()) for lr in sweep_lrs(100)]
    smooth = ref_smooth(raw)
    n = ref_stop(smooth, 100)
    assert n < 70
    return sweep_lrs(n), smooth[:n]


CURVES = {
    "u": curve_u,
    "noisy": curve_noisy,
    "real": curve_real,
    "transient": curve_transient,
    "nan": curve_nan,
    "short": curve_short,
}


@pytest.mark.parametrize("name", CURVES)
def test_suggestions_agree_with_fastai_reference(name):
    lrs, losses = CURVES[name]()
    ref = ref_suggest(lrs, losses, 100)
    sug = suggest(lrs, losses, 100)
    for key in ("valley", "steep", "minimum"):
        assert getattr(sug, key) == pytest.approx(ref[key], rel=1e-5), key
    t_lrs, t_losses = trim(lrs, losses, 100)
    assert slide(t_lrs, t_losses) == pytest.approx(ref["slide"], rel=1e-5)


@pytest.mark.parametrize("name", CURVES)
def test_steep_is_never_the_first_lr(name):
    lrs, losses = CURVES[name]()
    # not even one of the first num_it // 10 points, where the smoothing has not settled
    assert suggest(lrs, losses, 100).steep >= lrs[10] > lrs[0]


@pytest.mark.parametrize("name", ["real", "transient"])
def test_these_curves_fall_fastest_in_their_first_points(name):
    # What made the old rule (np.gradient over all points) answer ~1e-7 on these two: keep
    # them such that the test above means something.
    lrs, losses = CURVES[name]()
    old = np.gradient(np.asarray(losses[:-5]), np.log(lrs[:-5]))
    assert int(np.argmin(old)) < 10


def test_valley_of_a_rising_curve_is_its_first_point():
    # fastai's arithmetic gives index -1 here, which Python reads as the last (highest) lr;
    # dlf takes the first, the only point the rule can mean.
    lrs = sweep_lrs(30)
    assert valley(lrs, [1.0 + i for i in range(30)]) == lrs[0]


def test_too_few_points_is_one_clear_error():
    lrs, losses = curve_noisy()
    with pytest.raises(DlfError, match="too few"):
        suggest(lrs[:14], losses[:14], 100)  # all 14 fall in the skipped ends
    with pytest.raises(DlfError, match="num_it"):
        LRFinder(num_it=5)
    with pytest.raises(DlfError, match="start_lr"):
        LRFinder(start_lr=1.0, end_lr=1e-3)


# ---------------------------------------------------------------- sweeps through the Learner


def scripted_loss(learn_ref: list, landscape, noise: float = 0.0, seed: int = 0):
    """A loss whose value is `landscape(current lr)` (times noise): the model's output enters
    with weight 0, so gradients are zero and the values are exactly as scripted."""
    rng = np.random.default_rng(seed)
    raw: list[float] = []

    def loss_func(pred, y):
        lr = learn_ref[0].opt.param_groups[-1]["lr"]
        value = landscape(lr) * (1 + noise * rng.standard_normal())
        if learn_ref[0].training:
            raw.append(value)
        return pred.sum() * 0.0 + value

    return loss_func, raw


def make_learner(loss_func=F.cross_entropy, **kw) -> Learner:
    seed_everything(0)
    dls = make_dls()
    return Learner(
        TinyCNN(), dls, loss_func, precision="fp32", logger=kw.pop("logger", lambda s: None), **kw
    )


def test_sweep_schedule_smoothing_and_stop_match_fastai():
    ref: list = []
    loss_func, raw = scripted_loss(ref, lambda lr: u_shape(lr * 1e3), noise=0.1)
    learn = make_learner(loss_func)
    ref.append(learn)
    learn.lr_find(num_it=100)
    f = learn.lr_finder
    n = ref_stop(ref_smooth(raw), 100)
    assert len(f.lrs) == n < 70  # it stopped at the blow-up, at fastai's step
    np.testing.assert_allclose(f.lrs, sweep_lrs(n), rtol=1e-12)  # lr_i = start * q**(i/num_it)
    np.testing.assert_allclose(f.losses, ref_smooth(raw)[:n], rtol=1e-5)


def test_lr_find_after_training_prints_one_line_and_leaves_history(tmp_path):
    lines: list[str] = []
    learn = make_learner(
        metrics=[lambda p, y: (p.argmax(-1) == y).float().mean()],
        cbs=[CSVLogger(tmp_path / "metrics.csv")],
        logger=lines.append,
    )
    learn.fit(2, 1e-2)
    rec = learn.recorder
    before = (
        [dict(r) for r in rec.values],
        list(rec.losses),
        list(rec.lrs),
        len(rec.stats),
        (tmp_path / "metrics.csv").read_bytes(),
    )
    n_lines = len(lines)
    sug = learn.lr_find(num_it=30)  # 6 epochs of 5 batches: the old sweep printed 6 rows
    new = lines[n_lines:]
    assert new == [
        f"lr_find: valley {sug.valley:.2e}, steep {sug.steep:.2e}, minimum {sug.minimum:.2e}"
    ]
    after = (
        rec.values,
        rec.losses,
        rec.lrs,
        len(rec.stats),
        (tmp_path / "metrics.csv").read_bytes(),
    )
    assert after == before


def test_training_after_lr_find_is_as_if_it_never_ran():
    plain = make_learner()
    plain.fit(2, 1e-2)
    swept = make_learner()
    swept.create_opt()
    swept.lr_find(num_it=20)  # draws dropout masks and shuffles: the random state is put back
    swept.fit(2, 1e-2)
    for (k, a), b in zip(plain.model.state_dict().items(), swept.model.state_dict().values()):
        assert torch.equal(a, b), k
    assert plain.recorder.values[-1]["train_loss"] == swept.recorder.values[-1]["train_loss"]


def test_weights_and_optimizer_come_back_after_an_error_mid_sweep():
    calls = []

    def failing_loss(pred, y):
        calls.append(1)
        if len(calls) == 12:
            raise RuntimeError("boom")
        return F.cross_entropy(pred, y)

    learn = make_learner(failing_loss)
    learn.fit(1, 1e-2)
    calls.clear()
    weights = {k: v.clone() for k, v in learn.model.state_dict().items()}
    lrs = [g["lr"] for g in learn.opt.param_groups]
    with pytest.raises(RuntimeError, match="boom"):
        learn.lr_find(num_it=30)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, weights[k]), k
    assert [g["lr"] for g in learn.opt.param_groups] == lrs


def test_show_plot_draws_the_curve_with_the_suggestions():
    learn = make_learner()
    sug = learn.lr_find(num_it=30, show_plot=True)
    fig = learn.lr_finder.figure
    assert fig is not None
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[0] == f"valley {sug.valley:.1e}" and labels[1] == f"steep {sug.steep:.1e}"
    assert labels[2].startswith(f"minimum {sug.minimum:.1e}")
    # the curve drawn is the sweep without its last 5 points, as fastai plots it
    np.testing.assert_allclose(ax.lines[0].get_xdata(), learn.lr_finder.lrs[:-5])
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_no_plot_by_default_outside_a_notebook(monkeypatch):
    # ipykernel imported (as nbclient does to find a kernel's spec) is not a notebook
    monkeypatch.setitem(sys.modules, "ipykernel", types.ModuleType("ipykernel"))
    learn = make_learner()
    learn.lr_find(num_it=20)
    assert learn.lr_finder.figure is None


def test_plot_by_default_inside_a_jupyter_kernel(monkeypatch):
    # what a Jupyter kernel's process holds: IPython, whose shell has a kernel
    shell = types.SimpleNamespace(kernel=object())
    ipython = types.ModuleType("IPython")
    ipython.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    learn = make_learner()
    learn.lr_find(num_it=20)
    assert learn.lr_finder.figure is not None
    import matplotlib.pyplot as plt

    plt.close(learn.lr_finder.figure)
