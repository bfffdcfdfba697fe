"""SIIM-ACR Pneumothorax Segmentation: the real files, the RLE codec, the metric, the generator."""

from dlf.tasks.siim.files import (
    find_dicoms,
    match_dicoms,
    read_dicom,
    read_submission,
    read_train_rle,
    write_submission,
)
from dlf.tasks.siim.metric import evaluate_siim
from dlf.tasks.siim.rle import rle_decode, rle_decode_union, rle_encode, rle_runs
from dlf.tasks.siim.synth import chest_radiograph, synth_siim

__all__ = [
    "chest_radiograph",
    "evaluate_siim",
    "find_dicoms",
    "match_dicoms",
    "read_dicom",
    "read_submission",
    "read_train_rle",
    "rle_decode",
    "rle_decode_union",
    "rle_encode",
    "rle_runs",
    "synth_siim",
    "write_submission",
]
