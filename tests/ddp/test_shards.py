"""The array loader's share per rank, checked without processes (`ranks=` stands in for a
process group). Reference: the batches one process with batch N*b reads from the same
epoch order (brute force: every row compared)."""

import numpy as np
import pytest
import torch

from dlf.core.errors import DlfError
from dlf.data.resident import ArrayLoader, array_column
from dlf.data.samplers import ClassBalancedSampler

ROWS = np.arange(100, 150)  # 50 row numbers that are not positions


def rows_of(loader) -> list[np.ndarray]:
    return [b[0].numpy() for b in loader]


def loader(ranks=None, **kw) -> ArrayLoader:
    return ArrayLoader([array_column(np.arange(200))], ROWS, prefetch=0, ranks=ranks, **kw)


@pytest.mark.parametrize("drop_last", [True, False])
def test_shuffled_ranks_of_batch_b_read_the_batches_of_one_process_with_batch_nb(drop_last):
    world, bs = 2, 4  # 50 rows: 6 global batches of 8, then 2 rows (1 a rank) unless dropped
    torch.manual_seed(0)
    whole = rows_of(loader(bs=bs * world, shuffle=True, drop_last=drop_last))
    shares = []
    for r in range(world):
        torch.manual_seed(0)  # every rank draws the same epoch order
        shares.append(rows_of(loader((r, world), bs=bs, shuffle=True, drop_last=drop_last)))
    assert [len(s) for s in shares] == [len(whole)] * world
    for g, batch in enumerate(whole):
        got = np.concatenate([shares[r][g] for r in range(world)])
        assert sorted(got) == sorted(batch)  # the same rows, each on one rank
        assert len(set(got)) == len(got)


def test_a_last_partial_global_batch_is_split_evenly_or_refused():
    world = 2
    torch.manual_seed(0)
    shares = [rows_of(loader((r, world), bs=12, shuffle=True)) for r in range(world)]
    # 50 rows = 2 global batches of 24, then 2 rows: one for each rank
    assert [len(s[-1]) for s in shares] == [1, 1]
    with pytest.raises(DlfError, match="last batch has 2 row"):
        rows_of(loader((0, 3), bs=8, shuffle=True))  # 50 = 2 x 24 + 2 rows for 3 ranks


def test_a_sampler_draws_the_same_epoch_on_every_rank_and_the_ranks_split_it():
    labels = (ROWS % 5 == 0).astype(int)  # imbalanced: 1 in 5
    world, bs = 2, 5

    def epoch(ranks, b):
        s = ClassBalancedSampler(labels, num_samples=40, seed=7)
        return rows_of(loader(ranks, bs=b, sampler=s, drop_last=True))

    whole = epoch(None, bs * world)
    shares = [epoch((r, world), bs) for r in range(world)]
    for g, batch in enumerate(whole):
        assert sorted(np.concatenate([s[g] for s in shares])) == sorted(batch)


def test_an_ordered_loader_gives_each_rank_a_block_and_the_blocks_are_the_order():
    world = 3
    shares = [rows_of(loader((r, world), bs=7)) for r in range(world)]
    assert np.array_equal(np.concatenate([np.concatenate(s) for s in shares]), ROWS)
    assert [sum(len(b) for b in s) for s in shares] == [17, 17, 16]
    assert [len(loader((r, world), bs=7)) for r in range(world)] == [len(s) for s in shares]


def test_one_process_reads_everything_in_batches_of_bs():
    torch.manual_seed(0)
    a = rows_of(loader((0, 1), bs=8, shuffle=True))
    torch.manual_seed(0)
    b = rows_of(loader(None, bs=8, shuffle=True))
    assert len(a) == len(b) == 7 and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not loader().shards_by_rank and loader((1, 2)).shards_by_rank
