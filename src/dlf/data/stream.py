"""Batches streamed from TFRecord shards, for data that does not fit on the disk twice
(YouTube-8M's 1.5 TB of frame features): bounded memory whatever the number of shards,
several worker processes, each rank of a torchrun job reading its own shards, and an order
that a resumed run reproduces exactly.

The order of an epoch is a function of (seed, epoch, world size, workers):

1. shards: a permutation drawn from (seed, epoch), dealt round-robin to the ranks, then
   each rank's share dealt round-robin to its `workers` streams;
2. records: each stream reads its shards in turn through a shuffle buffer of `buffer`
   records (its generator drawn from (seed, epoch, rank, stream)): memory per stream is
   the buffer, not the shards;
3. batches: the rank takes one decoded record from each stream in turn (an exhausted stream
   drops out of the cycle) and pads each `bs` of them into a batch (`collate`).

Every rank yields the same number of batches, the fewest any rank can fill (record counts
come from a scan of the shards' length headers), so no rank of a distributed step waits
for a batch that never comes. `state_dict()` is (epoch, batches done); a stream restored
from it skips, in each worker, exactly the records already used, without decoding them.
"""

import multiprocessing as mp
import os
import queue as queue_module
import struct
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import torch

from dlf.core import dist
from dlf.core.errors import DlfError
from dlf.data.tfrecord import masked_crc32c, read_records

Decode = Callable[[bytes, str], Any]  # (record, "shard: record i") -> an item
Collate = Callable[[list], dict]  # items -> a batch of tensors


def count_records(path: str | os.PathLike) -> int:
    """Records in a TFRecord file, from the length headers alone (a seek per record; the
    length CRCs are checked, the data is not read)."""
    n = 0
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return n
            if len(header) < 12 or masked_crc32c(header[:8]) != int.from_bytes(
                header[8:], "little"
            ):
                raise DlfError(
                    f"{path}: record {n}: truncated or corrupt length header; download the shard again"
                )
            (length,) = struct.unpack("<Q", header[:8])
            if f.tell() + length + 4 > size:
                raise DlfError(f"{path}: record {n}: truncated record; download the shard again")
            f.seek(length + 4, os.SEEK_CUR)
            n += 1


def pad_collate(items: list[dict], pad: str = "frames") -> dict:
    """Items (dicts of arrays) -> a batch: `pad` (T x ... per item) padded with zeros to the
    longest in the batch plus `<pad without s>_mask` (B x T bool); the rest stacked."""
    longest = max(len(it[pad]) for it in items)
    first = items[0][pad]
    out = np.zeros((len(items), longest, *first.shape[1:]), first.dtype)
    mask = np.zeros((len(items), longest), bool)
    for i, it in enumerate(items):
        out[i, : len(it[pad])] = it[pad]
        mask[i, : len(it[pad])] = True
    batch = {pad: torch.from_numpy(out), f"{pad.rstrip('s')}_mask": torch.from_numpy(mask)}
    for key in items[0]:
        if key != pad:
            batch[key] = torch.from_numpy(np.stack([it[key] for it in items]))
    return batch


def _records(shards: Sequence[str], skip_corrupt: bool) -> Iterator[tuple[bytes, str]]:
    for path in shards:
        for i, record in enumerate(read_records(path, skip_corrupt=skip_corrupt)):
            yield record, f"{path}: record {i}"


def _shuffled(records: Iterator, buffer: int, rng: np.random.Generator) -> Iterator:
    """A shuffle buffer: keep `buffer` records, emit a random one as each new one arrives."""
    held: list = []
    for rec in records:
        if len(held) < buffer:
            held.append(rec)
            continue
        j = int(rng.integers(len(held)))
        rec, held[j] = held[j], rec
        yield rec
    rng.shuffle(held)
    yield from held


def stream_items(
    shards, decode: Decode, seed, buffer: int, skip: int, skip_corrupt: bool
) -> Iterator:
    """One stream's decoded items: its shards through the shuffle buffer, the first `skip`
    passed over undecoded."""
    rng = np.random.default_rng(seed)
    records = _records(shards, skip_corrupt)
    if buffer > 1:
        records = _shuffled(records, buffer, rng)
    for i, (record, where) in enumerate(records):
        if i >= skip:
            yield decode(record, where)


def _worker(q, shards, decode, seed, buffer, skip, skip_corrupt) -> None:
    try:
        for item in stream_items(shards, decode, seed, buffer, skip, skip_corrupt):
            q.put(("item", item))
        q.put(("done", None))
    except DlfError as e:
        q.put(("error", str(e)))
    except Exception as e:  # a bug: its type and text, so the main process can say where
        q.put(("error", f"worker failed: {type(e).__name__}: {e}"))


class ShardStream:
    """An iterable of batches over TFRecord shards (see the module for the order).

    decode(record, where) -> item (a dict of numpy arrays); collate(items) -> batch.
    workers: processes decoding in parallel (0: in this process); each is one stream.
    in_process: run the `workers` streams in this process (the same order; for tests).
    rank, world_size: this process's share (default: from torch.distributed).
    Call `set_epoch(e)` before each epoch (the task's callback does) or let each new
    iteration move to the next epoch."""

    def __init__(
        self,
        shards: Sequence[str | os.PathLike],
        decode: Decode,
        collate: Collate = pad_collate,
        bs: int = 32,
        seed: int = 0,
        buffer: int = 64,
        workers: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
        prefetch: int = 8,
        skip_corrupt: bool = False,
        in_process: bool = False,
    ) -> None:
        self.shards = sorted(str(s) for s in shards)
        if not self.shards:
            raise DlfError("no shards to stream; check the data folder")
        self.decode, self.collate, self.bs, self.seed = decode, collate, bs, seed
        self.buffer, self.workers, self.prefetch = buffer, workers, prefetch
        self.rank = dist.rank() if rank is None else rank
        self.world_size = dist.world_size() if world_size is None else world_size
        if len(self.shards) < self.world_size * max(1, workers):
            raise DlfError(
                f"{len(self.shards)} shards for {self.world_size} rank(s) x {max(1, workers)} "
                "worker(s): every stream needs a shard; use fewer workers"
            )
        self.skip_corrupt, self.in_process = skip_corrupt, in_process
        self.counts = {s: count_records(s) for s in self.shards}
        self.epoch, self.done, self._resume = 0, 0, 0

    @property
    def shards_by_rank(self) -> bool:
        """True when this rank streams only its shards (the Learner's DDP check asks)."""
        return self.world_size > 1

    # -- the plan of an epoch ------------------------------------------------------------------
    def _streams(self, epoch: int, rank: int) -> list[list[str]]:
        order = np.random.default_rng([self.seed, epoch]).permutation(len(self.shards))
        mine = [self.shards[i] for i in order[rank :: self.world_size]]
        n = max(1, self.workers)
        return [mine[w::n] for w in range(n)]

    def _batches(self, epoch: int, rank: int) -> int:
        records = sum(self.counts[s] for stream in self._streams(epoch, rank) for s in stream)
        return records // self.bs

    def __len__(self) -> int:
        """Batches in the current epoch: the fewest any rank can fill."""
        return min(self._batches(self.epoch, r) for r in range(self.world_size))

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.done, self._resume = epoch, 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batches": self.done}

    def load_state_dict(self, state: dict) -> None:
        """Resume at a position from `state_dict`: the next iteration continues there."""
        self.epoch, self.done, self._resume = (
            int(state["epoch"]),
            int(state["batches"]),
            int(state["batches"]),
        )

    def _cycle(self, streams: list[list[str]], used: int) -> tuple["_Cycle", list[int]]:
        """The round-robin after the first `used` records, and how many each stream gave."""
        cycle = _Cycle([sum(self.counts[s] for s in stream) for stream in streams])
        taken = [0] * len(streams)
        for _ in range(used):
            if not cycle.alive:
                break
            w = cycle.next()
            cycle.took(w)
            taken[w] += 1
        return cycle, taken

    # -- iteration ---------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict]:
        epoch = self.epoch
        streams = self._streams(epoch, self.rank)
        n_batches = len(self)
        cycle, skips = self._cycle(streams, self._resume * self.bs)
        seeds = [[self.seed, epoch, self.rank, w] for w in range(len(streams))]
        self.done = self._resume
        sources, stop = self._start(streams, seeds, skips)
        try:
            items: list = []
            while self.done < n_batches and cycle.alive:
                w = cycle.next()
                item = sources[w]()
                if item is _END:  # ended early: records skipped as corrupt
                    cycle.drop(w)
                    continue
                cycle.took(w)
                items.append(item)
                if len(items) == self.bs:
                    batch = self.collate(items)
                    items = []
                    self.done += 1
                    yield batch
        finally:
            stop()
            self._resume = 0
        self.epoch, self.done = epoch + 1, 0  # a finished pass moves on unless set_epoch says

    def _start(self, streams, seeds, skips):
        """One source per stream (a function returning the next item or _END) and a stopper."""
        if self.workers == 0 or self.in_process:
            gens = [stream_items(s, self.decode, seed, self.buffer, k, self.skip_corrupt)
                    for s, seed, k in zip(streams, seeds, skips)]  # fmt: skip
            return [lambda g=g: next(g, _END) for g in gens], lambda: None
        ctx = mp.get_context("fork" if sys.platform == "linux" else "spawn")
        queues = [ctx.Queue(maxsize=self.prefetch) for _ in streams]
        procs = [ctx.Process(target=_worker, daemon=True,
                             args=(q, s, self.decode, seed, self.buffer, k, self.skip_corrupt))
                 for q, s, seed, k in zip(queues, streams, seeds, skips)]  # fmt: skip
        for p in procs:
            p.start()

        def source(w: int):
            def get():
                while True:
                    try:
                        kind, value = queues[w].get(timeout=5.0)
                        break
                    except queue_module.Empty:
                        if not procs[w].is_alive():
                            raise DlfError(
                                f"stream worker {w} died (out of memory?); rerun with fewer workers"
                            ) from None
                if kind == "error":
                    raise DlfError(value)
                return _END if kind == "done" else value

            return get

        def stop() -> None:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(timeout=5)
            for q in queues:
                q.cancel_join_thread()
                q.close()

        return [source(w) for w in range(len(streams))], stop


_END = object()


class _Cycle:
    """Round-robin over streams with `left` records each; an exhausted stream drops out."""

    def __init__(self, left: list[int]) -> None:
        self.left = list(left)
        self.alive = [w for w, n in enumerate(left) if n > 0]
        self.pos = 0

    def next(self) -> int:
        return self.alive[self.pos]

    def took(self, w: int) -> None:
        self.left[w] -= 1
        if self.left[w] <= 0:
            self.drop(w)
        else:
            self.pos = (self.pos + 1) % len(self.alive)

    def drop(self, w: int) -> None:
        i = self.alive.index(w)
        self.alive.remove(w)
        if i < self.pos:
            self.pos -= 1
        self.pos = self.pos % len(self.alive) if self.alive else 0


__all__ = ["ShardStream", "count_records", "pad_collate", "stream_items"]
