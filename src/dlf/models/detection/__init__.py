"""dlf.models.detection: a one-stage detector (FCOS) built from parts you can read one by one.

    boxes.py    IoU, IoA, GIoU, the ltrb encoding, clipping
    nms.py      greedy NMS (per class too) and weighted box fusion, in plain PyTorch
    points.py   the locations of every pyramid level
    targets.py  which box each location must predict
    fcos.py     the model (`fcos_resnet18`, ...) and decoding its output into boxes
    roi.py      RoIAlign on grid_sample: fixed-size features of any box

The loss lives in dlf.train.detection (FCOSLoss).
"""

from dlf.models.detection.boxes import (
    box_area,
    box_ioa,
    box_iou,
    clip_boxes,
    generalized_box_iou,
    giou_loss,
    ltrb_decode,
    ltrb_encode,
)
from dlf.models.detection.fcos import (
    FCOS,
    FCOS_BACKBONES,
    FCOSHead,
    FCOSOutput,
    Scale,
    decode_detections,
    fcos,
    fcos_scores,
)
from dlf.models.detection.nms import batched_nms, nms, weighted_box_fusion
from dlf.models.detection.points import fcos_points, grid_points, level_sizes
from dlf.models.detection.roi import roi_align, roi_align_padded
from dlf.models.detection.targets import centerness_target, fcos_targets, size_ranges

__all__ = [
    "FCOS",
    "FCOS_BACKBONES",
    "FCOSHead",
    "FCOSOutput",
    "Scale",
    "batched_nms",
    "box_area",
    "box_ioa",
    "box_iou",
    "centerness_target",
    "clip_boxes",
    "decode_detections",
    "fcos",
    "fcos_points",
    "fcos_scores",
    "fcos_targets",
    "generalized_box_iou",
    "giou_loss",
    "grid_points",
    "level_sizes",
    "ltrb_decode",
    "ltrb_encode",
    "nms",
    "roi_align",
    "roi_align_padded",
    "size_ranges",
    "weighted_box_fusion",
]
