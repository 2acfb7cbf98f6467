"""The DNS-rebinding guard (issue 17): an open control plane on loopback answers only loopback Host names."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.cli import main
from ftsim.api.http.app import create_app
from ftsim.api.http.host_guard import HostGuard, guarded_path, host_name
from ftsim.simulator.core.backend import Backend

LOOPBACK_HOSTS = ["localhost", "localhost:8000", "LOCALHOST:1", "localhost.:80", "127.0.0.1", "127.0.0.1:65535",
                  "127.1.2.3:8", "[::1]", "[::1]:8000"]
FOREIGN_HOSTS = ["evil.example", "evil.example:8000", "localhost.evil.example", "127.0.0.1.nip.io:8000",
                 "192.168.1.10:8000", "[::2]:8000", "::1", "localhost:80:80", "localhost:", "", "[::1"]
GUARDED = ["/", "/console/jobs", "/console/clock", "/console/static/console.css", "/_sim/clock", "/_sim/faults"]


@pytest.fixture
def backend():
    b = Backend()
    yield b
    b.close()


def _client(backend, **kwargs) -> TestClient:
    return TestClient(create_app(backend, **kwargs), follow_redirects=False)


@pytest.mark.parametrize("host", LOOPBACK_HOSTS)
@pytest.mark.parametrize("path", GUARDED)
def test_loopback_host_names_reach_the_control_plane(backend, host, path):
    resp = _client(backend, bound_host="127.0.0.1").get(path, headers={"host": host})
    assert resp.status_code in (200, 303, 401), resp.text  # 401: the console page asks for a key


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
def test_other_host_names_get_403_in_the_envelope_on_sim(backend, host):
    before = backend.now()
    resp = _client(backend, bound_host="127.0.0.1").post("/_sim/clock/advance", json={"seconds": 60},
                                                         headers={"host": host})
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert set(err) == {"message", "type", "param", "code"} and err["code"] == "host_not_allowed"
    assert "x-request-id" in resp.headers
    assert backend.now() == before  # nothing happened


@pytest.mark.parametrize("host", FOREIGN_HOSTS)
@pytest.mark.parametrize("path", ["/", "/console/jobs", "/console/no-such-page"])
def test_other_host_names_get_a_console_page_on_the_console(backend, host, path):
    resp = _client(backend, bound_host="localhost").get(path, headers={"host": host})
    assert resp.status_code == 403 and resp.headers["content-type"].startswith("text/html")
    assert '<link rel="stylesheet" href="/console/static/console.css">' in resp.text
    assert "Not allowed" in resp.text and 'role="alert"' in resp.text


def test_the_api_itself_is_not_guarded(backend):
    client = _client(backend, bound_host="127.0.0.1")
    resp = client.get("/v1/models", headers={"host": "evil.example", "authorization": "Bearer sk-a"})
    assert resp.status_code == 200


def test_the_bound_host_is_allowed_beside_loopback_names(backend):
    guard = HostGuard(lambda *a: None, bound_host="LocalHost.")
    assert guard.allows("localhost:1") and guard.allows("127.0.0.1")
    named = HostGuard(lambda *a: None, bound_host="[::1]")
    assert named.allows("[::1]:9") and not named.allows("::1")
    assert not named.allows(None)


@pytest.mark.parametrize("kwargs", [{}, {"bound_host": "127.0.0.1", "sim_key": "k-1"}, {"bound_host": "0.0.0.0"}])
def test_no_guard_without_a_loopback_bind_or_with_a_sim_key(backend, kwargs):
    headers = {"host": "evil.example"} | ({"x-ftsim-sim-key": "k-1"} if kwargs.get("sim_key") else {})
    assert _client(backend, **kwargs).get("/_sim/clock", headers=headers).status_code == 200


def _raw(app, headers: list[tuple[bytes, bytes]]) -> int:
    sent = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
             "path": "/_sim/clock", "raw_path": b"/_sim/clock", "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"]


def test_a_missing_or_doubled_host_header_is_refused(backend):
    app = create_app(backend, bound_host="127.0.0.1")
    assert _raw(app, [(b"host", b"127.0.0.1")]) == 200
    assert _raw(app, []) == 403
    assert _raw(app, [(b"host", b"127.0.0.1"), (b"host", b"evil.example")]) == 403


def test_ftsim_serve_turns_the_guard_on(tmp_path, monkeypatch):
    monkeypatch.delenv("FTSIM_SIM_KEY", raising=False)
    seen = {}

    def serving(app, **kwargs):  # while `ftsim serve` runs (its world is closed once uvicorn returns)
        client = TestClient(app)
        seen["foreign"] = client.get("/_sim/clock", headers={"host": "attacker.example:8000"}).status_code
        seen["loopback"] = client.get("/_sim/clock", headers={"host": "127.0.0.1:8000"}).status_code

    monkeypatch.setattr("uvicorn.run", serving)
    monkeypatch.setattr("ftsim.api.cli.serve.preload_encodings", lambda backend: None)
    assert main(["serve", "--db", str(tmp_path / "s.db")]) == 0
    assert seen == {"foreign": 403, "loopback": 200}


@given(name=st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z][a-z0-9-]{0,10}){0,3}", fullmatch=True),
       port=st.none() | st.integers(0, 65535))
def test_a_name_that_is_not_localhost_never_passes(name, port):
    guard = HostGuard(lambda *a: None, bound_host="127.0.0.1")
    header = name if port is None else f"{name}:{port}"
    assert guard.allows(header) == (name == "localhost")
    assert host_name(header) == name


@pytest.mark.parametrize(("path", "kind"), [
    ("/_sim", "sim"), ("/_sim/", "sim"), ("/_sim/reset", "sim"), ("/_simx", None), ("//_sim", None), ("/x/_sim", None),
    ("/", "console"), ("/console", "console"), ("/console/", "console"), ("/console/jobs", "console"),
    ("/consolex", None), ("//console", None), ("/v1/files", None), ("/planning/estimate", None), ("/docs", None),
])
def test_the_guarded_paths_at_their_boundaries(path, kind):
    assert guarded_path(path) == kind


@given(path=st.text(alphabet="/abcdefghijklmnopqrstuvwxyz_", max_size=30))
def test_only_the_console_and_sim_paths_are_guarded(path):
    path = "/" + path
    kind = guarded_path(path)
    expected = ("sim" if path == "/_sim" or path.startswith("/_sim/") else
                "console" if path in ("/", "/console") or path.startswith("/console/") else None)
    assert kind == expected
