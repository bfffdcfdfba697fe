"""The trivial rule on a synthetic RxRx1 folder, raw or with per-experiment normalisation:
nearest class mean of per-channel statistics (dlf.tasks.recursion.baseline), sites averaged
per well, fitted on all training treatment wells, scored on the test wells."""

import numpy as np

from dlf.data.image import resize
from dlf.tasks.recursion import group_stats, read_site, read_split, read_submission
from dlf.tasks.recursion.baseline import channel_stats, nearest_class_mean, per_well
from dlf.tasks.recursion.files import SITES


def site_features(folder, split, normalise: bool, size: int = 64):
    wells = read_split(folder, split)
    sites = [(w, s) for w in wells for s in SITES]
    array = np.stack([resize(read_site(w.site_files(folder, split, s)), (size, size))
                      for w, s in sites])  # fmt: skip
    norm = group_stats(array, [w.experiment for w, _ in sites]) if normalise else None
    _, features = per_well(channel_stats(array, norm), np.repeat(np.arange(len(wells)), 2))
    return wells, features


def trivial_test_accuracy(folder, normalise: bool) -> float:
    train, f_train = site_features(folder, "train", normalise)
    test, f_test = site_features(folder, "test", normalise)
    treated = np.array([not w.control for w in train])
    y_train = np.array([w.sirna for w in train])[treated]
    pred = nearest_class_mean(f_train[treated], y_train, f_test)
    truth = read_submission(folder / "test_labels.csv")
    scored = [(truth[w.id_code], p) for w, p in zip(test, pred) if not w.control]
    return float(np.mean([t == p for t, p in scored]))
