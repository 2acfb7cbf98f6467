"""In-process transports for httpx and httpx2: requests reach the ASGI app, no sockets, no leftover threads."""

from __future__ import annotations

import asyncio
import importlib
import threading

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.api.http.app import create_app
from ftsim.api.testing.transport import call_asgi, http_client, sdk_http_module, transport_classes
from ftsim.simulator.core.backend import Backend

pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]  # in-process SDK tests: also run with openai 1.x and 2.x
MODULES = ["httpx"] + (["httpx2"] if importlib.util.find_spec("httpx2") else [])
KEY = {"Authorization": "Bearer sk-transport"}


@pytest.fixture
def app():
    backend = Backend()
    yield create_app(backend)
    backend.close()


@pytest.mark.parametrize("name", MODULES)
def test_sync_client_round_trip(app, name):
    module = importlib.import_module(name)
    with http_client(app, module=name) as client:
        assert isinstance(client, module.Client)
        up = client.post("/v1/files", headers=KEY, files={"file": ("d.jsonl", b'{"a": 1}\n')},
                         data={"purpose": "fine-tune"})
        assert up.status_code == 200, up.text
        file_id = up.json()["id"]
        listed = client.get("/v1/files", headers=KEY, params={"limit": 5, "order": "asc"})
        assert [f["id"] for f in listed.json()["data"]] == [file_id]
        content = client.get(f"/v1/files/{file_id}/content", headers=KEY)
        assert content.content == b'{"a": 1}\n'  # a streamed response, read whole
        assert content.headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize("name", MODULES)
def test_errors_come_back_as_envelopes(app, name):
    with http_client(app, module=name) as client:
        missing = client.get("/v1/files/file-nope", headers=KEY)
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "No such File object: file-nope"
        unauth = client.get("/v1/files")
        assert unauth.status_code == 401
        assert unauth.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize("name", MODULES)
async def test_async_client_round_trip(app, name):
    module = importlib.import_module(name)
    async with http_client(app, module=name, asynchronous=True) as client:
        assert isinstance(client, module.AsyncClient)
        resp = await client.get("/_sim/clock")
        assert resp.status_code == 200
        assert resp.json()["speed"] == 0.0
        resp = await client.post("/_sim/clock/advance", json={"seconds": 90})
        assert resp.json()["now"] == (await client.get("/_sim/clock")).json()["now"]


@pytest.mark.parametrize("name", MODULES)
async def test_sync_client_inside_a_running_loop(app, name):
    # a sync client used from async code: the app runs in a short-lived portal thread
    with http_client(app, module=name) as client:
        assert client.get("/_sim/clock").status_code == 200
    await asyncio.sleep(0)


@pytest.mark.parametrize("name", MODULES)
def test_no_threads_left_running(app, name):
    before = {t.ident for t in threading.enumerate()}
    with http_client(app, module=name) as client:
        for _ in range(5):
            client.get("/v1/files", headers=KEY)
    leftover = [t for t in threading.enumerate() if t.ident not in before]
    for thread in leftover:  # a worker told to stop as its loop closed may still be finishing
        thread.join(timeout=5)
    assert [t for t in leftover if t.is_alive()] == []


def test_path_with_colons_and_query_reach_the_app_raw():
    seen = {}

    async def echo(scope, receive, send):
        seen.update(path=scope["path"], raw=scope["raw_path"], query=scope["query_string"], method=scope["method"])
        await receive()
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    with http_client(echo, module="httpx") as client:
        resp = client.delete("/v1/models/ft:gpt-4o-mini:org:suf:abc", params={"a": "1"})
    assert resp.status_code == 204
    assert seen == {"path": "/v1/models/ft:gpt-4o-mini:org:suf:abc", "raw": b"/v1/models/ft:gpt-4o-mini:org:suf:abc",
                    "query": b"a=1", "method": "DELETE"}


async def test_call_asgi_returns_the_answer_even_if_the_app_raises_afterwards():
    async def answers_then_raises(scope, receive, send):
        await send({"type": "http.response.start", "status": 500, "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": b"boom"})
        raise RuntimeError("re-raised by Starlette after its handler answered")

    url = httpx.URL("http://ftsim.test/x")
    status, headers, body = await call_asgi(answers_then_raises, method="GET", url=url, headers=[], body=b"")
    assert (status, body) == (500, b"boom")


async def test_call_asgi_raises_when_the_app_never_answers():
    async def raises(scope, receive, send):
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError, match="bug"):
        await call_asgi(raises, method="GET", url=httpx.URL("http://ftsim.test/x"), headers=[], body=b"")


def test_native_module_follows_the_sdk_generation():
    import openai

    expected = "httpx2" if int(openai.__version__.split(".")[0]) >= 3 else "httpx"
    assert sdk_http_module().__name__ == expected


def test_transport_classes_are_cached_per_module():
    assert transport_classes(httpx) is transport_classes(httpx)
    sync_cls, async_cls = transport_classes(httpx)
    assert issubclass(sync_cls, httpx.BaseTransport) and issubclass(async_cls, httpx.AsyncBaseTransport)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(content=st.binary(min_size=0, max_size=4096), name=st.sampled_from(MODULES))
def test_bytes_round_trip_unchanged(app, content, name):
    with http_client(app, module=name) as client:
        up = client.post("/v1/files", headers=KEY, files={"file": ("blob.bin", content)}, data={"purpose": "batch"})
        assert up.status_code == 200, up.text
        assert up.json()["bytes"] == len(content)
        assert client.get(f"/v1/files/{up.json()['id']}/content", headers=KEY).content == content


@pytest.mark.parametrize("name", MODULES)
def test_sync_routes_run_on_the_callers_thread_and_nowhere_else_changes(name):
    """A sync client's request runs the app's sync work inline on its private loop (no worker thread a request);
    code of the user's own that hands work to anyio's threads still gets a worker thread."""
    import anyio
    import anyio.to_thread
    from fastapi import FastAPI

    small = FastAPI()

    @small.get("/where")
    def where() -> dict:
        return {"thread": threading.get_ident()}

    with http_client(small, module=name) as client:
        assert client.get("/where").json()["thread"] == threading.get_ident()

    async def users_own() -> int:
        return await anyio.to_thread.run_sync(threading.get_ident)

    assert anyio.run(users_own) != threading.get_ident()

    loops: list[int] = []

    async def around(scope, receive, send):  # runs on the request's loop thread, around the sync route
        loops.append(threading.get_ident())
        await small(scope, receive, send)

    async def inside_a_running_loop() -> tuple[int, int]:  # a sync client in an async test: the portal's loop
        with http_client(around, module=name) as client:
            sync_route = client.get("/where").json()["thread"]
        return sync_route, await anyio.to_thread.run_sync(threading.get_ident)

    sync_route, own = asyncio.run(inside_a_running_loop())
    assert sync_route == loops[-1] != threading.get_ident()  # inline on the portal's loop thread, not a worker's
    assert own != threading.get_ident()


def test_an_inline_sync_route_sets_context_variables_in_a_copy():
    """As in a worker thread, a sync route's context variables stay its own: the app around it never sees them."""
    import contextvars

    from fastapi import FastAPI

    seen: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="unset")
    small = FastAPI()
    after: list[str] = []

    @small.get("/set")
    def set_it() -> dict:
        seen.set("by the route")
        return {}

    async def around(scope, receive, send):  # pure ASGI: awaits the app in the same task
        await small(scope, receive, send)
        after.append(seen.get())

    with http_client(around, module="httpx") as client:
        assert client.get("/set").status_code == 200
    assert after == ["unset"]


@pytest.mark.parametrize("bad", ["requests", "urllib3", "HTTPX"])
def test_an_http_stack_the_sdk_does_not_speak_is_refused_by_name(bad):
    """`sim.client(http="requests")` used to fail as "module 'requests' has no attribute 'BaseTransport'"."""
    from ftsim.api.testing.simulator import Simulator

    with Simulator() as sim, pytest.raises(ValueError, match="http must be 'httpx' or 'httpx2'"):
        sim.client(http=bad)
