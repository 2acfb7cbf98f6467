"""Fixtures shared by the suite: a fresh in-memory world per test, its HTTP door, and a tenant."""

from __future__ import annotations

import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend

# No property test is timed: hypothesis's default 200 ms deadline per example failed tests at random on a loaded
# machine (CI shares its cores); speed is measured by `make bench`, as ratios. Tests may still set their own.
settings.register_profile("ftsim", deadline=None)
settings.load_profile("ftsim")


@pytest.fixture
def backend():
    """A fresh world: in-memory store, manual clock, seed 0."""
    b = Backend()
    yield b
    b.close()


@pytest.fixture
def http(backend):
    """The app serving `backend`, in-process."""
    return TestClient(create_app(backend), base_url="http://testserver")


@pytest.fixture
def tenant(backend):
    """The organization of the key `sk-alice`."""
    return backend.tenant("sk-alice")
