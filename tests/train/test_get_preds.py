"""`Learner.get_preds`: the one inference loop (validation scoring, post-processing fits and
submissions all go through it). References: the model called by hand on the same inputs,
under the same autocast, and `tta_predict` (itself checked against the symmetries in
test_callbacks/tta tests)."""

import torch
import torch.nn.functional as F

from dlf import Learner, seed_everything
from dlf.core.hardware import resolve_precision
from dlf.train.tta import TTAMerge, dihedral, undo_dihedral
from tiny import TinyCNN, make_data, make_dls


def valid_inputs():
    x, y = make_data(96)
    return x[72:], y[72:]


def trained(precision: str = "fp32") -> Learner:
    seed_everything(0)
    learn = Learner(TinyCNN(), make_dls(), F.cross_entropy, precision=precision)
    learn.fit(1, 1e-2)
    return learn


def test_predictions_equal_the_model_called_by_hand_in_the_learners_precision():
    learn = trained("fp32")
    x, y = valid_inputs()
    preds, targets = learn.get_preds()
    with torch.no_grad():
        ref = learn.model.eval()(x)
    assert torch.equal(targets, y)
    assert torch.equal(preds, ref)  # fp32 run: fp32 inference, bit for bit

    learn.precision = resolve_precision("bf16", torch.device("cpu"))
    preds16, _ = learn.get_preds()
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        ref16 = learn.model(x).float()
    assert torch.equal(preds16, ref16)
    assert not torch.equal(preds16, ref)


def test_tta_and_act_average_the_activated_outputs_over_the_symmetries():
    learn = trained()
    x, _ = valid_inputs()
    preds, _ = learn.get_preds(tta=4, act=lambda o: o.softmax(-1))
    with torch.no_grad():
        ref = sum(learn.model(dihedral(x, k)).softmax(-1) for k in range(4)) / 4
    torch.testing.assert_close(preds, ref, rtol=0, atol=1e-6)


def test_dense_tta_maps_each_output_back_before_averaging():
    """A model that returns its input: every symmetry mapped back is the input itself."""
    learn = trained()
    learn.model = torch.nn.Identity()
    x, _ = valid_inputs()
    preds, _ = learn.get_preds(tta=8, dense=True)
    torch.testing.assert_close(preds, x)
    assert undo_dihedral(dihedral(x, 5), 5).equal(x)


class BrightestColumn(torch.nn.Module):
    """A 'detector' whose output is a tuple: the x of each image's brightest column, and a
    constant (a tuple output is not averaged; only TTAMerge knows what it means)."""

    def forward(self, x):
        return x.mean((1, 2)).argmax(-1).float()[:, None], torch.ones(len(x))


def test_tta_merge_maps_each_pass_back_then_merges_instead_of_averaging():
    """Reference: the brightest column found on the untransformed image. The flipped pass
    finds it at w-1-x; `undo` maps it back, and `merge` sees both passes."""
    learn = trained()
    learn.model = BrightestColumn()
    x, _ = valid_inputs()
    w = x.shape[-1]
    undo = lambda out, k, h, w_: w_ - 1 - out if k & 1 else out  # noqa: E731
    seen = []

    def merge(outs):
        seen.append(len(outs))
        return torch.cat(outs, 1)  # each pass's answer side by side

    preds, _ = learn.get_preds(tta=2, act=lambda o: o[0], merge=TTAMerge(undo, merge))
    truth = x.mean((1, 2)).argmax(-1).float()
    assert torch.equal(preds, torch.stack([truth, truth], 1)) and set(seen) == {2}
    assert not torch.equal(truth, w - 1 - truth)  # a missing undo would have been caught


def test_decode_returns_ragged_per_item_results_in_order():
    learn = trained()
    x, _ = valid_inputs()

    def decode(out):  # a ragged result: the classes scoring above the item's mean, per item
        return [torch.nonzero(o > o.mean()).flatten().tolist() for o in out.float()]

    preds, _ = learn.get_preds(decode=decode)
    with torch.no_grad():
        ref = decode(learn.model.eval()(x))
    assert isinstance(preds, list) and preds == ref and len(preds) == len(x)


def test_an_inference_pass_leaves_the_recorders_figures_alone():
    learn = trained()
    before = dict(learn.recorder.last_valid), list(learn.recorder.values)
    with torch.no_grad():  # a different model now: a pass that recorded would change the loss
        learn.model.head[1].bias += torch.tensor([3.0, 0.0, -3.0])
    learn.get_preds()
    learn.get_preds(tta=2, act=lambda o: o.softmax(-1))
    assert (dict(learn.recorder.last_valid), list(learn.recorder.values)) == before


def test_a_host_metric_scores_ragged_records_once_per_validation():
    """Mean reciprocal rank of the true class over per-item rankings (a ragged record per
    item, as mAP's boxes or MAP@K's segments are), against the same figure computed by hand
    from the model's outputs on the whole validation set."""
    from dlf.train.metrics import HostMetric

    calls = []

    def decode(pred, target):
        return [(torch.argsort(p, descending=True), int(t)) for p, t in zip(pred, target)]

    def mrr(records):
        calls.append(len(records))
        return sum(1 / (1 + r.tolist().index(t)) for r, t in records) / len(records)

    seed_everything(0)
    metric = HostMetric(decode, mrr, name="mrr")
    learn = Learner(TinyCNN(), make_dls(), F.cross_entropy, metrics=[metric], precision="fp32")
    learn.fit(1, 1e-2)
    x, y = valid_inputs()
    with torch.no_grad():
        out = learn.model.eval()(x)
    ranks = [1 + torch.argsort(o, descending=True).tolist().index(int(t)) for o, t in zip(out, y)]
    assert learn.recorder.values[-1]["mrr"] == sum(1 / r for r in ranks) / len(ranks)
    assert calls == [len(y)]  # scored once, on every item, after the last batch


def test_boxes_found_on_each_symmetry_map_back_onto_the_image():
    """Reference: a box drawn as a mask, moved by `dihedral`; the moved mask's bounding box,
    mapped back by `undo_dihedral_boxes`, is the box drawn (h != w catches a swapped size)."""
    from dlf.train.tta import undo_dihedral_boxes

    h, w = 12, 20
    box = torch.tensor([3.0, 2.0, 11.0, 7.0])  # x1 y1 x2 y2, pixel edges
    mask = torch.zeros(h, w)
    mask[2:7, 3:11] = 1
    for k in range(8):
        m = dihedral(mask, k)
        ys, xs = torch.nonzero(m, as_tuple=True)
        found = torch.stack([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]).float()
        assert torch.equal(undo_dihedral_boxes(found, k, h, w), box), k
