"""Recursion Cellular Image Classification (RxRx1, 2019): the siRNA of a well from six-channel
fluorescence microscopy, across experiments with strong batch effects.

files.py reads and writes the competition's files, synth.py writes a synthetic dataset in
that layout, normalize.py removes the batch effect per experiment, split.py holds out whole
experiments, heads.py has the softmax / cosine / ArcFace heads, postprocess.py averages the
sites and solves the plate-level assignment; task.py puts them together.
"""

from dlf.tasks.recursion.files import (
    Well,
    accuracy_of_files,
    read_site,
    read_split,
    read_submission,
    read_wells,
    write_submission,
)
from dlf.tasks.recursion.heads import CosineHead, RecursionNet, arcface_logits
from dlf.tasks.recursion.normalize import PerItemNormalize, group_stats
from dlf.tasks.recursion.postprocess import (
    assign_plate,
    plate_assignment,
    plate_groups,
    well_mean,
)
from dlf.tasks.recursion.split import experiment_folds, well_split
from dlf.tasks.recursion.synth import sirna_signature, site_image, synth_recursion

__all__ = [
    "CosineHead",
    "PerItemNormalize",
    "RecursionNet",
    "Well",
    "accuracy_of_files",
    "arcface_logits",
    "assign_plate",
    "experiment_folds",
    "group_stats",
    "plate_assignment",
    "plate_groups",
    "read_site",
    "read_split",
    "read_submission",
    "read_wells",
    "sirna_signature",
    "site_image",
    "synth_recursion",
    "well_mean",
    "well_split",
    "write_submission",
]
