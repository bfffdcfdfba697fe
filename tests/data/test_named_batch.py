"""Named batches: transforms take a dict whose keys say what each tensor is, give exactly what
the positional form with `kinds` gives (same random draws, same results), move box pairs like
boxes, and the Learner feeds the model its `inputs` fields and the loss the rest."""

import numpy as np
import torch
import torch.nn.functional as F

from dlf import DataLoaders, Learner, seed_everything
from dlf.data.augment import Affine, Dihedral, Flip, Lighting, Normalize
from dlf.data.resident import ArrayLoader, array_column
from tiny import TinyCNN, make_data


def batch(n=4, size=16):
    g = torch.Generator().manual_seed(0)
    image = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    mask = (torch.rand(n, size, size, generator=g) > 0.7).to(torch.uint8)
    boxes = torch.tensor([[[2.0, 3.0, 9.0, 12.0], [0.0, 0.0, 15.0, 15.0]]]).repeat(n, 1, 1)
    labels = torch.tensor([[1, 2]]).repeat(n, 1)
    return image, mask, boxes, labels


KINDS = ("image", "mask", "boxes", "box_labels")


def test_named_and_positional_batches_give_the_same_results():
    for tfm in (
        Flip(p=0.5),
        Dihedral(),
        Affine(rotate=30, zoom=(1.0, 1.3), p=0.8),
        Lighting(p=1.0),
    ):
        parts = batch()
        torch.manual_seed(1)
        tup = tfm.__class__(**{**tfm.__dict__, "kinds": KINDS})(parts)
        torch.manual_seed(1)
        out = tfm(dict(zip(KINDS, parts)))
        assert list(out) == list(KINDS)
        for a, b in zip(tup, out.values()):
            assert torch.equal(a, b), type(tfm).__name__


def test_box_pairs_move_like_their_two_boxes():
    """A pair (subject box, object box) transformed as one field equals each half transformed
    as a boxes field; a pair is dropped when either of its boxes leaves the image."""
    image, _, boxes, _ = batch()
    boxes[:, 0] = torch.tensor([0.0, 0.0, 3.0, 3.0])  # a corner box a zoom pushes out
    pairs = torch.cat([boxes, boxes.flip(1)], -1)  # N x 2 x 8
    pair_labels = torch.tensor([[3, 4]]).repeat(len(pairs), 1)
    for tfm in (Flip(p=0.5), Dihedral(), Affine(rotate=45, zoom=(2.0, 2.5), translate=0.3, p=1.0)):
        torch.manual_seed(2)
        got = tfm({"image": image, "pairs": pairs, "pair_labels": pair_labels})
        halves = []
        for half in (pairs[..., :4], pairs[..., 4:]):
            torch.manual_seed(2)
            ref = tfm({"image": image, "boxes": half, "box_labels": pair_labels})
            halves.append(ref)
        assert torch.equal(got["pairs"], torch.cat([halves[0]["boxes"], halves[1]["boxes"]], -1))
        gone = (halves[0]["box_labels"] < 0) | (halves[1]["box_labels"] < 0)
        assert torch.equal(got["pair_labels"] < 0, gone)
    assert gone.any()  # the strong zoom and shift do push boxes out: the check above is not empty


def test_the_learner_feeds_named_inputs_to_the_model_and_the_rest_to_the_loss():
    x, y = make_data(96)
    cols = {"image": array_column(x.numpy()), "label": array_column(y.numpy()),
            "plate": array_column(np.arange(96))}  # fmt: skip
    seen = []

    def loss(pred, label, plate):  # targets in batch order, a pass-through field included
        seen.append(plate)
        return F.cross_entropy(pred, label)

    seed_everything(0)
    train = ArrayLoader(cols, np.arange(72), bs=16, shuffle=True, drop_last=True)
    valid = ArrayLoader(cols, np.arange(72, 96), bs=24)
    dls = DataLoaders(train, valid, device="cpu", batch_tfms=[Normalize(mean=(0.0,), std=(1.0,))])
    learn = Learner(TinyCNN(), dls, loss, precision="fp32")
    learn.fit(3, 1e-2)
    assert learn.recorder.values[-1]["valid_loss"] < 1.0
    assert all(p.dtype == torch.int64 for p in seen)
    preds, label, plate = learn.get_preds()
    assert torch.equal(label, y[72:]) and torch.equal(plate, torch.arange(72, 96))
    assert preds.shape == (24, 3)


def test_ragged_columns_pad_per_batch_or_to_the_longest_row_of_all():
    """Reference: the rows themselves; padding is `pad`, never a real row's value."""
    from dlf.data.resident import ragged_column

    rows = [np.arange(8.0).reshape(2, 4), np.zeros((0, 4)), np.ones((5, 4))]
    per_batch = ragged_column(rows, pad=-1, dtype=torch.float32)(np.array([0, 1]))
    assert per_batch.shape == (2, 2, 4) and (per_batch[1] == -1).all()
    assert torch.equal(per_batch[0], torch.arange(8.0).view(2, 4))
    fixed = ragged_column(rows, pad=-1, dtype=torch.float32, fixed=True)
    a, b = fixed(np.array([0, 1])), fixed(np.array([2]))
    assert a.shape == (2, 5, 4) and b.shape == (1, 5, 4)  # so validation batches concatenate
    assert torch.equal(torch.cat([a, b])[2], torch.ones(5, 4)) and (a[0, 2:] == -1).all()
