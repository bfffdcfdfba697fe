"""The parts every box-detecting task shares (oid, vrd): FCOS on a zoo backbone, boxes moved
with the image by the batch transforms, decoding with per-class NMS, and flip TTA whose
passes are merged rather than averaged. A detection task subclasses `DetectionTask` and adds
its own data, loss wrapper, metric and submission; its `Options` must carry `pretrained`,
`score_floor`, `nms_iou`, `fpn_channels` and `head_depth`, and `top_k` unless it replaces
`activation` and `tta_merge` (vrd does: its model ranks triplets itself)."""

import numpy as np
import torch
from torch import nn

from dlf.core.errors import DlfError
from dlf.data.augment import Affine, Flip, Lighting, Normalize
from dlf.data.image import read_oriented
from dlf.data.resident import image_column
from dlf.models import create_model
from dlf.models.detection import decode_detections
from dlf.report.items import ValidItems, thumbnails
from dlf.tasks.base import Context, Data, Task
from dlf.tasks.common import build_cache
from dlf.tasks.oid.predict import merge_passes, pad_detections, to_rows
from dlf.train.detection import FCOSLoss
from dlf.train.tta import TTAMerge, undo_dihedral_boxes


class DetectionLoss(nn.Module):
    """FCOS's loss on the boxes; the batch's other fields (what the metric needs: group-of
    flags, verified labels, truth triplets) ride along and are not the loss's business."""

    def __init__(self) -> None:
        super().__init__()
        self.fcos = FCOSLoss()

    def forward(self, output, boxes, box_labels, *metric_fields) -> torch.Tensor:
        return self.fcos(output, boxes, box_labels)


class DetectionTask(Task):
    # one detector recipe for every detection task: the CPU default on the embedded data, and
    # --recipe kaggle (FCOS's COCO setting; sources in docs/tasks/oid.md and vrd.md)
    defaults = {"epochs": 30, "arch": "fcos_resnet18", "size": 160, "bs": 16, "lr": 3e-3, "tta": 2}
    recipes = {"kaggle": {"arch": "fcos_resnet50", "size": 800, "bs": 16, "epochs": 12, "tta": 2,
                          "options": {"fpn_channels": 256, "head_depth": 4}}}  # fmt: skip

    def cache(self, ctx: Context, paths: list, split: str) -> np.ndarray:
        """JPEGs read as a viewer shows them (EXIF orientation), stretched into the cache."""
        return build_cache(paths, ctx.data, split, ctx.cfg.size, read_oriented, "exif", ctx.log,
                           channels=3).array  # fmt: skip

    def test_images(self, ctx: Context) -> Data:
        """The test split: every test/<ImageID>.jpg, sorted by id."""
        paths = sorted((ctx.data / "test").glob("*.jpg"))
        if not paths:
            raise DlfError(f"{ctx.data / 'test'}: no .jpg test images; check --data")
        images = self.cache(ctx, paths, "test")
        return Data({"image": image_column(images)}, [p.stem for p in paths], images=images)

    def split(self, ctx: Context, train: Data) -> tuple[np.ndarray, np.ndarray]:
        """The challenge's own validation images (`train.extra["origin"] == 1`) when the
        validation files are there, else 15% of the training images at random."""
        origin = train.extra["origin"]
        if origin.max() > 0:
            train_idx, valid_idx = np.flatnonzero(origin == 0), np.flatnonzero(origin == 1)
        else:
            order = np.random.default_rng(ctx.cfg.seed).permutation(len(train))
            cut = max(1, len(train) * 15 // 100)
            valid_idx, train_idx = np.sort(order[:cut]), np.sort(order[cut:])
        ctx.log(f"{len(train_idx)} training, {len(valid_idx)} validation images")
        return train_idx, valid_idx

    def transforms(self, ctx: Context) -> list:
        # on the named batch {"image", "boxes", ...}: boxes move with the image. No vertical
        # flip: "on" and "under" (vrd) and upright objects (oid) would no longer be true.
        return [Flip(), Affine(zoom=(1.0, 1.3), translate=0.1, p=0.5, pad="zeros"),
                Lighting(brightness=0.2, contrast=0.2, saturation=0.2), Normalize()]  # fmt: skip

    def model(self, ctx: Context) -> nn.Module:
        o = ctx.opts
        return create_model(ctx.cfg.arch, num_classes=len(ctx.fitted["classes"]), pretrained=o.pretrained,
                            fpn_channels=o.fpn_channels, head_depth=o.head_depth)  # fmt: skip

    def loss(self, ctx: Context) -> nn.Module:
        return DetectionLoss()

    def activation(self, ctx: Context):
        size, o = ctx.cfg.size, ctx.opts

        def boxes(output) -> torch.Tensor:  # N x K x 6 rows x1 y1 x2 y2 score label, pixels
            return pad_detections(decode_detections(output, score_thr=o.score_floor, nms_iou=o.nms_iou,
                                                    max_per_image=o.top_k, image_size=(size, size)))  # fmt: skip

        return boxes

    def tta_merge(self, ctx: Context) -> TTAMerge:
        def undo(rows: torch.Tensor, k: int, h: int, w: int) -> torch.Tensor:
            return torch.cat([undo_dihedral_boxes(rows[..., :4], k, h, w), rows[..., 4:]], -1)

        return TTAMerge(undo, lambda passes: merge_passes(passes, ctx.opts.nms_iou, ctx.opts.top_k))

    def decode(self, ctx: Context):
        return lambda padded: to_rows(padded, ctx.cfg.size, ctx.cfg.size)

    def valid_items(self, ctx: Context, train: Data, valid_idx, preds: list, targets, post: dict):
        """Each validation image with its true boxes and the boxes detected with a score of
        0.3 or more (as the reports draw them), in 0-1 coordinates (ragged: a list per image).
        Shared by oid and vrd (whose board shows the detector's boxes, not the triplets)."""
        names, size = ctx.fitted["display_names"], ctx.cfg.size
        true, pred = [], []
        for j, rows in enumerate(preds):
            true.append([[*(np.asarray(b, float) / size).tolist(), names[int(c)]]
                         for b, c in zip(targets[0][j], targets[1][j]) if c >= 0])  # fmt: skip
            rows = np.asarray(rows)
            pred.append([[*r[:4].tolist(), names[int(r[5])]] for r in rows[rows[:, 4] >= 0.3]])
        ids = [train.ids[i] for i in valid_idx]
        return ValidItems("boxes", ids, true, pred, images=thumbnails(ids, train.images[valid_idx]),
                          note=[f"{len(p)} boxes" for p in pred])  # fmt: skip


__all__ = ["DetectionLoss", "DetectionTask"]
