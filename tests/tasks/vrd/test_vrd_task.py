"""The vrd task's own glue, without training: what rides in the batches comes back as the
files say, and the prior saved in config.json ranks as the fitted one does."""

import numpy as np
import pytest

from dlf.tasks.base import Context, TrainConfig
from dlf.tasks.vrd.files import RELATIONSHIPS, read_allowed_triplets, read_image_labels, read_vrd
from dlf.tasks.vrd.metric import vrd_score
from dlf.tasks.vrd.prior import fit_frequency_prior, prior_predictions, truth_boxes
from dlf.tasks.vrd.synth import FILES, synth_vrd
from dlf.tasks.vrd.task import VrdOptions, VrdTask, _truth, saved_prior


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    mp = pytest.MonkeyPatch()
    mp.setenv("DLF_HOME", str(home))
    data = synth_vrd(tmp_path_factory.mktemp("vrd") / "data", n=30, n_test=2, seed=3)
    task = VrdTask()
    cfg = TrainConfig(task="vrd", size=32).fill_defaults(task.defaults)
    ctx = Context(cfg, VrdOptions(), {}, data, log=lambda _: None)
    train = task.data(ctx, "train")
    ctx = Context(cfg, VrdOptions(), task.fit_facts(ctx, train), data, log=lambda _: None)
    yield task, ctx, train, data
    mp.undo()


def _rows(t):
    """A triplet table as a sorted list of (image, label1, label2, relation, boxes)."""
    names, ids = t.label_names, t.image_ids
    return sorted(
        (ids[i], names[a], names[b], int(r), *np.round(b1, 5).tolist(), *np.round(b2, 5).tolist())
        for i, a, b, r, b1, b2 in zip(t.image, t.label1, t.label2, t.relation, t.box1, t.box2)
    )


def test_validation_truth_rides_along_unchanged(setup):
    # reference: the validation file read directly (read_vrd / read_image_labels)
    task, ctx, train, data = setup
    _, valid_idx = task.split(ctx, train)
    cols = train.columns
    targets = tuple(cols[k](valid_idx) for k in ("boxes", "box_labels", "triplets", "verified"))
    ids = [train.ids[i] for i in valid_idx]
    truth, labels = _truth(targets, ids, ctx.fitted["labels"])
    expected = read_vrd(data / FILES["validation_vrd"])
    assert _rows(truth) == _rows(expected)
    file_labels = read_image_labels(data / FILES["validation_labels"])
    assert sorted(zip(labels.image, labels.label, labels.confidence)) == sorted(
        zip(file_labels.image, file_labels.label, file_labels.confidence)
    )


def test_saved_prior_scores_as_the_fitted_prior(setup):
    # reference: fit_frequency_prior on the training file, used directly
    _, ctx, _, data = setup
    allowed = read_allowed_triplets(data / FILES["triplets"])
    fitted = fit_frequency_prior(read_vrd(data / FILES["train_vrd"], allowed), allowed)
    saved = saved_prior(ctx.fitted)
    for s in saved.labels:
        for o in saved.labels:
            for r in ("on", "at", "holds", "is", "under"):
                assert saved.probability(s, o, r) == pytest.approx(fitted.probability(s, o, r))
    truth = read_vrd(data / FILES["validation_vrd"])
    labels = read_image_labels(data / FILES["validation_labels"])
    boxes = truth_boxes(truth)
    a = vrd_score(truth, labels, prior_predictions(boxes, fitted)).score
    b = vrd_score(truth, labels, prior_predictions(boxes, saved)).score
    assert a == pytest.approx(b) and a > 0.2


def test_links_point_at_the_boxes_of_each_triplet(setup):
    # reference: the triplets riding along (read from the files, test above): each link's
    # subject and object boxes and classes are the triplet's, `is` links a box to itself
    _, ctx, train, _ = setup
    idx = np.arange(len(train))
    boxes = train.columns["boxes"](idx).numpy() / ctx.cfg.size
    classes = train.columns["box_labels"](idx).numpy()
    links, triplets = train.columns["links"](idx).numpy(), train.columns["triplets"](idx).numpy()
    n_classes = len(ctx.fitted["classes"])
    checked = 0
    for n in range(len(train)):
        real = triplets[n][triplets[n][:, 0] >= 0]
        assert (links[n][:, 0] >= 0).sum() == len(real)
        for (i, j, r, a), t in zip(links[n][: len(real)], real):
            assert r == t[2] and classes[n, i] == t[0]
            assert np.allclose(boxes[n, i], t[3:7], atol=1e-5)
            assert np.allclose(boxes[n, j], t[7:11], atol=1e-5)
            if r == RELATIONSHIPS.index("is"):
                assert i == j and a == t[1] - n_classes
            else:
                assert classes[n, j] == t[1] and a == -1
            checked += 1
    assert checked > 50
