"""APTOS 2019 Blindness Detection: grade diabetic retinopathy 0-4 from fundus photographs.

files.py reads and writes the competition's real files, synth.py writes a synthetic
dataset in that layout, preprocess.py turns a photograph into a square crop of the fundus.
"""

from dlf.tasks.aptos.files import (
    AptosItem,
    paired_labels,
    read_labels,
    read_test,
    read_train,
    write_submission,
)
from dlf.tasks.aptos.preprocess import ben_graham, crop_to_fundus, load_fundus
from dlf.tasks.aptos.synth import fundus_image, synth_aptos

__all__ = [
    "AptosItem",
    "ben_graham",
    "crop_to_fundus",
    "fundus_image",
    "load_fundus",
    "paired_labels",
    "read_labels",
    "read_test",
    "read_train",
    "synth_aptos",
    "write_submission",
]
