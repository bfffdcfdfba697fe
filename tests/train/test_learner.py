"""The Learner's loop, checked against a plain PyTorch loop and against its own promises."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlf import DataLoaders, Learner, accuracy, seed_everything
from dlf.train.callbacks import (
    CancelBatchException,
    CSVLogger,
    EarlyStopping,
    GradientAccumulation,
)
from tiny import TinyCNN, make_loaders


def sgd(params, lr):
    return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=1e-4)


def plain_loop(epochs: int, lr: float, opt_func=sgd):
    """The reference: the loop everyone writes by hand."""
    seed_everything(0)
    train, _ = make_loaders()
    model = TinyCNN()
    opt = opt_func(model.parameters(), lr)
    losses = []
    for _ in range(epochs):
        model.train()
        for x, y in train:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            opt.zero_grad()
            losses.append(loss.item())
    return model, losses


def dlf_loop(epochs: int, lr: float, **kw):
    seed_everything(0)
    train, valid = make_loaders()
    model = TinyCNN()
    kw.setdefault("opt_func", sgd)
    learn = Learner(model, DataLoaders(train, valid, device="cpu"), F.cross_entropy,
                    metrics=[accuracy], precision="fp32", logger=lambda s: None, **kw)  # fmt: skip
    learn.fit(epochs, lr)
    return learn


@pytest.mark.parametrize("opt_func", [sgd, None], ids=["sgd", "default-fused-adamw"])
def test_parity_with_plain_pytorch_loop(opt_func):
    """Default callbacks, fp32: exactly the same losses and weights as the hand-written loop
    (the validation pass in between must not disturb the data order or the weights)."""
    from dlf.train import default_opt_func

    kw = {"opt_func": opt_func or default_opt_func}
    ref_model, ref_losses = plain_loop(
        3, 1e-2, opt_func or (lambda p, lr: default_opt_func([{"params": list(p)}], lr))
    )
    learn = dlf_loop(3, 1e-2, **kw)
    assert learn.recorder.losses == ref_losses  # bit for bit
    for (k, a), b in zip(ref_model.state_dict().items(), learn.model.state_dict().values()):
        assert torch.equal(a, b), k


def test_same_seed_same_run():
    a, b = dlf_loop(2, 1e-2), dlf_loop(2, 1e-2)
    assert a.recorder.losses == b.recorder.losses
    assert a.recorder.values[-1]["valid_loss"] == b.recorder.values[-1]["valid_loss"]


def test_training_learns(dls):
    learn = Learner(
        TinyCNN(), dls, F.cross_entropy, metrics=[accuracy], precision="fp32", logger=lambda s: None
    )
    learn.fit_one_cycle(4, 3e-2)
    first, last = learn.recorder.values[0], learn.recorder.values[-1]
    assert last["valid_loss"] < first["valid_loss"]
    assert last["accuracy"] > 0.8
    assert learn.validate()["accuracy"] == pytest.approx(last["accuracy"])


def test_one_cycle_follows_fastai_defaults(dls):
    learn = Learner(TinyCNN(), dls, F.cross_entropy, precision="fp32", logger=lambda s: None)
    moms = []

    class WatchMom:
        def after_step(self, learn):
            moms.append(learn.opt.param_groups[0]["betas"][0])

    learn.fit_one_cycle(4, 1e-2, cbs=[WatchMom()])
    lrs = learn.recorder.lrs
    n = len(lrs)
    assert lrs[0] == pytest.approx(1e-2 / 25)
    assert max(lrs) == pytest.approx(1e-2, rel=2e-2)
    assert abs(lrs.index(max(lrs)) - round(0.25 * n)) <= 1  # peak at pct_start

    def fastai_lr(pos, lr_max=1e-2, div=25, div_final=1e5, pct=0.25):  # the published formula
        def cos(a, b, p):
            return a + (1 + math.cos(math.pi * (1 - p))) * (b - a) / 2

        if pos < pct:
            return cos(lr_max / div, lr_max, pos / pct)
        return cos(lr_max, lr_max / div_final, (pos - pct) / (1 - pct))

    assert lrs == pytest.approx([fastai_lr(i / n) for i in range(n)], rel=1e-9)
    assert fastai_lr(1.0) == pytest.approx(1e-7)
    assert moms[0] == pytest.approx(0.95) and min(moms) == pytest.approx(0.85, abs=2e-3)
    assert moms[-1] == pytest.approx(0.95, abs=2e-3)


def test_events_fire_in_order_and_cancel_batch_skips_the_step(dls):
    seen = []

    class Spy:
        def __getattr__(self, name):  # a test double only: records every event it is asked for
            if name.startswith(("before_", "after_")):
                return lambda learn: seen.append(name)
            raise AttributeError(name)

    learn = Learner(
        TinyCNN(), dls, F.cross_entropy, precision="fp32", cbs=[Spy()], logger=lambda s: None
    )
    learn.fit(1, 1e-2)
    first_batch = seen[seen.index("before_batch") : seen.index("after_batch") + 1]
    assert first_batch == [
        "before_batch", "before_pred", "after_pred", "before_loss", "after_loss",
        "before_backward", "after_backward", "before_step", "after_step", "after_batch",
    ]  # fmt: skip
    assert seen[0] == "before_fit" and seen[-1] == "after_fit"
    assert seen.index("after_train") < seen.index("before_valid")

    class SkipAll:
        def after_pred(self, learn):
            if learn.training:
                raise CancelBatchException

    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.fit(1, 1e-2, cbs=[SkipAll()])
    for k, v in learn.model.state_dict().items():
        if "running" not in k and "num_batches" not in k:  # BN statistics move in forward
            assert torch.equal(v, before[k]), k


def test_freeze_trains_only_the_head_and_bn(dls):
    learn = Learner(TinyCNN(), dls, F.cross_entropy, precision="fp32", logger=lambda s: None)
    learn.freeze()
    conv_before = learn.model.body[0].weight.clone()
    bn_before = learn.model.body[1].weight.clone()
    head_before = learn.model.head[1].weight.clone()
    learn.fit(1, 1e-2)
    assert torch.equal(learn.model.body[0].weight, conv_before)
    assert not torch.equal(learn.model.body[1].weight, bn_before)  # train_bn
    assert not torch.equal(learn.model.head[1].weight, head_before)
    learn.unfreeze()
    learn.fit(1, slice(1e-4, 1e-2))
    assert [g["lr"] for g in learn.opt.param_groups] == pytest.approx([1e-4, 1e-2])
    assert not torch.equal(learn.model.body[0].weight, conv_before)


def test_fine_tune_runs_both_phases(dls):
    learn = Learner(
        TinyCNN(), dls, F.cross_entropy, metrics=[accuracy], precision="fp32", logger=lambda s: None
    )
    learn.fine_tune(2, 1e-2, freeze_epochs=1)
    assert len(learn.recorder.values) == 3
    assert learn.opt.param_groups[0]["lr"] < learn.opt.param_groups[1]["lr"]


def test_gradient_accumulation_equals_a_bigger_batch():
    def run(bs, cbs):
        seed_everything(0)
        from torch.utils.data import DataLoader, TensorDataset

        from tiny import make_data

        x, y = make_data(32)
        dl = DataLoader(TensorDataset(x, y), batch_size=bs, shuffle=False)
        model = TinyCNN(p=0.0)
        model.eval()  # BN in eval mode: batch statistics would differ between bs 8 and 16
        learn = Learner(model, DataLoaders(dl, None, device="cpu"), F.cross_entropy,
                        opt_func=lambda p, lr: torch.optim.SGD(p, lr=lr), precision="fp32", cbs=cbs,
                        logger=lambda s: None)  # fmt: skip
        learn.model.train = lambda mode=True: learn.model  # keep eval mode for the comparison
        learn.fit(1, 0.1)
        return learn.model

    big = run(16, [])
    accum = run(8, [GradientAccumulation(2)])
    for a, b in zip(big.parameters(), accum.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_early_stopping_and_csv(dls, tmp_path):
    learn = Learner(TinyCNN(), dls, F.cross_entropy, metrics=[accuracy], precision="fp32", logger=lambda s: None,
                    cbs=[EarlyStopping("valid_loss", patience=1), CSVLogger(tmp_path / "metrics.csv")])  # fmt: skip
    learn.fit(30, 1.0)  # far too high a learning rate: the validation loss stops improving
    n = len(learn.recorder.values)
    assert n < 30
    lines = (tmp_path / "metrics.csv").read_text().splitlines()
    assert lines[0] == "epoch,train_loss,valid_loss,accuracy,seconds"
    assert len(lines) == n + 1


def test_bf16_autocast_trains_and_picks_channels_last(dls):
    learn = Learner(
        TinyCNN(), dls, F.cross_entropy, metrics=[accuracy], precision="bf16", logger=lambda s: None
    )
    assert learn.channels_last and learn.precision.autocast_dtype is torch.bfloat16
    learn.fit_one_cycle(3, 3e-2)
    assert math.isfinite(learn.recorder.values[-1]["valid_loss"])
    assert learn.recorder.values[-1]["valid_loss"] < learn.recorder.values[0]["valid_loss"]


def test_get_preds_and_predict(dls):
    learn = Learner(TinyCNN(), dls, F.cross_entropy, precision="fp32", logger=lambda s: None)
    learn.fit(1, 1e-2)
    preds, targets = learn.get_preds(act=lambda p: p.softmax(-1))
    assert preds.shape == (24, 3) and targets.shape == (24,)
    torch.testing.assert_close(preds.sum(-1), torch.ones(24))
    dls.vocab = ["top", "middle", "bottom"]
    label, idx, probs = learn.predict(torch.zeros(1, 12, 12))
    assert label == dls.vocab[idx] and probs.shape == (3,)


def test_lr_find_restores_weights_and_suggests(dls):
    learn = Learner(TinyCNN(), dls, F.cross_entropy, precision="fp32", logger=lambda s: None)
    learn.create_opt()
    before = {k: v.clone() for k, v in learn.model.state_dict().items()}
    sug = learn.lr_find(num_it=60)
    for k, v in learn.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    f = learn.lr_finder
    assert len(f.lrs) <= 60
    assert f.lrs == sorted(f.lrs)
    for lr in (sug.valley, sug.steep, sug.minimum):
        assert 1e-7 <= lr <= 10
    # the sweep stops once the smoothed loss passes 4x its best (it reaches lr=10 otherwise)
    assert f.losses[-1] > 4 * min(f.losses) or len(f.lrs) == 60
