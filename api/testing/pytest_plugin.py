"""pytest plugin (entry point `ftsim`): a fresh in-process Simulator per test.

    def test_pipeline(ftsim):
        client = ftsim.client()
        ...

    @pytest.mark.ftsim(seed=7, lifecycle="enforce")
    def test_with_options(ftsim): ...

    @pytest.mark.ftsim(mock=True)                # every OpenAI() the code builds is served by this Simulator
    def test_code_that_builds_its_own_client(ftsim): ...

`mock=True` runs the whole test inside `ftsim.mock()`; `mock={"passthrough": [...], "base_url": ...}` passes
options to it.

The marker's arguments go to `ftsim.api.testing.simulator.Simulator`. Each test gets its own Simulator (its own in-memory store,
clock, fault rules and journal), closed after the test: nothing is shared between tests, processes or threads,
so it is safe under pytest-xdist and in async tests (use `ftsim.async_client()` there).
"""

from __future__ import annotations

import inspect
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import pytest

if TYPE_CHECKING:
    from ftsim.api.testing.simulator import Simulator

__all__ = ["ftsim", "simulator_for"]

MARKER = (
    "ftsim(seed=0, speed=0, mock=False, **options): options of the `ftsim` fixture's Simulator "
    "(ftsim.api.testing.simulator.Simulator); mock=True (or a dict of Simulator.mock options) serves every "
    "openai client the test builds"
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the `ftsim` marker."""
    config.addinivalue_line("markers", MARKER)


def _check_arguments(target: Any, args: tuple[Any, ...], options: dict[str, Any], where: str,
                     extra: tuple[str, ...] = ()) -> None:
    """Refuse arguments `target` does not take, naming the marker and the options it does take (a misspelt option
    used to fail as "Simulator.__init__() got an unexpected keyword argument", with no word of the marker)."""
    signature = inspect.signature(target)
    try:
        signature.bind(*args, **options)
    except TypeError as exc:
        names = [n for n, p in signature.parameters.items() if n != "self" and p.kind is not p.VAR_KEYWORD]
        raise TypeError(f"{where}: {exc}; its options are {', '.join([*names, *extra])}") from None


@contextmanager
def simulator_for(*args: Any, mock: bool | dict[str, Any] = False, **options: Any) -> Iterator["Simulator"]:
    """The `ftsim` fixture's value for a marker's arguments: a Simulator, under `mock()` if asked, then closed."""
    from ftsim.api.testing.simulator import Simulator  # imported lazily: loading the plugin must stay cheap

    if not isinstance(mock, (bool, dict)):
        raise TypeError(f"@pytest.mark.ftsim(mock=...) takes True, False or a dict of mock() options, not {mock!r}")
    _check_arguments(Simulator, args, options, "@pytest.mark.ftsim", extra=("mock",))
    if isinstance(mock, dict):
        _check_arguments(Simulator.mock, ("self", ), mock, "@pytest.mark.ftsim(mock={...})")
    with Simulator(*args, **options) as sim:
        if mock is False:
            yield sim
        else:
            with sim.mock(**(mock if isinstance(mock, dict) else {})):
                yield sim


@pytest.fixture
def ftsim(request: pytest.FixtureRequest) -> Iterator["Simulator"]:
    """A fresh ftsim.api.testing.simulator.Simulator for this test, configured by the closest @pytest.mark.ftsim."""
    marker = request.node.get_closest_marker("ftsim")
    with simulator_for(*(marker.args if marker else ()), **(marker.kwargs if marker else {})) as sim:
        yield sim
