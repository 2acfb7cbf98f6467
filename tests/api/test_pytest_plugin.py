"""The pytest plugin: the `ftsim` fixture and marker, exercised in an inner pytest run (pytester)."""

from __future__ import annotations

import openai  # noqa: F401 - imported here so the inner runs (which restore sys.modules) reuse it
import pytest

from ftsim.api.testing.simulator import Simulator

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def _warm():
    """Import every service module once, outside the inner runs' sys.modules snapshots."""
    Simulator().close()

pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]

INNER = '''
import pytest
from ftsim.api.testing.simulator import Simulator
from ftsim.simulator.core.clock import DEFAULT_START

SEEN = []

def test_fixture_is_a_fresh_simulator(ftsim):
    assert isinstance(ftsim, Simulator)
    assert ftsim.seed == 0 and ftsim.now() == DEFAULT_START
    client = ftsim.client()
    client.files.create(file=("a.jsonl", b'{"messages": []}\\n'), purpose="fine-tune")
    ftsim.advance(3600)
    SEEN.append(ftsim)

def test_next_test_gets_another_world(ftsim):
    assert SEEN and SEEN[0] is not ftsim
    assert SEEN[0]._closed  # the previous one was closed after its test
    assert ftsim.files == [] and ftsim.journal == [] and ftsim.now() == DEFAULT_START

@pytest.mark.ftsim(seed=42, lifecycle="enforce", max_concurrent_jobs=1, start=1_700_000_000)
def test_marker_configures_the_simulator(ftsim):
    assert ftsim.seed == 42
    assert ftsim.backend.config.lifecycle == "enforce"
    assert ftsim.backend.config.max_concurrent_jobs_per_model == 1
    assert ftsim.now() == 1_700_000_000

@pytest.mark.ftsim(speed=100)
class TestClassMarker:
    def test_inherits(self, ftsim):
        assert ftsim.backend.clock.speed == 100

@pytest.mark.asyncio
async def test_async_use(ftsim):
    client = ftsim.async_client()
    assert (await client.files.list()).data == []
    await client.close()
'''


@pytest.fixture(autouse=True)
def _ini(pytester):
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_fixture_and_marker_in_an_inner_run(pytester):
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers", "-q")
    result.assert_outcomes(passed=5)


def test_marker_is_registered(pytester):
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["*@pytest.mark.ftsim(seed=0, speed=0, **options)*"])


def test_bad_marker_options_fail_the_test_not_the_session(pytester):
    pytester.makepyfile(
        test_bad='''
import pytest

@pytest.mark.ftsim(lifecycle="bogus")
def test_bad(ftsim):
    pass

def test_good(ftsim):
    assert ftsim.client().models.list().data
'''
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(passed=1, errors=1)


def test_a_misspelt_or_misplaced_marker_argument_names_the_marker_and_its_options(pytester):
    """A typo used to fail as "Simulator.__init__() got an unexpected keyword argument 'sed'", and a dict passed
    positionally (`ftsim({"seed": 3})`) ran the test with that dict as the seed."""
    pytester.makepyfile(
        test_bad='''
import pytest

@pytest.mark.ftsim(sed=1)
def test_typo(ftsim):
    pass

@pytest.mark.ftsim({"seed": 3})
def test_positional_dict(ftsim):
    pass

@pytest.mark.ftsim(mock={"passthru": ["http://127.0.0.1:9"]})
def test_mock_typo(ftsim):
    pass
'''
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-q")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines([
        "*TypeError: @pytest.mark.ftsim: got an unexpected keyword argument 'sed'; its options are seed, speed,*mock",
        "*TypeError: seed must be an int, got {'seed': 3}",
        "*TypeError: @pytest.mark.ftsim(mock={...}): got an unexpected keyword argument 'passthru'; its options are "
        "passthrough, base_url, api_key",
    ])
