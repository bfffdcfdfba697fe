"""A batch loader for data that sits in memory or in a memory-mapped cache.

Each batch is a sorted array of row indices and one slice per column: no per-item Python
work, no decoding, one `torch.from_numpy` per column. Images come out uint8 NCHW (a view of
the NHWC rows, i.e. channels_last in memory); the batch transforms on the device turn them
into floats. A background thread prepares the next batches while the step runs.
"""

import queue
import threading
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch

from dlf.core import dist
from dlf.core.errors import DlfError
from dlf.data.samplers import epoch_rng

Column = Callable[[np.ndarray], torch.Tensor]  # sorted row indices -> batch tensor


def image_column(array: np.ndarray) -> Column:
    """N x H x W x C uint8 rows -> B x C x H x W uint8 (channels_last memory)."""
    return lambda idx: torch.from_numpy(np.ascontiguousarray(array[idx])).permute(0, 3, 1, 2)


def mask_column(array: np.ndarray) -> Column:
    """N x H x W x 1 uint8 label maps -> B x H x W uint8."""
    return lambda idx: torch.from_numpy(np.ascontiguousarray(array[idx, ..., 0]))


def array_column(array: np.ndarray) -> Column:
    """Any N x ... array (labels, multi-hot rows, regression targets) -> B x ... tensor."""
    return lambda idx: torch.from_numpy(np.ascontiguousarray(array[idx]))


def ragged_column(
    rows: Sequence[np.ndarray], pad: float, dtype: torch.dtype, fixed: bool = False
) -> Column:
    """Variable-length rows (boxes of one image) -> B x M x ... padded with `pad`; M is the
    batch's longest row, or with `fixed` the longest row of all (batches then concatenate,
    as the targets of a whole validation pass must)."""
    rows = [np.asarray(r) for r in rows]
    longest = max((len(r) for r in rows), default=0)

    def take(idx: np.ndarray) -> torch.Tensor:
        picked = [rows[i] for i in idx]
        m = max(1, longest if fixed else max(len(r) for r in picked))
        tail = next((r.shape[1:] for r in picked if len(r)), rows[0].shape[1:] if rows else ())
        out = np.full((len(idx), m, *tail), pad, dtype=np.float64)
        for j, r in enumerate(picked):
            out[j, : len(r)] = r
        return torch.from_numpy(out).to(dtype)

    return take


class ArrayLoader:
    """Batches of rows `indices` (or positions drawn by `sampler` within them) from `columns`:
    a dict of named columns gives named batches ({"image": ..., "mask": ...}), a list gives
    tuples.

    shuffle: a new order each epoch (seeded by `seed`, or by torch's global RNG).
    sampler: anything with `epoch_indices()` (see dlf.data.samplers) or an iterable of
      positions into `indices`. pin_memory: page-lock batches for fast async copies to CUDA.
    prefetch: how many batches a background thread prepares ahead (0: none).
    ranks: (rank, world size) whose share to read; default: this process's under
      torch.distributed (see `shard`), (0, 1) without it.

    Under several processes each rank reads its share of every epoch. A shuffled or sampled
    loader (training) cuts the one epoch order, drawn alike on every rank, into global
    batches of `bs * world` rows and gives rank r the r-th `bs` of each: N ranks with batch
    b see exactly the batches one process with batch N*b would see. A last partial global
    batch (kept without `drop_last`) is split as evenly as the rows allow. An ordered loader
    (validation, inference) gives each rank one contiguous block, so results gathered in
    rank order are in the loader's order.
    """

    def __init__(
        self,
        columns: Sequence[Column] | dict[str, Column],
        indices: Sequence[int] | np.ndarray,
        bs: int = 64,
        shuffle: bool = False,
        drop_last: bool = False,
        sampler=None,
        seed: int | None = None,
        pin_memory: bool = False,
        prefetch: int = 2,
        ranks: tuple[int, int] | None = None,
    ) -> None:
        self.columns = dict(columns) if isinstance(columns, dict) else list(columns)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.bs, self.shuffle, self.drop_last, self.sampler = bs, shuffle, drop_last, sampler
        self.pin_memory, self.prefetch = pin_memory, prefetch
        self.seed, self.epoch = seed, 0
        self.ranks = ranks

    def _rank_world(self) -> tuple[int, int]:
        return self.ranks if self.ranks is not None else (dist.rank(), dist.world_size())

    @property
    def shards_by_rank(self) -> bool:
        """True when this process reads only its share (results must be gathered)."""
        return self._rank_world()[1] > 1

    @property
    def _interleaved(self) -> bool:
        return self.shuffle or self.sampler is not None

    def _epoch_order(self) -> np.ndarray:
        if self.sampler is not None:
            get = getattr(self.sampler, "epoch_indices", None)
            pos = get() if get else np.fromiter(iter(self.sampler), dtype=np.int64)
            return self.indices[pos]
        if not self.shuffle:
            return self.indices
        rng, self.epoch = epoch_rng(self.seed, self.epoch), self.epoch + 1
        return rng.permutation(self.indices)

    def _n_rows(self) -> int:
        return len(self.sampler) if self.sampler is not None else len(self.indices)

    def __len__(self) -> int:
        rank, world = self._rank_world()
        n = self._n_rows()
        step = self.bs
        if world > 1 and not self._interleaved:
            n = len(np.array_split(np.empty(n), world)[rank])
        elif world > 1:
            step = self.bs * world  # global batches
        return n // step if self.drop_last else -(-n // step)

    def _rank_rows(self, order: np.ndarray) -> list[np.ndarray]:
        """This rank's rows of each batch of the epoch `order` (see the class doc)."""
        rank, world = self._rank_world()
        if world > 1 and not self._interleaved:
            order = np.array_split(order, world)[rank]
            world = 1
        step = self.bs * world
        batches = []
        for b in range(len(self)):
            rows = order[b * step : (b + 1) * step]
            if world > 1:
                if len(rows) < step:  # the last partial global batch: split it evenly
                    if len(rows) < world:  # a rank without a row would stall the others
                        raise DlfError(
                            f"the last batch has {len(rows)} row(s) for {world} processes; "
                            "drop it (drop_last) or use fewer processes"
                        )
                    rows = np.array_split(rows, world)[rank]
                else:
                    rows = rows[rank * self.bs : (rank + 1) * self.bs]
            batches.append(rows)
        return batches

    def _batches(self, order: np.ndarray) -> Iterator[tuple]:
        for rows in self._rank_rows(order):
            # Sorted indices read the memmap front to back; the order within a batch is irrelevant.
            idx = np.sort(rows)
            if isinstance(self.columns, dict):
                batch = {k: col(idx) for k, col in self.columns.items()}
                if self.pin_memory:
                    batch = {k: t.pin_memory() for k, t in batch.items()}
            else:
                batch = tuple(col(idx) for col in self.columns)
                if self.pin_memory:
                    batch = tuple(t.pin_memory() for t in batch)
            yield batch

    def __iter__(self) -> Iterator[tuple]:
        batches = self._batches(self._epoch_order())
        if self.prefetch <= 0:
            yield from batches
            return
        q: queue.Queue = queue.Queue(maxsize=self.prefetch)
        stop = threading.Event()
        done = object()

        def produce() -> None:
            try:
                for batch in batches:
                    while not stop.is_set():
                        try:
                            q.put(batch, timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                q.put(done)
            except BaseException as e:  # hand the error to the consumer, who raises it
                q.put(e)

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while (item := q.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while thread.is_alive():  # unblock a producer waiting on a full queue
                try:
                    q.get_nowait()
                except queue.Empty:
                    thread.join(0.05)
