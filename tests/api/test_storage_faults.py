"""Storage faults answer 503 and lose nothing; every 500 carries x-request-id on a kept-alive connection (issue 13,
defects 10 and 6). The full-disk and start-up cases on a real tmpfs are in tests/reliability/test_storage_faults.py.
"""

from __future__ import annotations

import logging
import os
import socket
import sqlite3
import threading

import pytest
from starlette.testclient import TestClient

from ftsim.api.cli import main
from ftsim.api.http.app import create_app
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import StorageFault, Store

AUTH = {"Authorization": "Bearer sk-disk"}
LINE = b'{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'


@pytest.fixture
def world(tmp_path):
    backend = Backend(store=Store(tmp_path / "ftsim.db"), clock=ManualClock())
    client = TestClient(create_app(backend), raise_server_exceptions=False)
    yield backend, client
    backend.close()


def upload(client, content=LINE * 20):
    return client.post("/v1/files", headers=AUTH, files={"file": ("t.jsonl", content)}, data={"purpose": "fine-tune"})


def assert_503(resp):
    assert resp.status_code == 503, resp.text
    error = resp.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == "server_error"
    assert resp.headers["x-request-id"].startswith("req_")


def _fill_database(backend):
    """SQLITE_FULL from now on: the database may not grow by a single page (the real error, from SQLite)."""
    store = backend.store
    store._conn.execute(f"PRAGMA max_page_count = {store._conn.execute('PRAGMA page_count').fetchone()[0]}")
    for pad in (100, 1):  # then fill the free room of the last pages, big rows first, then crumbs
        for i in range(10_000):
            try:
                store.put("filler", "t", f"f{pad}-{i}", {"p": "x" * pad})
            except StorageFault:
                break
        else:
            raise AssertionError("the database never filled up")


def test_a_full_database_answers_503_loses_nothing_and_still_deletes(world, caplog):
    backend, client = world
    kept = [upload(client).json()["id"] for _ in range(3)]
    _fill_database(backend)
    with caplog.at_level(logging.ERROR, logger="ftsim"):
        for _ in range(3):
            assert_503(upload(client, LINE * 400))
    assert any("storage fault" in r.getMessage() and "full" in r.getMessage() for r in caplog.records)
    assert [f["id"] for f in client.get("/v1/files", headers=AUTH).json()["data"]] == kept[::-1]
    # deleting frees space through the API
    assert client.delete(f"/v1/files/{kept[0]}", headers=AUTH).status_code == 200
    backend.store._conn.execute("PRAGMA max_page_count = 1073741823")  # the disk has room again
    assert upload(client).status_code == 200
    assert len(client.get("/v1/files", headers=AUTH).json()["data"]) == 3


def test_a_failed_commit_leaves_the_store_usable(tmp_path):
    store = Store(tmp_path / "s.db")
    store.put("file", "t", "a", {"x": 1})
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count = {pages}")
    with pytest.raises(StorageFault, match="full"):
        with store.transaction():
            for i in range(200):
                store.put("file", "t", f"f{i}", {"pad": "x" * 2000})
    assert not store._conn.in_transaction and store.count("file") == 1
    store._conn.execute("PRAGMA max_page_count = 1073741823")
    with store.transaction():
        store.put("file", "t", "b", {"x": 2})
    assert store.count("file") == 2
    store.close()


def test_a_deleted_database_refuses_writes_with_503(world, tmp_path):
    backend, client = world
    first = upload(client).json()["id"]
    for suffix in ("", "-wal", "-shm"):
        (tmp_path / f"ftsim.db{suffix}").unlink(missing_ok=True)
    assert_503(upload(client))
    assert "deleted or replaced" in upload(client).json()["error"]["message"]
    assert not (tmp_path / "ftsim.db").exists()  # nothing was written to a new file either
    assert first


def test_a_replaced_database_refuses_writes(tmp_path):
    store = Store(tmp_path / "s.db")
    os.replace(tmp_path / "s.db", tmp_path / "old.db")
    (tmp_path / "s.db").write_bytes(b"")
    with pytest.raises(StorageFault, match="deleted or replaced"):
        store.put("file", "t", "a", {})
    with pytest.raises(StorageFault):  # and it stays refused
        with store.transaction():
            pass
    store.close()


def test_corruption_met_while_running_refuses_every_later_write(tmp_path):
    store = Store(tmp_path / "s.db")
    real = store._conn._conn

    class Corrupt:
        def execute(self, *args):
            raise sqlite3.DatabaseError("database disk image is malformed")

    store._conn._conn = Corrupt()
    with pytest.raises(StorageFault, match="corrupt"):
        store.get("file", "t", "a")
    store._conn._conn = real
    with pytest.raises(StorageFault, match="corrupt"):
        store.put("file", "t", "a", {})
    assert store.count("file") == 0
    store.close()


def _corrupt(path):
    """Overwrite the middle of every page after the first with garbage (the header stays valid)."""
    data = bytearray(path.read_bytes())
    for start in range(4096 + 1000, len(data), 4096):
        data[start:start + 200] = b"\xa5" * 200
    path.write_bytes(bytes(data))


def test_serve_refuses_a_corrupt_database_in_one_line(tmp_path, capsys):
    db = tmp_path / "c.db"
    store = Store(db)
    for i in range(300):
        store.put("file", "t", f"f{i}", {"pad": "x" * 300})
    store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    _corrupt(db)
    with pytest.raises(StorageFault, match="corrupt"):
        Store(db)
    assert main(["serve", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and err.count("\n") == 1 and "corrupt" in err


def test_serve_refuses_a_read_only_database_in_one_line(tmp_path, monkeypatch, capsys):
    # SQLite opens an immutable (chattr +i) or read-only file read-only; the write probe finds out at start
    db = tmp_path / "ro.db"
    Store(db).close()
    connect = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda path, **kw: connect(f"file:{path}?mode=ro", uri=True, **kw))
    assert main(["serve", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and err.count("\n") == 1 and "read-only" in err


# -- every 500: x-request-id, and the connection kept alive (issue 13, defect 6, last sentence) ------------------------

def _two_requests_on_one_connection(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-disk\r\n\r\n".encode()
        answers = []
        for _ in range(2):
            try:
                sock.sendall(request)
                data = b""
                while b"\r\n\r\n" not in data:
                    data += _received(sock)
                head, _, body = data.partition(b"\r\n\r\n")
                length = int(next(l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")).split(b":")[1])
                while len(body) < length:
                    body += _received(sock)
            except ConnectionError:  # the server closed the connection: no second answer (the caller's assert says so)
                answers.append("connection closed")
                break
            answers.append(head.decode())
        return answers

def _served_twice(backend: Backend, path: str) -> list[str]:
    """The heads of two requests for `path` on one keep-alive connection to a real uvicorn serving `backend`
    (closed after)."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(create_app(backend), host="127.0.0.1", port=0, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        return _two_requests_on_one_connection(port, path)
    finally:
        server.should_exit = True
        thread.join(10)
        backend.close()



def _received(sock):
    """The next bytes from `sock`; ConnectionError once the server has closed it (recv would give b"" forever)."""
    data = sock.recv(65536)
    if not data:
        raise ConnectionResetError("the server closed the connection")
    return data


@pytest.mark.parametrize("failure, status", [(RuntimeError("a bug"), 500), (OSError(28, "No space left on device"), 503)])
@pytest.mark.parametrize("path", ["/v1/files", "/v1/fine_tuning/jobs", "/v1/models"])
def test_unexpected_errors_carry_a_request_id_and_keep_the_connection(monkeypatch, path, failure, status):
    backend = Backend()

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr(backend.store, "page_text", broken)
    monkeypatch.setattr(backend.store, "page", broken)
    monkeypatch.setattr(backend.models, "list", broken)
    answers = _served_twice(backend, path)
    assert len(answers) == 2, answers
    for head in answers:  # the second answer proves the connection stayed open
        assert head.startswith(f"HTTP/1.1 {status}"), head
        assert "x-request-id: req_" in head.lower()
        assert "connection: close" not in head.lower()


@pytest.mark.parametrize("failure, status", [(RuntimeError("a bug"), 500), (OSError(28, "No space left on device"), 503)])
def test_errors_in_a_middleware_outside_the_routes_carry_a_request_id_and_keep_the_connection(monkeypatch, failure,
                                                                                              status):
    """An error raised by Azure's dialect itself (it resolves the account before any route runs) is answered like
    one raised by a route: the envelope, x-request-id, the connection kept. With FastAPI's own server-error
    middleware gone (api/http/routed.py), nothing outside the app's ErrorMiddleware answered it: uvicorn's plain
    500 with `connection: close`."""
    backend = Backend()

    def broken(*args, **kwargs):
        raise failure

    monkeypatch.setattr("ftsim.api.http.azure.azure_tenant", broken)
    answers = _served_twice(backend, "/openai/v1/files")
    assert len(answers) == 2, answers
    for head in answers:
        assert head.startswith(f"HTTP/1.1 {status}"), head
        assert "x-request-id: req_" in head.lower() and "application/json" in head.lower()
        assert "connection: close" not in head.lower()


def test_a_storage_fault_recording_a_deployments_usage_is_a_503_with_a_request_id(monkeypatch):
    """Azure's dialect records a deployment call's usage once the chat route has answered: a full disk there is
    the 503 envelope with x-request-id, not an exception raised into the in-process client (nor a bare 500)."""
    from ftsim.api.testing.simulator import Simulator
    from ftsim.simulator.inference.deployments import Deployments

    endpoint = "https://contoso.openai.azure.com"
    with Simulator() as sim:
        client = sim.azure_client(endpoint=endpoint, api_key="az-full")
        rows = b"".join(b'{"messages": [{"role": "user", "content": "q %d"}, {"role": "assistant", "content": "a"}]}\n'
                        % i for i in range(12))
        training = client.files.create(file=("t.jsonl", rows), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(model="gpt-4.1-mini-2025-04-14", training_file=training)
        model = sim.run_until_complete(job.id).fine_tuned_model
        arm = TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-full"})
        deployment = {"sku": {"name": "GlobalStandard", "capacity": 1},
                      "properties": {"model": {"format": "OpenAI", "name": model, "version": "1"}}}
        assert arm.put("/subscriptions/s/resourceGroups/g/providers/Microsoft.CognitiveServices/accounts/contoso/"
                       "deployments/live?api-version=2024-10-21", json=deployment).status_code == 201
        sim.advance(hours=1)

        def full(*args, **kwargs):
            raise StorageFault("the disk holding the database is full (database or disk is full)")

        monkeypatch.setattr(Deployments, "record_usage", full)
        http = TestClient(sim.app, base_url=endpoint, headers={"api-key": "az-full"})
        resp = http.post("/openai/deployments/live/chat/completions?api-version=2024-10-21",
                         json={"messages": [{"role": "user", "content": "hi"}]})
        assert_503(resp)


def test_serve_stops_in_one_line_when_the_disk_fills_while_the_world_is_set_up(tmp_path, monkeypatch, capsys):
    from ftsim.simulator.core import backend as backend_module

    def full(*args, **kwargs):
        raise StorageFault("the disk holding the database is full (database or disk is full)")

    monkeypatch.setattr(backend_module.Backend, "__init__", full)
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: pytest.fail("must not serve"))
    assert main(["serve", "--db", str(tmp_path / "s.db")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ftsim: ") and err.count("\n") == 1 and "full" in err
