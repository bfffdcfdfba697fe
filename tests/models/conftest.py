import pytest
import torch


@pytest.fixture(autouse=True)
def one_torch_thread():
    # These tests run tiny convolutions: on the shared 2-core machine two intra-op threads spin
    # against other processes and made this folder ~6x slower (3 min vs 27 s, measured).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
