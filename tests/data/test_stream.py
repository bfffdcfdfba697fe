"""ShardStream: every record once per epoch across ranks, the same order with worker
processes as computed in-process, exact resume from a position, bounded one-line errors.
The reference for the order is the definition: records read back directly from the shards."""

import numpy as np
import pytest

from dlf.core.errors import DlfError
from dlf.data.stream import ShardStream, count_records, pad_collate
from dlf.data.tfrecord import write_records


def decode(record: bytes, where: str) -> dict:
    shard, index, length = np.frombuffer(record[:12], "<i4")
    return {
        "frames": np.frombuffer(record[12:], np.uint8).reshape(length, 2),
        "key": np.array(shard * 1000 + index),
    }


@pytest.fixture
def shards(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for s in range(6):
        n = int(rng.integers(5, 12))
        recs = []
        for i in range(n):
            t = int(rng.integers(1, 5))
            recs.append(np.array([s, i, t], "<i4").tobytes() + bytes(range(2 * t)))
        paths.append(tmp_path / f"train{s:02d}.tfrecord")
        write_records(paths[-1], recs)
    return paths


def keys(batches) -> list[int]:
    return [int(k) for b in batches for k in b["key"]]


def test_count_records_and_padding(shards):
    assert count_records(shards[0]) == len(list(ShardStream([shards[0]], decode, bs=1, buffer=1)))
    batch = next(iter(ShardStream(shards, decode, bs=4, buffer=1)))
    lengths = batch["frame_mask"].sum(1)
    assert batch["frames"].shape[1] == int(lengths.max())  # padded to the batch's longest
    for row, n in zip(batch["frames"], lengths):
        assert (row[int(n) :] == 0).all()


def test_ranks_share_out_the_records_once(shards):
    total = sum(count_records(s) for s in shards)
    seen, lengths = [], set()
    for rank in range(2):
        stream = ShardStream(shards, decode, bs=3, rank=rank, world_size=2, seed=1)
        n_batches = len(stream)
        lengths.add(n_batches)
        got = keys(stream)
        assert len(got) == n_batches * 3  # every rank: the same number of full batches
        seen += got
    assert len(lengths) == 1
    assert len(seen) == len(set(seen)) and len(seen) <= total and len(seen) >= total - 2 * 3 - 6 * 4


def test_order_from_seed_and_epoch_and_shuffled(shards):
    a = ShardStream(shards, decode, bs=2, seed=3, workers=2, in_process=True)
    first = keys(a)
    a.set_epoch(0)
    assert keys(a) == first  # the same epoch again: the same order
    a.set_epoch(1)
    assert keys(a) != first and sorted(keys(a)) != keys(a)


def test_worker_processes_give_the_in_process_order(shards):
    procs = ShardStream(shards, decode, bs=2, seed=5, workers=3)
    ref = ShardStream(shards, decode, bs=2, seed=5, workers=3, in_process=True)
    assert keys(procs) == keys(ref)


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_is_exact(shards, workers):
    full = keys(ShardStream(shards, decode, bs=2, seed=7, workers=workers))
    first = ShardStream(shards, decode, bs=2, seed=7, workers=workers)
    head = []
    for i, batch in enumerate(first):
        head += [int(k) for k in batch["key"]]
        if i == 4:
            break
    state = first.state_dict()
    assert state == {"epoch": 0, "batches": 5}
    again = ShardStream(shards, decode, bs=2, seed=7, workers=workers)
    again.load_state_dict(state)
    assert head + keys(again) == full


def test_corrupt_shard_is_one_line_from_a_worker(shards):
    raw = bytearray(shards[2].read_bytes())
    raw[20] ^= 0xFF  # record 0's data
    shards[2].write_bytes(bytes(raw))
    with pytest.raises(DlfError, match=r"train02.tfrecord: record 0: data CRC mismatch"):
        keys(ShardStream(shards, decode, bs=2, workers=2))
    n = len(keys(ShardStream(shards, decode, bs=1, workers=2, skip_corrupt=True)))
    assert n == sum(count_records(s) for s in shards) - 1


def test_pad_collate_names_the_mask():
    batch = pad_collate(
        [
            {"frames": np.ones((2, 3)), "y": np.array(1)},
            {"frames": np.ones((4, 3)), "y": np.array(2)},
        ]
    )
    assert batch["frame_mask"].tolist() == [[True, True, False, False], [True] * 4]
    assert batch["y"].tolist() == [1, 2]
