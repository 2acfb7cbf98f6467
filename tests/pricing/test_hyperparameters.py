"""The `auto` rules against the reference's test vector TV4 and their invariants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftsim.pricing.costs.hyperparameters import auto_batch_size, auto_n_epochs

TV4 = [(1, 25), (3, 25), (5, 20), (10, 10), (30, 3), (33, 3), (34, 3), (8333, 3), (8334, 2),
       (10_000, 2), (12_500, 2), (12_501, 1), (25_001, 1), (100_000, 1)]


@pytest.mark.parametrize("n,epochs", TV4)
def test_auto_epochs_matches_reference(n, epochs):
    assert auto_n_epochs(n) == epochs


@given(st.integers(1, 10**7))
def test_auto_epochs_bounded_and_monotone(n):
    e = auto_n_epochs(n)
    assert 1 <= e <= 25
    assert auto_n_epochs(n + 1) <= e


@pytest.mark.parametrize("n,batch", [(10, 1), (103, 1), (500, 1), (1000, 2), (10**6, 256)])
def test_auto_batch_size(n, batch):
    assert auto_batch_size(n) == batch


def test_rejects_empty():
    with pytest.raises(ValueError):
        auto_n_epochs(0)
    with pytest.raises(ValueError):
        auto_batch_size(0)
