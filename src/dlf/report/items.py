"""What a run predicted on each validation item, saved in its run folder for the meetup board.

A task declares what its items look like (`Task.valid_items`) as one of four kinds, and the
board compares runs of any task through these kinds alone, with no case for any task:

- "label": one class per item (true and predicted class names);
- "tags":  a set of names per item (multi-label, ranked outputs);
- "mask":  a binary mask per item (true and predicted masks, at thumbnail size);
- "boxes": a list of [x1, y1, x2, y2, name] per item, in 0-1 image coordinates (ragged:
           boxes, or relationship triplets named "subject rel object").

Files: `valid_items.json` (kind, ids, truths, predictions, classes) and `valid_items.npz`
(thumbnails of some items, masks). Thumbnails are capped (`MAX_IMAGES`) so a run folder stays
small enough to send: predictions are kept for every item, pictures for the first ones given.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from dlf.core.atomic import atomic_write_bytes, atomic_write_text
from dlf.core.errors import DlfError

KINDS = ("label", "tags", "mask", "boxes")
THUMB = 96  # pixels on the longer side: enough to recognise an item on a projector
MAX_IMAGES = 300  # thumbnails kept per run (about 8 MB at most, uncompressed)
ITEMS_JSON, ITEMS_NPZ = "valid_items.json", "valid_items.npz"


@dataclass
class ValidItems:
    """One run's validation items. `true`/`pred` hold one entry per id (see the kinds above;
    None for masks, which are in `true_masks`/`pred_masks`, N x h x w bool). `images` maps
    an id to its uint8 thumbnail (h x w or h x w x 3); `classes` orders a label confusion
    matrix. `note` is an optional per-item text shown beside a prediction (a confidence)."""

    kind: str
    ids: list[str]
    true: list
    pred: list
    classes: list[str] = field(default_factory=list)
    images: dict[str, np.ndarray] = field(default_factory=dict)
    true_masks: np.ndarray | None = None
    pred_masks: np.ndarray | None = None
    note: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise DlfError(f"valid items: kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if not len(self.ids) == len(self.true) == len(self.pred):
            raise DlfError(
                f"valid items: {len(self.ids)} ids, {len(self.true)} truths and "
                f"{len(self.pred)} predictions; give one of each per item"
            )


def thumbnail(image: np.ndarray, side: int = THUMB, nearest: bool = False) -> np.ndarray:
    """An image (h x w, h x w x 1 or h x w x 3) scaled so its longer side is `side`."""
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    h, w = a.shape[:2]
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    resample = Image.Resampling.NEAREST if nearest else Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(a.astype(np.uint8)).resize(size, resample))


def thumbnails(ids: list[str], images: np.ndarray | None, first: int = MAX_IMAGES) -> dict:
    """Thumbnails of the first `first` items (images: N x H x W x C uint8, or None)."""
    if images is None:
        return {}
    return {i: thumbnail(images[k]) for k, i in enumerate(ids[:first])}


def mask_thumbnails(masks) -> np.ndarray:
    """N x H x W masks (bool or 0/1, numpy or torch) -> N x h x w bool at thumbnail size."""
    masks = np.asarray(masks).astype(bool)
    return np.stack([thumbnail(m, nearest=True) > 127 for m in masks]) if len(masks) else masks


def save_items(run: Path, items: ValidItems) -> None:
    """Write `valid_items.json` and `valid_items.npz` into the run folder (atomically)."""
    image_ids = list(items.images)
    meta = {"kind": items.kind, "ids": items.ids, "true": items.true, "pred": items.pred,
            "classes": list(items.classes), "note": list(items.note), "image_ids": image_ids}  # fmt: skip
    arrays = {f"image_{k}": items.images[i] for k, i in enumerate(image_ids)}
    if items.true_masks is not None:
        arrays["true_masks"] = np.packbits(items.true_masks, axis=-1)
        arrays["pred_masks"] = np.packbits(items.pred_masks, axis=-1)
        arrays["mask_width"] = np.array(items.true_masks.shape[-1])
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(run / ITEMS_NPZ, buf.getvalue())
    atomic_write_text(run / ITEMS_JSON, json.dumps(meta))


def load_items(run: Path) -> ValidItems | None:
    """A run's saved items, or None when it has none (its task declares none, or an older run)."""
    if not (run / ITEMS_JSON).is_file():
        return None
    try:
        meta = json.loads((run / ITEMS_JSON).read_text())
    except json.JSONDecodeError as e:
        raise DlfError(f"{run / ITEMS_JSON}: line {e.lineno}: not valid JSON ({e.msg})") from None
    arrays = np.load(run / ITEMS_NPZ) if (run / ITEMS_NPZ).is_file() else {}
    images = {i: arrays[f"image_{k}"] for k, i in enumerate(meta.get("image_ids", []))}
    masks = {}
    if "true_masks" in arrays:
        width = int(arrays["mask_width"])
        for name in ("true_masks", "pred_masks"):
            masks[name] = np.unpackbits(arrays[name], axis=-1)[..., :width].astype(bool)
    return ValidItems(kind=meta["kind"], ids=meta["ids"], true=meta["true"], pred=meta["pred"],
                      classes=meta.get("classes", []), images=images, note=meta.get("note", []),
                      **masks)  # fmt: skip


def box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_agreement(a: list, b: list, iou: float = 0.5) -> float:
    """Share of boxes that find a partner of the same name at IoU >= `iou` (greedy, one
    partner each): 2 * matched / (len(a) + len(b)); two empty lists agree fully."""
    if not a and not b:
        return 1.0
    free = list(range(len(b)))
    matched = 0
    for box in a:
        best = max(
            free, key=lambda j: box_iou(box, b[j]) if b[j][4] == box[4] else -1, default=None
        )
        if best is not None and b[best][4] == box[4] and box_iou(box, b[best]) >= iou:
            free.remove(best)
            matched += 1
    return 2 * matched / (len(a) + len(b))


def distance(kind: str, a, b) -> float:
    """How much two predictions of one item differ, 0 (same) to 1 (nothing in common)."""
    if kind == "label":
        return float(a != b)
    if kind == "tags":
        sa, sb = set(a), set(b)
        return 1 - len(sa & sb) / len(sa | sb) if sa | sb else 0.0
    if kind == "mask":
        union = np.logical_or(a, b).sum()
        return float(1 - np.logical_and(a, b).sum() / union) if union else 0.0
    return 1 - box_agreement(a, b)


__all__ = [
    "ITEMS_JSON",
    "ITEMS_NPZ",
    "KINDS",
    "MAX_IMAGES",
    "ValidItems",
    "box_agreement",
    "distance",
    "load_items",
    "mask_thumbnails",
    "save_items",
    "thumbnail",
    "thumbnails",
]
