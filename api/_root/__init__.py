"""ftsim: an offline simulator of OpenAI's fine-tuning API, with a cost planner and a decision walkthrough.

The package has three layers, with dependencies flowing one way (`api -> simulator -> pricing`):

- `ftsim.pricing`: datasets, token counting, the dated price catalog, costs, comparisons and reports;
- `ftsim.simulator`: the simulated fine-tuning world (a pure core on an injected clock, and a SQLite store);
- `ftsim.api`: the doors: the HTTP app, the `ftsim` command, and the in-process test kit.

The test kit's entry points are re-exported here and imported on first use, so that `import ftsim` stays cheap:

    from ftsim import Simulator
    sim = Simulator()
    client = sim.client()          # an openai.OpenAI served in-process

    with ftsim.mock_openai() as sim:   # every OpenAI() the code under test builds is served by `sim`
        ...
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftsim._version import __version__

if TYPE_CHECKING:
    from ftsim.api.testing.mock import BlockedRequestError, mock_openai
    from ftsim.api.testing.simulator import Simulator, SimulatorClosed, SimulatorStuck

__all__ = ["BlockedRequestError", "Simulator", "SimulatorClosed", "SimulatorStuck", "__version__", "mock_openai"]

_LAZY = {
    "Simulator": "ftsim.api.testing.simulator",
    "SimulatorStuck": "ftsim.api.testing.simulator",
    "SimulatorClosed": "ftsim.api.testing.simulator",
    "mock_openai": "ftsim.api.testing.mock",
    "BlockedRequestError": "ftsim.api.testing.mock",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'ftsim' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
