"""Named batches: a batch is a dict of tensors whose keys say what each one is.

    {"image": N x C x H x W, "mask": N x H x W, "boxes": N x M x 4, "box_labels": N x M,
     "pairs": N x M x 8 (two boxes), "label": N, "frames": N x T x D, "plate": N, ...}

A field's type comes from its name (`field_type`): a geometric transform is written once per
type (image, mask, boxes; box pairs reuse boxes) and applied to whatever fields a batch has;
fields of other types ("label", "frames", "plate") pass through untouched. Names may carry a
suffix after a dot for a second field of one type ("image.2", "boxes.subject").

Positional tuples tagged with `kinds` (the older form, still what the data block and plain
torch DataLoaders give) are read as named batches by `named` and written back by `positional`,
so every transform takes either.
"""

from collections.abc import Sequence

import torch

Batch = dict[str, torch.Tensor]

#: the field types geometry knows about; any other name is passed through
GEOMETRIC = ("image", "mask", "boxes", "pairs")


def field_type(name: str) -> str:
    """'image' for "image" or "image.2"; the name before the first dot."""
    return name.split(".", 1)[0]


def named(batch: tuple | Batch, kinds: Sequence[str] | None) -> tuple[Batch, list[str] | None]:
    """A dict view of `batch`, and the names its positions had (None if it was a dict)."""
    if isinstance(batch, dict):
        return batch, None
    kinds = list(kinds or ("image",))
    kinds = kinds[: len(batch)] + ["other"] * (len(batch) - len(kinds))
    names, seen = [], {}
    for k in kinds:  # a repeated kind (two "other" columns) gets its position as a suffix
        seen[k] = seen.get(k, 0) + 1
        names.append(k if seen[k] == 1 else f"{k}.{seen[k]}")
    return dict(zip(names, batch)), names


def positional(batch: Batch, names: list[str] | None) -> tuple | Batch:
    """The batch back in the form it came in."""
    return batch if names is None else tuple(batch[n] for n in names)


def any_geometry(batch: Batch) -> tuple[int, int, int]:
    """(N, H, W) from the batch's first image or mask."""
    from dlf.core.errors import DlfError

    for name, x in batch.items():
        if field_type(name) in ("image", "mask"):
            return x.shape[0], x.shape[-2], x.shape[-1]
    raise DlfError("a geometric transform needs an image or a mask in the batch")


__all__ = ["GEOMETRIC", "Batch", "any_geometry", "field_type", "named", "positional"]
