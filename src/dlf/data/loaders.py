"""`DataLoaders`: a train and a valid loader that deliver batches on the device.

Any iterable of batches works as a loader, a plain `torch.utils.data.DataLoader` included.
A batch is named (a dict, see dlf.data.batch): the fields in `inputs` go to the model, the
rest (or those in `targets`) to the loss. A positional tuple works too: its first `n_inp`
items go to the model.
Batch transforms (augmentation, normalisation) run on the device, after the copy: one
call per batch instead of one per item.
"""

from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from dlf.core.errors import DlfError
from dlf.core.hardware import default_device
from dlf.data.resident import ArrayLoader

Batch = tuple | dict  # positional, or named (dlf.data.batch)
BatchTransform = Callable[[Batch], Batch]


def train_drop_last(n_rows: int, bs: int) -> bool:
    """dlf's one rule for training loaders (the DataBlock's and every task's): drop the last
    partial batch, since a small last batch makes a noisy step and a batch of one breaks
    batch norm, unless there is no full batch at all; then the partial batch is the epoch,
    rather than an epoch with no step at all."""
    return n_rows > bs


def to_device(x, device: torch.device, non_blocking: bool = False):
    """Move a tensor, or tensors nested in tuples, lists and dicts, to `device`."""
    if isinstance(x, torch.Tensor):
        return x.to(device, non_blocking=non_blocking)
    if isinstance(x, tuple | list):
        return type(x)(to_device(o, device, non_blocking) for o in x)
    if isinstance(x, dict):
        return {k: to_device(v, device, non_blocking) for k, v in x.items()}
    return x


def _on(batch, device: torch.device):
    """A batch on `device`: a named batch stays a dict, anything else becomes a tuple."""
    moved = to_device(batch, device, non_blocking=True)
    return moved if isinstance(moved, dict) else tuple(moved)


class DeviceLoader:
    """Wraps a loader: copies each batch to `device`, then applies batch transforms.

    On CUDA the copy of batch i+1 is issued (non-blocking, from pinned memory: an
    ArrayLoader is told to pin its batches) before batch i is handed out, so the copy
    overlaps the step. On CPU the copy is a no-op.
    """

    def __init__(
        self,
        loader: Iterable,
        device: torch.device,
        tfms: Sequence[BatchTransform] = (),
    ) -> None:
        self.loader, self.device, self.tfms = loader, torch.device(device), list(tfms)

    def __len__(self) -> int:
        return len(self.loader)

    @property
    def dataset(self):
        return getattr(self.loader, "dataset", None)

    def _prepare(self, batch) -> Batch:
        batch = _on(batch, self.device)
        for tfm in self.tfms:
            batch = tfm(batch)
        return batch

    def __iter__(self) -> Iterator[Batch]:
        if self.device.type == "cuda" and isinstance(self.loader, ArrayLoader):
            self.loader.pin_memory = True  # page-locked batches: the copy can run async
        it = iter(self.loader)
        if self.device.type != "cuda":
            for batch in it:
                yield self._prepare(batch)
            return
        nxt = next(it, None)
        nxt = None if nxt is None else _on(nxt, self.device)
        while nxt is not None:
            cur = nxt
            raw = next(it, None)
            nxt = None if raw is None else _on(raw, self.device)
            for tfm in self.tfms:
                cur = tfm(cur)
            yield cur


class DataLoaders:
    """A pair of loaders, `train` and `valid`, on one device.

    `batch_tfms` run on every training batch; those without `train_only = True` (e.g.
    normalisation) also run on validation batches. `vocab` names the classes, if any.
    """

    def __init__(
        self,
        train: Iterable,
        valid: Iterable | None = None,
        device: torch.device | str | None = None,
        batch_tfms: Sequence[BatchTransform] = (),
        n_inp: int = 1,
        vocab: Sequence | None = None,
        inputs: Sequence[str] = ("image",),
        targets: Sequence[str] | None = None,
    ) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.batch_tfms = list(batch_tfms)
        valid_tfms = [t for t in self.batch_tfms if not getattr(t, "train_only", False)]
        self.train = DeviceLoader(train, self.device, self.batch_tfms)
        self.valid = None if valid is None else DeviceLoader(valid, self.device, valid_tfms)
        self.n_inp, self.vocab = n_inp, None if vocab is None else list(vocab)
        self.inputs, self.targets = tuple(inputs), None if targets is None else tuple(targets)
        self.valid_tfms = valid_tfms
        self.datasets = None  # set by DataBlock.dataloaders: what `test_batch` encodes items with

    def split(self, batch) -> tuple[tuple, tuple]:
        """(model inputs, loss targets) of a batch: named fields, or a tuple's positions."""
        if isinstance(batch, dict):
            xb = tuple(batch[k] for k in self.inputs)
            names = self.targets or [k for k in batch if k not in self.inputs]
            return xb, tuple(batch[k] for k in names if k in batch)
        return tuple(batch[: self.n_inp]), tuple(batch[self.n_inp :])

    def to(self, device: torch.device | str) -> "DataLoaders":
        """Deliver batches on `device` from now on (the data itself stays where it is)."""
        self.device = torch.device(device)
        for dl in (self.train, self.valid):
            if dl is not None:
                dl.device = self.device
        return self

    def test_batch(self, items: Sequence) -> Batch:
        """Raw items (new files, rows) -> a batch of model inputs on the device, as validation sees it."""
        if self.datasets is None:
            raise DlfError(
                "these DataLoaders were not built by a DataBlock; encode the items yourself"
            )
        encoded = [self.datasets.encode_item(it) for it in items]
        encoded = [e if isinstance(e, tuple) else (e,) for e in encoded]
        batch = tuple(torch.stack(col).to(self.device) for col in zip(*encoded))
        for tfm in self.valid_tfms:
            batch = tfm(batch)
        return batch

    @property
    def channels(self) -> int | None:
        """Channels of the image input, as the data block decided them (for `in_chans`);
        None for loaders not built by a DataBlock."""
        return None if self.datasets is None else self.datasets.channels

    def __getitem__(self, i: int) -> DeviceLoader | None:
        return (self.train, self.valid)[i]

    def one_batch(self) -> Batch:
        """The first training batch, on the device, with batch transforms applied."""
        return next(iter(self.train))

    def __repr__(self) -> str:
        n_valid = "none" if self.valid is None else len(self.valid)
        return (
            f"DataLoaders(train={len(self.train)} batches, valid={n_valid}, device={self.device})"
        )
