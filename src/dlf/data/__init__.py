"""Week 2: from files on disk to fast, correct batches.

Read files (image.py), decode them once into a cache (cache.py), describe the dataset
(blocks.py, block.py, splits.py), batch it from memory (resident.py, samplers.py,
loaders.py), augment on the device (augment.py), look at it (show.py).
"""

from dlf.data.augment import (
    Affine,
    CutMix,
    Cutout,
    Dihedral,
    Flip,
    Lighting,
    MixUp,
    Normalize,
    ToFloat,
    aug_transforms,
)
from dlf.data.block import DataBlock, Datasets, get_image_files, parent_label
from dlf.data.blocks import (
    Block,
    BoxBlock,
    BoxLabelBlock,
    CategoryBlock,
    ImageBlock,
    MaskBlock,
    MultiCategoryBlock,
    RegressionBlock,
)
from dlf.data.cache import ArrayCache, ImageCache
from dlf.data.image import (
    channel_count,
    oriented_size,
    read_dicom,
    read_image,
    read_oriented,
    read_stack,
)
from dlf.data.image_dls import ImageDataLoaders, class_folders
from dlf.data.loaders import DataLoaders, DeviceLoader, to_device, train_drop_last
from dlf.data.resident import ArrayLoader, array_column, image_column, mask_column, ragged_column
from dlf.data.samplers import ClassBalancedSampler, WeightedSampler, class_balanced_weights
from dlf.data.splits import (
    column_splitter,
    folder_splitter,
    group_kfold_splitter,
    kfold_splitter,
    random_splitter,
    stratified_kfold_splitter,
)
from dlf.data.table import align, check_id, read_table, unique_ids, write_table
from dlf.data.tfrecord import (
    SequenceExample,
    encode_sequence_example,
    parse_sequence_example,
    read_records,
    write_records,
)

__all__ = [
    "Affine",
    "ArrayCache",
    "ArrayLoader",
    "Block",
    "BoxBlock",
    "BoxLabelBlock",
    "CategoryBlock",
    "ClassBalancedSampler",
    "CutMix",
    "Cutout",
    "DataBlock",
    "DataLoaders",
    "Datasets",
    "DeviceLoader",
    "Dihedral",
    "Flip",
    "ImageBlock",
    "ImageCache",
    "ImageDataLoaders",
    "Lighting",
    "MaskBlock",
    "MixUp",
    "MultiCategoryBlock",
    "Normalize",
    "RegressionBlock",
    "SequenceExample",
    "ToFloat",
    "WeightedSampler",
    "align",
    "array_column",
    "aug_transforms",
    "channel_count",
    "check_id",
    "class_balanced_weights",
    "class_folders",
    "column_splitter",
    "encode_sequence_example",
    "folder_splitter",
    "get_image_files",
    "group_kfold_splitter",
    "image_column",
    "kfold_splitter",
    "mask_column",
    "oriented_size",
    "parent_label",
    "parse_sequence_example",
    "ragged_column",
    "random_splitter",
    "read_dicom",
    "read_image",
    "read_oriented",
    "read_records",
    "read_stack",
    "read_table",
    "stratified_kfold_splitter",
    "to_device",
    "train_drop_last",
    "unique_ids",
    "write_records",
    "write_table",
]
