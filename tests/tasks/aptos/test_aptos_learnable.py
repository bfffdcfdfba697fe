"""The synthetic APTOS data takes a model to read: the default CNN run scores far above the
best trivial rule on the same held-out test images (slow: it is the `make demo` training)."""

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import cohen_kappa_score

from dlf.tasks.aptos.files import read_labels, read_test, read_train
from dlf.tasks.aptos.task import AptosTask
from dlf.tasks.base import TrainConfig
from dlf.tasks.runner import predict, synth, train
from tasks.aptos.trivial import best_trivial_qwk, global_stats


@pytest.mark.slow
def test_trained_cnn_beats_the_trivial_rule_by_far(tmp_path, monkeypatch):
    monkeypatch.setenv("DLF_HOME", str(tmp_path / "home"))
    task, data, run = AptosTask(), tmp_path / "data", tmp_path / "run"
    synth(task, data, task.synth_n, seed=0)
    train(task, TrainConfig(task="aptos", data=str(data), out=str(run)), quiet=True)
    predict(task, run, data, run / "submission.csv", tta=2)
    truth, pred = read_labels(data / "test_labels.csv"), read_labels(run / "submission.csv")
    cnn = cohen_kappa_score(
        [truth[i] for i in truth], [pred[i] for i in truth], weights="quadratic"
    )

    # The trivial rule fitted on the training images, scored on the same test images.
    train_items, test_items = read_train(data), read_test(data)
    items = train_items + test_items
    X = np.array([global_stats(np.asarray(Image.open(it.path).convert("RGB"))) for it in items])
    y = np.array([it.diagnosis for it in train_items] + [truth[it.id_code] for it in test_items])
    trivial = best_trivial_qwk(X, y, n_fit=len(train_items))
    print(f"test QWK: CNN {cnn:.4f}, trivial rule {trivial:.4f}")
    assert cnn >= 0.8
    assert trivial < 0.35
    assert cnn - trivial > 0.45
