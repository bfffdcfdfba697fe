"""Tasks for the torchrun tests, loaded by the ranks as `rank_tasks:CLASS` (PYTHONPATH)."""

from dlf.core.dist import rank
from dlf.core.errors import DlfError
from dlf.tasks.aptos.task import AptosTask


class FailsOnRank1(AptosTask):
    """APTOS, except that rank 1 alone refuses its model part, after rank 0 has gone on to
    train: rank 0 then waits in a collective for a partner that has left."""

    def model(self, ctx):
        if rank() == 1:
            raise DlfError("rank 1 refuses to build its model (a planted error)")
        return super().model(ctx)
