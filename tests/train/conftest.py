import pytest

from tiny import make_dls


@pytest.fixture
def dls():
    return make_dls()
