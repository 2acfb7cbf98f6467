"""`Simulator.mock()` and `ftsim.mock_openai()`: every openai client is served in-process, nothing leaves.

Runs on openai 1.x, 2.x and 3.x (each in its own environment, see the Makefile). Every test that sends a request
does it under `no_connections()`, which makes any DNS lookup or connection attempt fail and records it: a test
passes only if the request was answered (or refused) without one.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
import socket
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

import httpx
import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ftsim
from ftsim.api.testing import mock as mock_module
from ftsim.api.testing.mock import BlockedRequestError, mock_openai
from ftsim.api.testing.simulator import DEFAULT_API_KEY, Simulator

pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]

SDK_MAJOR = int(openai.__version__.split(".")[0])
HAS_HTTPX2 = importlib.util.find_spec("httpx2") is not None
STACKS = ["httpx"] + (["httpx2"] if HAS_HTTPX2 else [])
needs_sdk3 = pytest.mark.skipif(SDK_MAJOR < 3, reason="the default client is httpx2 from openai 3.x on")


def _sdk_accepts_httpx2() -> bool:
    """openai 3.x, and 2.x with its httpx2 extra, take an httpx2 client; 1.x takes httpx only."""
    if not HAS_HTTPX2:
        return False
    import httpx2

    try:
        openai.OpenAI(api_key="sk-probe", http_client=httpx2.Client()).close()
    except TypeError:
        return False
    return True


ACCEPTS_HTTPX2 = _sdk_accepts_httpx2()
ROW = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
DATA = ("\n".join(json.dumps(ROW) for _ in range(10)) + "\n").encode()


@contextmanager
def no_connections() -> Iterator[list[str]]:
    """Make every DNS lookup and connection attempt of this process fail; yields the attempts seen."""
    attempts: list[str] = []

    def refuse(what: str):
        def fail(*args, **kwargs):
            attempts.append(f"{what}{args[1:2] if what.startswith('socket.') else args[:1]}")
            raise OSError(f"test guard: {what} attempted")

        return fail

    saved = [
        (socket.socket, "connect", socket.socket.connect),
        (socket.socket, "connect_ex", socket.socket.connect_ex),
        (socket, "create_connection", socket.create_connection),
        (socket, "getaddrinfo", socket.getaddrinfo),
    ]
    for owner, name, _ in saved:
        label = f"socket.{name}" if owner is socket.socket else name
        setattr(owner, name, refuse(label))
    try:
        yield attempts
    finally:
        for owner, name, original in saved:
            setattr(owner, name, original)


def originals() -> dict[str, object]:
    """The network transports' request methods as they are now."""
    found = {}
    for name in STACKS:
        mod = importlib.import_module(name)
        found[f"{name}.sync"] = mod.HTTPTransport.__dict__["handle_request"]
        found[f"{name}.async"] = mod.AsyncHTTPTransport.__dict__["handle_async_request"]
    return found


UNPATCHED = originals()


@pytest.fixture(autouse=True)
def _no_mock_left_behind():
    yield
    assert not mock_module.active() and originals() == UNPATCHED, "a mock was left active"


@pytest.fixture
def no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_AD_TOKEN", raising=False)


def test_the_guard_sees_a_real_connection_attempt():
    """Without a mock, a request does try the network, and no_connections() records it (the guard works)."""
    with no_connections() as attempts, pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:9/", timeout=1)
    assert attempts


# -- the proof of issue 12: code that builds its own client at import time -----------------------------------

SYNC_MODULE = '''
import openai
client = openai.OpenAI()
uploaded = client.files.create(file=("train.jsonl", {data!r}), purpose="fine-tune")
'''

ASYNC_MODULE = '''
import openai
client = openai.AsyncOpenAI()

async def upload():
    return await client.files.create(file=("train.jsonl", {data!r}), purpose="fine-tune")
'''


@pytest.fixture
def import_module(tmp_path, monkeypatch):
    """Write a module into a fresh folder and return a function that imports it (forgotten after the test)."""
    monkeypatch.syspath_prepend(str(tmp_path))
    names: list[str] = []

    def write(name: str, source: str):
        (tmp_path / f"{name}.py").write_text(source.format(data=DATA))
        names.append(name)
        return lambda: importlib.import_module(name)

    yield write
    for name in names:
        sys.modules.pop(name, None)


def test_a_module_that_builds_openai_at_import_time_uploads_into_the_simulator(import_module, no_key):
    load = import_module("pipeline_sync", SYNC_MODULE)
    with no_connections() as attempts, mock_openai() as sim:
        module = load()
        assert [f.id for f in sim.files] == [module.uploaded.id]
        assert sim.files[0].purpose == "fine-tune" and sim.files[0].bytes == len(DATA)
    assert attempts == []


async def test_a_module_that_builds_async_openai_at_import_time_uploads_into_the_simulator(import_module, no_key):
    load = import_module("pipeline_async", ASYNC_MODULE)
    with no_connections() as attempts, mock_openai() as sim:
        module = load()
        uploaded = await module.upload()
        assert [f.id for f in sim.files] == [uploaded.id]
    assert attempts == []


def test_a_client_built_before_the_mock_is_caught_too(no_key):
    client = openai.OpenAI(api_key="sk-early")  # e.g. at import time, before the test starts its mock
    with no_connections() as attempts, mock_openai() as sim:
        client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert len(sim.for_key("sk-early").files) == 1
    assert attempts == []


# -- every client the code under test can build -----------------------------------------------------------


def _sync_clients():
    yield "default", lambda: openai.OpenAI()
    yield "DefaultHttpxClient", lambda: openai.OpenAI(http_client=openai.DefaultHttpxClient())
    yield "httpx.Client", lambda: openai.OpenAI(http_client=httpx.Client())
    if ACCEPTS_HTTPX2:
        import httpx2

        yield "httpx2.Client", lambda: openai.OpenAI(http_client=httpx2.Client())


def _async_clients():
    yield "default", lambda: openai.AsyncOpenAI()
    yield "DefaultAsyncHttpxClient", lambda: openai.AsyncOpenAI(http_client=openai.DefaultAsyncHttpxClient())
    yield "httpx.AsyncClient", lambda: openai.AsyncOpenAI(http_client=httpx.AsyncClient())
    if ACCEPTS_HTTPX2:
        import httpx2

        yield "httpx2.AsyncClient", lambda: openai.AsyncOpenAI(http_client=httpx2.AsyncClient())


SYNC_CLIENTS = dict(_sync_clients())
ASYNC_CLIENTS = dict(_async_clients())


@pytest.mark.parametrize("kind", sorted(SYNC_CLIENTS))
def test_every_sync_client_is_served(kind, no_key):
    with no_connections() as attempts, mock_openai() as sim:
        client = SYNC_CLIENTS[kind]()
        f = client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id)
        assert sim.run_until_complete(job.id).status == "succeeded"
        assert client.fine_tuning.jobs.retrieve(job.id).fine_tuned_model
    assert attempts == []


@pytest.mark.parametrize("kind", sorted(ASYNC_CLIENTS))
async def test_every_async_client_is_served(kind, no_key):
    with no_connections() as attempts, mock_openai() as sim:
        client = ASYNC_CLIENTS[kind]()
        f = await client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert [x.id for x in (await client.files.list()).data] == [f.id]
        assert [x.id for x in sim.files] == [f.id]
    assert attempts == []


async def test_the_aiohttp_client_is_served_too(no_key):
    """openai[aiohttp]'s DefaultAioHttpClient sends through aiohttp, not httpx's transports: caught all the same."""
    pytest.importorskip("aiohttp")
    if SDK_MAJOR < 3:
        pytest.importorskip("httpx_aiohttp")
    with no_connections() as attempts, mock_openai() as sim:
        client = openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient())
        assert "Aio" in type(client._client).__name__
        f = await client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert [x.id for x in sim.files] == [f.id]
        other = openai.AsyncOpenAI(http_client=openai.DefaultAioHttpClient(), base_url="https://example.org/v1")
        with pytest.raises(BlockedRequestError, match="https://example.org/v1/files"):
            await other.files.list()
    assert attempts == []


@needs_sdk3
def test_the_sdk3_default_client_sends_through_httpx2():
    """The case respx could not catch: openai 3.x's default client is an httpx2 client."""
    import httpx2

    with mock_openai():
        assert isinstance(openai.OpenAI()._client, httpx2.Client)


def test_a_sync_client_inside_a_running_loop_is_served(no_key):
    async def main():
        with mock_openai() as sim:
            openai.OpenAI().files.create(file=("d.jsonl", DATA), purpose="fine-tune")
            return len(sim.files)

    with no_connections() as attempts:
        assert asyncio.run(main()) == 1
    assert attempts == []


# -- base URLs --------------------------------------------------------------------------------------------


def test_openai_base_url_routes_to_the_simulator(no_key, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "https://example.invalid/v1")
    with no_connections() as attempts, mock_openai() as sim:
        client = openai.OpenAI()
        assert str(client.base_url).startswith("https://example.invalid/v1")
        f = client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert [x.id for x in sim.files] == [f.id]
    assert attempts == []
    assert [(e.method, e.path) for e in sim.journal] == [("POST", "/v1/files")]


@pytest.mark.parametrize("base", ["https://gw.example.invalid/openai/v1", "http://localhost:8000", "http://[::1]:81/x"])
def test_any_base_path_maps_onto_the_api_root(base, no_key, monkeypatch):
    """The base URL stands for the API root (/v1) whatever its path; the query string is kept."""
    monkeypatch.setenv("OPENAI_BASE_URL", base)
    with no_connections() as attempts, mock_openai() as sim:
        client = openai.OpenAI()
        assert client.models.retrieve("gpt-4o-mini-2024-07-18").id == "gpt-4o-mini-2024-07-18"
        client.fine_tuning.jobs.list(limit=2)
    assert attempts == []
    assert [(e.path, e.query) for e in sim.journal] == [
        ("/v1/models/gpt-4o-mini-2024-07-18", ""), ("/v1/fine_tuning/jobs", "limit=2")
    ]


def test_a_base_url_set_during_the_mock_is_served(no_key, monkeypatch):
    with no_connections() as attempts, mock_openai() as sim:
        monkeypatch.setenv("OPENAI_BASE_URL", "https://late.example.invalid/v1")
        openai.OpenAI().files.list()
    assert attempts == [] and len(sim.journal) == 1


def test_extra_base_urls_are_served(no_key):
    with no_connections() as attempts, mock_openai(base_url=["https://proxy.example.invalid/v1"]) as sim:
        client = openai.OpenAI(base_url="https://proxy.example.invalid/v1")
        client.models.list()
        openai.OpenAI().models.list()  # the default base URL stays served
    assert attempts == [] and [e.path for e in sim.journal] == ["/v1/models", "/v1/models"]


def test_the_in_process_clients_keep_working_inside_a_mock(no_key):
    with Simulator() as sim, no_connections() as attempts, sim.mock():
        sim.client().files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert len(sim.files) == 1
    assert attempts == []


def test_a_transport_that_never_touches_the_network_is_left_alone(no_key):
    transport = httpx.MockTransport(lambda request: httpx.Response(218, text="mine"))
    with mock_openai() as sim, httpx.Client(transport=transport) as own:
        assert own.get("https://example.com/anything").status_code == 218
    assert sim.journal == []


# -- nothing leaves ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_another_host_fails_at_once_with_a_clear_error(stack):
    mod = importlib.import_module(stack)
    with no_connections() as attempts, mock_openai() as sim, mod.Client() as client:
        with pytest.raises(BlockedRequestError) as err:
            client.post("https://example.com:8443/upload?x=1", content=b"secret")
    message = str(err.value)
    assert "POST https://example.com:8443/upload?x=1" in message
    assert "passthrough=['https://example.com:8443']" in message and "https://api.openai.com/v1" in message
    assert attempts == [] and sim.journal == []


@pytest.mark.parametrize("stack", STACKS)
async def test_another_host_fails_at_once_in_async_code_too(stack):
    mod = importlib.import_module(stack)
    with no_connections() as attempts, mock_openai():
        async with mod.AsyncClient() as client:
            with pytest.raises(BlockedRequestError, match="GET http://10.0.0.1:9999/"):
                await client.get("http://10.0.0.1:9999/")
    assert attempts == []


def test_the_sdk_neither_retries_nor_hides_the_refusal(no_key):
    """openai 1.x/2.x catch Exception from the transport and retry; the refusal gets past that, unwrapped."""
    with no_connections() as attempts, mock_openai():
        client = openai.OpenAI(base_url="https://not-openai.example/v1", max_retries=5)
        with pytest.raises(BlockedRequestError, match="https://not-openai.example/v1/files"):
            client.files.list()
    assert attempts == []


def test_other_paths_on_the_api_host_are_not_served():
    with no_connections() as attempts, mock_openai():
        with pytest.raises(BlockedRequestError):
            httpx.get("https://api.openai.com/v1beta/files")
        with pytest.raises(BlockedRequestError):
            httpx.get("http://api.openai.com/v1/files")  # another scheme is another origin
    assert attempts == []


_hosts = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,8}){1,2}", fullmatch=True)
_paths = st.lists(st.from_regex(r"[A-Za-z0-9._~-]{1,12}", fullmatch=True), max_size=4).map(lambda p: "/" + "/".join(p))


@pytest.fixture(scope="module")
def shared():
    """One simulator and one client per HTTP stack for every example (a client's TLS set-up is slow)."""
    clients = {name: importlib.import_module(name).Client() for name in STACKS}
    with Simulator() as sim:
        yield sim, clients
    for client in clients.values():
        client.close()


@settings(max_examples=60, deadline=None)
@given(scheme=st.sampled_from(["http", "https"]), host=_hosts | st.just("api.openai.com"),
       port=st.none() | st.integers(1, 65535), path=_paths | st.sampled_from(["/v1", "/v1/files", "/v1/models"]),
       stack=st.sampled_from(STACKS))
def test_no_socket_is_opened_whatever_url_is_asked(shared, scheme, host, port, path, stack):
    url = f"{scheme}://{host}{'' if port is None else f':{port}'}{path}"
    sim, clients = shared
    with no_connections() as attempts, sim.mock(api_key=None):
        served = (url.startswith(("https://api.openai.com/v1/", "https://api.openai.com:443/v1/"))
                  or url in ("https://api.openai.com/v1", "https://api.openai.com:443/v1"))
        try:
            status = clients[stack].get(url).status_code
        except BlockedRequestError:
            assert not served
        else:
            assert served and status < 500  # answered by the app (401 without a key, 404 for an unknown path)
    assert attempts == []


# -- pass-through -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_a_passthrough_prefix_reaches_the_real_transport(stack):
    """A listed prefix goes to the network (here, the guard refuses the connection the transport attempts)."""
    mod = importlib.import_module(stack)
    with no_connections() as attempts, mock_openai(passthrough=["http://127.0.0.1:9999/allowed"]):
        with pytest.raises(mod.ConnectError):
            mod.get("http://127.0.0.1:9999/allowed/x")
        assert attempts
        before = len(attempts)
        with pytest.raises(BlockedRequestError):
            mod.get("http://127.0.0.1:9999/other")  # outside the listed path
        with pytest.raises(BlockedRequestError):
            mod.get("http://127.0.0.1:9998/allowed/x")  # another port
        assert len(attempts) == before


async def test_a_passthrough_prefix_reaches_the_real_async_transport():
    with no_connections() as attempts, mock_openai(passthrough="http://127.0.0.1:9999"):
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get("http://127.0.0.1:9999/")
    assert attempts


@pytest.mark.parametrize("bad", ["127.0.0.1:9999", "ftp://example.com", "https://", "http://h:99999"])
def test_a_malformed_passthrough_is_refused_where_it_is_written(bad):
    with pytest.raises(ValueError, match="passthrough"):
        mock_openai(passthrough=[bad])
    with Simulator() as sim, pytest.raises(ValueError, match="passthrough"):
        with sim.mock(passthrough=[bad]):
            pass  # pragma: no cover


# -- the environment ----------------------------------------------------------------------------------------


def test_the_key_is_set_only_while_active_and_only_when_unset(no_key):
    with mock_openai():
        assert os.environ["OPENAI_API_KEY"] == DEFAULT_API_KEY
    assert "OPENAI_API_KEY" not in os.environ
    with mock_openai(api_key="sk-chosen"):
        assert os.environ["OPENAI_API_KEY"] == "sk-chosen"
    assert "OPENAI_API_KEY" not in os.environ
    with mock_openai(api_key=None):
        assert "OPENAI_API_KEY" not in os.environ


def test_a_users_own_key_is_left_alone_and_never_leaves(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-users-real-key")
    with no_connections() as attempts, mock_openai() as sim:
        assert os.environ["OPENAI_API_KEY"] == "sk-users-real-key"
        openai.OpenAI().files.list()
        assert sim.journal[0].tenant == sim.tenant("sk-users-real-key").org_id
    assert os.environ["OPENAI_API_KEY"] == "sk-users-real-key" and attempts == []


def test_everything_is_restored_when_the_block_raises(no_key):
    with pytest.raises(ZeroDivisionError):
        with mock_openai():
            assert originals() != UNPATCHED
            1 / 0  # noqa: B018
    assert originals() == UNPATCHED and not mock_module.active()
    assert "OPENAI_API_KEY" not in os.environ


# -- nesting, threads -------------------------------------------------------------------------------------


def test_mocks_nest_innermost_first(no_key):
    with mock_openai() as outer:
        openai.OpenAI().models.list()
        with mock_openai(base_url="https://inner.example.invalid/v1") as inner:
            openai.OpenAI().models.list()
            openai.OpenAI(base_url="https://inner.example.invalid/v1").models.list()
        assert mock_module.active() and originals() != UNPATCHED
        openai.OpenAI().models.list()
        with pytest.raises(BlockedRequestError):  # the inner base URL ended with the inner mock
            openai.OpenAI(base_url="https://inner.example.invalid/v1").models.list()
        assert os.environ["OPENAI_API_KEY"] == DEFAULT_API_KEY
        assert len(outer.journal) == 2 and len(inner.journal) == 2
    assert "OPENAI_API_KEY" not in os.environ


def test_an_outer_mock_serves_what_an_inner_one_does_not(no_key):
    with mock_openai(base_url="https://outer.example.invalid/v1") as outer, mock_openai() as inner:
        openai.OpenAI(base_url="https://outer.example.invalid/v1").models.list()
        openai.OpenAI().models.list()
    assert len(outer.journal) == 1 and len(inner.journal) == 1


def test_requests_from_worker_threads_are_served(no_key):
    with no_connections() as attempts, mock_openai() as sim:
        client = openai.OpenAI()
        with ThreadPoolExecutor(4) as pool:
            uploads = list(pool.map(lambda i: client.files.create(file=(f"{i}.jsonl", DATA), purpose="fine-tune"),
                                    range(8)))
        assert sorted(f.id for f in sim.files) == sorted(f.id for f in uploads)
    assert attempts == []


def test_mocks_started_and_ended_by_many_threads_leave_nothing_behind(no_key):
    """Concurrent starts and ends (in any order) install the patch once and remove it with the last mock."""
    barrier = threading.Barrier(6)
    served = []

    def worker(i: int) -> None:
        with Simulator(seed=i) as sim:
            barrier.wait()
            with sim.mock(api_key=None):
                barrier.wait()  # all six active at once
                assert originals() != UNPATCHED
                httpx.get("https://api.openai.com/v1/models", headers={"Authorization": f"Bearer sk-{i}"})
                barrier.wait()
            served.append(len(sim.journal))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(served) == 6
    assert originals() == UNPATCHED and not mock_module.active()


def test_two_threads_each_in_its_own_mock_are_each_served_by_their_own(no_key):
    """Each thread's requests used to go to whichever mock had started last: thread a's upload landed in b's world."""
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        with mock_openai() as sim:
            barrier.wait()  # both mocks active before either uploads
            openai.OpenAI().files.create(file=(f"{name}.jsonl", DATA), purpose="fine-tune")
            barrier.wait()
            seen[name] = [f.filename for f in sim.files]
            barrier.wait()

    threads = [threading.Thread(target=worker, args=(name,)) for name in ("a", "b")]
    with no_connections() as attempts:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert seen == {"a": ["a.jsonl"], "b": ["b.jsonl"]} and attempts == []


def test_the_key_stays_set_until_the_last_of_overlapping_mocks_ends(no_key):
    """The first of two threads' mocks to end used to remove OPENAI_API_KEY while the other still relied on it."""
    first_out, second_in = threading.Event(), threading.Event()
    results: list[object] = []

    def second() -> None:
        with mock_openai():
            second_in.set()
            first_out.wait()
            results.append(os.environ.get("OPENAI_API_KEY"))
            results.append(len(openai.OpenAI().models.list().data) > 0)

    with no_connections() as attempts:
        with mock_openai():
            t = threading.Thread(target=second)
            t.start()
            second_in.wait()
        first_out.set()
        t.join()
    assert results == [DEFAULT_API_KEY, True] and attempts == []
    assert "OPENAI_API_KEY" not in os.environ


shared_mock = mock_openai()


@shared_mock
async def _upload_under_the_shared_mock(name: str, go: asyncio.Event, done: asyncio.Event | None) -> list[str]:
    sim = shared_mock.simulator
    await go.wait()
    await openai.AsyncOpenAI().files.create(file=(f"{name}.jsonl", DATA), purpose="fine-tune")
    if done is not None:
        done.set()
    await asyncio.sleep(0)
    return [f.filename for f in sim.files]


async def test_one_decorated_function_run_by_two_tasks_at_once(no_key):
    """Task a (started first, ended first) used to be served by b's simulator, and its exit closed b's."""
    go_a, go_b = asyncio.Event(), asyncio.Event()
    with no_connections() as attempts:
        a = asyncio.create_task(_upload_under_the_shared_mock("a", go_a, go_b))
        await asyncio.sleep(0)
        b = asyncio.create_task(_upload_under_the_shared_mock("b", go_b, None))
        await asyncio.sleep(0)
        go_a.set()
        assert await asyncio.gather(a, b) == [["a.jsonl"], ["b.jsonl"]]
    assert attempts == []


# -- the decorator, the fixture marker, the package export --------------------------------------------------


mocked = mock_openai(seed=5)


@mocked
def test_the_decorator_wraps_a_sync_test(no_key):
    sim = mocked.simulator
    assert isinstance(sim, Simulator) and sim.seed == 5
    openai.OpenAI().files.create(file=("d.jsonl", DATA), purpose="fine-tune")
    assert len(sim.files) == 1


@mocked
async def test_the_decorator_wraps_an_async_test(no_key):
    f = await openai.AsyncOpenAI().files.create(file=("d.jsonl", DATA), purpose="fine-tune")
    assert [x.id for x in mocked.simulator.files] == [f.id]


@mock_openai()
class TestDecoratedClass:
    def test_methods_run_under_the_mock(self):
        assert mock_module.active()

    def helper_is_not_wrapped(self):  # pragma: no cover - not a test
        pass


def test_each_activation_gets_a_fresh_simulator_closed_after(no_key):
    with mocked as first:
        openai.OpenAI().files.create(file=("d.jsonl", DATA), purpose="fine-tune")
    with mocked as second:
        assert second is not first and second.files == []
    assert first._closed and second._closed
    with pytest.raises(RuntimeError, match="not active"):
        mocked.simulator


def test_the_decorator_returns_what_the_function_returns():
    assert mock_openai()(lambda: 41 + 1)() == 42


@pytest.mark.ftsim(mock=True, seed=9)
def test_the_fixture_marker_mocks_the_whole_test(ftsim, no_key):
    assert ftsim.seed == 9 and mock_module.active()
    with no_connections() as attempts:
        openai.OpenAI(api_key="sk-own").files.create(file=("d.jsonl", DATA), purpose="fine-tune")
    assert attempts == [] and len(ftsim.files) == 1


@pytest.mark.ftsim(mock={"passthrough": ["http://127.0.0.1:9999"]})
def test_the_fixture_marker_takes_mock_options(ftsim):
    with no_connections() as attempts, pytest.raises(httpx.ConnectError):
        httpx.get("http://127.0.0.1:9999/")
    assert attempts


def test_a_bad_mock_marker_option_is_refused():
    from ftsim.api.testing.pytest_plugin import simulator_for

    with pytest.raises(TypeError, match="mock="):
        with simulator_for(mock="yes"):
            pass  # pragma: no cover
    assert not mock_module.active()


def test_the_fixture_does_not_mock_unless_asked(ftsim):
    assert not mock_module.active()


def test_mock_openai_is_exported_from_the_package():
    assert ftsim.mock_openai is mock_openai and ftsim.BlockedRequestError is BlockedRequestError
    assert {"mock_openai", "BlockedRequestError"} <= set(ftsim.__all__)


def test_the_live_accounts_org_and_project_are_hidden_while_mocked(monkeypatch):
    monkeypatch.setenv("OPENAI_ORG_ID", "org-live-account")
    monkeypatch.setenv("OPENAI_PROJECT_ID", "proj_live")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ftsim.mock_openai() as sim:
        assert "OPENAI_ORG_ID" not in os.environ and "OPENAI_PROJECT_ID" not in os.environ
        assert openai.OpenAI().files.list().data == []
        assert [e.status for e in sim.journal] == [200]
    assert os.environ["OPENAI_ORG_ID"] == "org-live-account" and os.environ["OPENAI_PROJECT_ID"] == "proj_live"


# -- other HTTP stacks: requests/urllib3, aiohttp, http.client (never served, never let out unless listed) ------

HAS_REQUESTS = importlib.util.find_spec("requests") is not None
HAS_AIOHTTP = importlib.util.find_spec("aiohttp") is not None


def _foreign_originals() -> dict[str, object]:
    import http.client

    found: dict[str, object] = {"http.client": http.client.HTTPConnection.__dict__["putrequest"]}
    if importlib.util.find_spec("urllib3") is not None:
        from urllib3.connectionpool import HTTPConnectionPool

        found["urllib3"] = HTTPConnectionPool.__dict__["urlopen"]
    if HAS_AIOHTTP:
        import aiohttp

        found["aiohttp"] = aiohttp.ClientSession.__dict__["_request"]
    return found


@pytest.mark.skipif(not HAS_REQUESTS, reason="requests is not installed")
@pytest.mark.parametrize("url", ["https://example.com/x", "https://api.openai.com/v1/models", "http://[::1]:8080/"])
def test_requests_never_leaves_under_a_mock(url):
    """requests (urllib3) used to reach the network under a mock: the OpenAI host too, with whatever key it had."""
    import requests

    with no_connections() as attempts, mock_openai():
        with pytest.raises(BlockedRequestError, match="urllib3"):
            requests.get(url, timeout=1)
    assert attempts == []


@pytest.mark.skipif(not HAS_REQUESTS, reason="requests is not installed")
def test_requests_under_a_passthrough_prefix_goes_out():
    import requests

    with no_connections() as attempts, mock_openai(passthrough=["http://127.0.0.1:9999/allowed"]):
        with pytest.raises(requests.ConnectionError):
            requests.get("http://127.0.0.1:9999/allowed/x", timeout=1)
        assert attempts
        before = len(attempts)
        with pytest.raises(BlockedRequestError):
            requests.get("http://127.0.0.1:9999/other", timeout=1)
        assert len(attempts) == before


def test_urllib_request_never_leaves_under_a_mock():
    import urllib.request

    with no_connections() as attempts, mock_openai():
        with pytest.raises(BlockedRequestError, match="http.client"):
            urllib.request.urlopen("http://example.com/", timeout=1)
    assert attempts == []


@pytest.mark.skipif(not HAS_AIOHTTP, reason="aiohttp is not installed")
async def test_aiohttp_never_leaves_under_a_mock():
    import aiohttp

    with no_connections() as attempts, mock_openai(passthrough=["http://127.0.0.1:9999"]):
        async with aiohttp.ClientSession() as session:
            with pytest.raises(BlockedRequestError, match="aiohttp"):
                await session.get("https://example.com/")
            with pytest.raises(aiohttp.ClientConnectionError):
                await session.get("http://127.0.0.1:9999/through")
    assert attempts and all("example.com" not in a for a in attempts)


def test_the_other_stacks_are_restored_after_the_last_mock():
    before = _foreign_originals()
    with mock_openai():
        assert _foreign_originals() != before
    assert _foreign_originals() == before


def test_an_azure_client_of_the_code_under_test_needs_no_key_of_its_own(no_key):
    """AzureOpenAI() reads AZURE_OPENAI_API_KEY, which the mock left unset: the client the mock would serve could
    not even be built ("Missing credentials")."""
    with no_connections() as attempts, mock_openai() as sim:
        client = openai.AzureOpenAI(azure_endpoint="https://myres.openai.azure.com", api_version="2025-04-01-preview")
        uploaded = client.files.create(file=("d.jsonl", DATA), purpose="fine-tune")
        assert [f.id for f in sim.files] == [uploaded.id]
    assert "AZURE_OPENAI_API_KEY" not in os.environ and attempts == []


def test_a_users_own_azure_key_is_left_alone(no_key, monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "users-azure-key")
    with mock_openai():
        assert os.environ["AZURE_OPENAI_API_KEY"] == "users-azure-key"
    assert os.environ["AZURE_OPENAI_API_KEY"] == "users-azure-key"


def test_a_misspelt_simulator_option_is_refused_where_the_mock_is_written():
    """`@mock_openai(sed=1)` used to be accepted, and fail only once the decorated test ran."""
    with pytest.raises(TypeError, match=r"mock_openai\(\): got an unexpected keyword argument 'sed'"):
        mock_openai(sed=1)


async def test_sim_mock_as_a_decorator_covers_the_whole_async_function(no_key):
    """`@sim.mock()` on an async function ended the mock before the coroutine ran: its request went to the network."""
    with Simulator() as sim:

        @sim.mock()
        async def pipeline() -> str:
            return (await openai.AsyncOpenAI(max_retries=0).models.list()).data[0].id

        with no_connections() as attempts:
            assert await pipeline()
            assert await pipeline()  # each call its own activation
        assert attempts == [] and len(sim.journal) == 2 and not mock_module.active()


def test_sim_mock_as_a_decorator_of_a_sync_function(no_key):
    with Simulator() as sim:

        @sim.mock(api_key="sk-decorated")
        def pipeline() -> str:
            return os.environ["OPENAI_API_KEY"]

        with no_connections():
            assert pipeline() == "sk-decorated"
        assert "OPENAI_API_KEY" not in os.environ and not mock_module.active()


def test_xmlrpc_never_leaves_under_a_mock():
    """xmlrpc.client sends through http.client's putrequest, not request()."""
    import xmlrpc.client

    with no_connections() as attempts, mock_openai():
        with pytest.raises(BlockedRequestError, match="http.client"):
            xmlrpc.client.ServerProxy("http://example.com/RPC2").system.listMethods()
    assert attempts == []
