"""Batch transforms that run on the device, one call per batch.

A transform takes a batch and returns one. A batch is named (dlf.data.batch): a dict whose
keys say what each tensor is: "image" (uint8 or float N x C x H x W), "mask" (N x H x W label
map), "boxes" (N x M x 4 pixel x1 y1 x2 y2, padded) with "box_labels" (N x M, -1 = padding),
"pairs" (N x M x 8: two boxes, e.g. subject and object) with "pair_labels", "label" (class
index), "multilabel" / "regression" (float rows); any other field is passed through. A
positional tuple works too: `kinds` then names its positions (the data block fills it in
from its blocks; kinds=None means "position 0 is the image").

Geometric transforms draw one random choice per item and apply it identically to images,
masks (nearest neighbour) and boxes (corners transformed, clipped, degenerate boxes
dropped, i.e. their label set to -1). Random transforms have `train_only = True`.

By job: common.py (fields, float conversion, random draws), color.py (pixel values),
geometry.py (flips, symmetries, one fused affine), mix.py (MixUp, CutMix).
"""

from dlf.data.augment.color import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    Cutout,
    Lighting,
    Normalize,
    ToFloat,
    adjust_lighting,
    cutout_mask,
)
from dlf.data.augment.common import configure, map_images, to_float
from dlf.data.augment.geometry import (
    Affine,
    Dihedral,
    Flip,
    affine_grid,
    affine_theta,
    apply_affine,
    transform_boxes,
)
from dlf.data.augment.mix import CutMix, MixUp


def aug_transforms(
    flip: bool = True,
    rotate: float = 10.0,
    zoom: float = 1.1,
    translate: float = 0.0,
    brightness: float = 0.2,
    contrast: float = 0.2,
    p_affine: float = 0.75,
) -> list:
    """A sensible default set: one fused flip+affine grid_sample, then lighting."""
    tfms: list = []
    if rotate or zoom > 1 or translate:
        tfms.append(
            Affine(
                rotate=rotate,
                zoom=(1.0, zoom),
                translate=translate,
                flip=0.5 if flip else 0.0,
                p=p_affine,
            )
        )
    elif flip:
        tfms.append(Flip())
    if brightness or contrast:
        tfms.append(Lighting(brightness=brightness, contrast=contrast))
    return tfms


__all__ = [
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "Affine",
    "CutMix",
    "Cutout",
    "Dihedral",
    "Flip",
    "Lighting",
    "MixUp",
    "Normalize",
    "ToFloat",
    "adjust_lighting",
    "affine_grid",
    "affine_theta",
    "apply_affine",
    "aug_transforms",
    "configure",
    "cutout_mask",
    "map_images",
    "to_float",
    "transform_boxes",
]
