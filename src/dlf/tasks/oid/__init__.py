"""Open Images 2019 Object Detection as a dlf task (being built): the challenge's files
(files.py), the class hierarchy (hierarchy.py) and the challenge metric (metric.py)."""

from dlf.tasks.oid.files import (
    Boxes,
    Detections,
    ImageLabels,
    read_boxes,
    read_classes,
    read_hierarchy,
    read_image_labels,
    read_submission,
    write_submission,
)
from dlf.tasks.oid.hierarchy import Hierarchy
from dlf.tasks.oid.metric import OidResult, evaluate_oid, oid_map

__all__ = [
    "Boxes",
    "Detections",
    "Hierarchy",
    "ImageLabels",
    "OidResult",
    "evaluate_oid",
    "oid_map",
    "read_boxes",
    "read_classes",
    "read_hierarchy",
    "read_image_labels",
    "read_submission",
    "write_submission",
]
