"""Security and bad input: tenant isolation under fuzzed ids, hostile filenames, streamed upload limits with flat
memory, malformed multipart, huge and pathological JSON, python graders off by default, loopback-only serving."""

from __future__ import annotations

import asyncio
import os
import re
import tracemalloc
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.pricing.errors import UnknownModel
from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.files.files import Files
from ftsim.simulator.core.store import Store

ALICE = {"Authorization": "Bearer sk-alice-secret"}
BOB = {"Authorization": "Bearer sk-bob-secret"}
SENTINEL = "zzNOSUCHOBJECTzz"
FAST = settings(max_examples=int(os.environ.get("FTSIM_FUZZ_EXAMPLES", "25")), derandomize=True, deadline=None,
                database=None, suppress_health_check=list(HealthCheck))
CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def training(n: int = 12) -> bytes:
    """A small valid chat dataset."""
    line = '{"messages":[{"role":"user","content":"secret question %d"},{"role":"assistant","content":"secret %d"}]}\n'
    return "".join(line % (i, i) for i in range(n)).encode()


def assert_envelope(response: httpx.Response) -> dict:
    """The response is an error in exactly OpenAI's envelope; returns the error object."""
    assert response.status_code < 500, response.text[:300]
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


class World:
    """An in-process server holding Alice's file, job, tuned model, checkpoints and events."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.backend = Backend(store=Store(root / "ftsim.db"), clock=ManualClock())
        self.client = TestClient(create_app(self.backend))
        c = self.client
        self.file_id = c.post("/v1/files", headers=ALICE, files={"file": ("t.jsonl", training())},
                              data={"purpose": "fine-tune"}).json()["id"]
        job = c.post("/v1/fine_tuning/jobs", headers=ALICE,
                     json={"model": "gpt-4.1-mini-2025-04-14", "training_file": self.file_id, "suffix": "sec"}).json()
        self.job_id = job["id"]
        c.post("/_sim/clock/advance", json={"seconds": 86400})
        job = c.get(f"/v1/fine_tuning/jobs/{self.job_id}", headers=ALICE).json()
        assert job["status"] == "succeeded", job
        self.model = job["fine_tuned_model"]
        ckpts = c.get(f"/v1/fine_tuning/jobs/{self.job_id}/checkpoints", headers=ALICE).json()["data"]
        self.checkpoint = ckpts[-1]["fine_tuned_model_checkpoint"]
        self.event_id = c.get(f"/v1/fine_tuning/jobs/{self.job_id}/events", headers=ALICE).json()["data"][0]["id"]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One world for the module."""
    w = World(tmp_path_factory.mktemp("security"))
    yield w
    w.client.close()
    w.backend.close()


# (method, path template, json body template or None); {id} is the object id under test
ID_ROUTES = {
    "file": [("GET", "/v1/files/{id}", None), ("GET", "/v1/files/{id}/content", None),
             ("DELETE", "/v1/files/{id}", None)],
    "job": [("GET", "/v1/fine_tuning/jobs/{id}", None), ("GET", "/v1/fine_tuning/jobs/{id}/events", None),
            ("GET", "/v1/fine_tuning/jobs/{id}/checkpoints", None), ("POST", "/v1/fine_tuning/jobs/{id}/cancel", None),
            ("POST", "/v1/fine_tuning/jobs/{id}/pause", None), ("POST", "/v1/fine_tuning/jobs/{id}/resume", None),
            ("GET", "/_sim/fine_tuning/jobs/{id}/cost", None)],
    "model": [("GET", "/v1/models/{id}", None), ("DELETE", "/v1/models/{id}", None),
              ("POST", "/v1/chat/completions", {"model": "{id}", "messages": [{"role": "user", "content": "hi"}]})],
    "checkpoint": [("GET", "/v1/fine_tuning/checkpoints/{id}/permissions", None),
                   ("POST", "/v1/fine_tuning/checkpoints/{id}/permissions", {"project_ids": ["proj_x"]}),
                   ("POST", "/v1/chat/completions", {"model": "{id}", "messages": [{"role": "user", "content": "hi"}]})],
    "training_file": [("POST", "/v1/fine_tuning/jobs", {"model": "gpt-4.1-mini-2025-04-14", "training_file": "{id}"})],
}


def call(client: TestClient, method: str, path: str, body, object_id: str, headers: dict) -> httpx.Response:
    """One request with `object_id` in the path (percent-encoded) or the JSON body."""
    url = path.replace("{id}", quote(object_id, safe=""))
    json_body = None if body is None else {k: (object_id if v == "{id}" else v) for k, v in body.items()}
    return client.request(method, url, headers=headers, json=json_body)


def shape(response: httpx.Response, object_id: str) -> tuple:
    """What a caller can observe, with the id itself abstracted away."""
    err = assert_envelope(response)
    return (response.status_code, err["type"], err["code"], err["param"], err["message"].replace(object_id, "<ID>"))


def expected(world: World, kind: str, route: tuple) -> tuple:
    """The observable answer for an object that does not exist (Bob asking for a sentinel id)."""
    return shape(call(world.client, *route, SENTINEL, BOB), SENTINEL)


@pytest.mark.parametrize("kind", list(ID_ROUTES))
def test_another_tenants_object_looks_exactly_like_a_missing_one(world: World, kind: str) -> None:
    """Bob asking for Alice's object gets the very answer of a nonexistent object, and Alice's object is intact."""
    own = {"file": world.file_id, "job": world.job_id, "model": world.model, "checkpoint": world.checkpoint,
           "training_file": world.file_id}[kind]
    for route in ID_ROUTES[kind]:
        missing = expected(world, kind, route)
        assert missing[0] in (400, 404), (route, missing)
        assert shape(call(world.client, *route, own, BOB), own) == missing, route
    assert world.client.get(f"/v1/files/{world.file_id}", headers=ALICE).status_code == 200
    assert world.client.get(f"/v1/models/{world.model}", headers=ALICE).status_code == 200


# Printable ids: control characters in a URL path are the HTTP stack's business (they 404 as "Invalid URL").
FUZZ_ID = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"), min_size=1,
                  max_size=40).filter(lambda s: s.strip(".") != "" and s == s.strip())


@FAST
@given(object_id=FUZZ_ID, kind=st.sampled_from(list(ID_ROUTES)))
def test_fuzzed_ids_answer_like_a_missing_object(world: World, object_id: str, kind: str) -> None:
    """Random ids never crash a route and read exactly like any other missing object."""
    if kind in ("model", "checkpoint"):  # base models are public: a fuzzed id may name one
        try:
            world.backend.catalog.resolve(object_id)
        except UnknownModel:
            pass
        else:
            assume(False)
    for route in ID_ROUTES[kind]:
        template = expected(world, kind, route)
        response = call(world.client, *route, object_id, BOB)
        err = assert_envelope(response)
        got = (response.status_code, err["type"], err["code"], err["param"], err["message"])
        assert got == (*template[:4], template[4].replace("<ID>", object_id)), (route, got, template)


def test_list_cursors_do_not_leak_other_tenants(world: World) -> None:
    """`after` set to Alice's ids gives Bob the same (empty) page as an unknown cursor; lists never show her objects."""
    c = world.client
    for path, after in [("/v1/files", world.file_id), ("/v1/fine_tuning/jobs", world.job_id)]:
        assert c.get(path, headers=BOB, params={"after": after}).json()["data"] == \
            c.get(path, headers=BOB, params={"after": SENTINEL}).json()["data"]
        assert c.get(path, headers=BOB).json()["data"] == []
    bob_models = {m["id"] for m in c.get("/v1/models", headers=BOB).json()["data"]}
    assert world.model not in bob_models and not any(m.startswith("ft:") for m in bob_models)


# -- filenames ----------------------------------------------------------------------------------------------


def raw_upload(client: TestClient, filename: bytes, content: bytes, purpose: bytes = b"batch") -> httpx.Response:
    """A hand-made multipart upload, the filename bytes sent as they are (no client-side escaping)."""
    b = b"ftsimB0undary"
    body = (b"--" + b + b'\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n' + purpose + b"\r\n--" + b +
            b'\r\nContent-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + content + b"\r\n--" + b + b"--\r\n")
    return client.post("/v1/files", headers={**ALICE, "Content-Type": "multipart/form-data; boundary=" + b.decode()},
                       content=body)


def files_outside_store(world: World) -> list[Path]:
    """Every file under the world's folder that is neither the database nor a blob in the blob dir."""
    blob_dir = world.backend.store.blob_dir.resolve()
    out = []
    for path in world.root.rglob("*"):
        if path.is_file() and not path.name.startswith("ftsim.db") and blob_dir not in path.resolve().parents:
            out.append(path)
    return out


@pytest.mark.parametrize("name,stored", [
    (b"../../../../tmp/evil.jsonl", "evil.jsonl"),
    (b"..\\..\\windows\\evil.jsonl", "evil.jsonl"),
    (b"/etc/passwd", "passwd"),
    (b"a/b/../c.jsonl", "c.jsonl"),
    (b"tab\tbell\x07del\x7f.jsonl", "tabbelldel.jsonl"),
    (b"..", ".."),
])
def test_hostile_filenames_are_stored_as_plain_names(world: World, name: bytes, stored: str) -> None:
    """Path separators and control characters never reach the disk: the name is cleaned, the bytes go to the blob dir."""
    response = raw_upload(world.client, name, b"payload")
    assert response.status_code == 200, response.text
    obj = response.json()
    assert obj["filename"] == stored
    assert world.client.get(f"/v1/files/{obj['id']}/content", headers=ALICE).content == b"payload"
    assert files_outside_store(world) == []
    assert not Path("/tmp/evil.jsonl").exists()


@FAST
@given(name=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"\r\n'), max_size=80))
def test_fuzzed_filenames_are_safe(world: World, name: str) -> None:
    """Any filename: 200 with a clean base name, or a 400 envelope; never a 500, never a write outside the store."""
    response = raw_upload(world.client, name.encode(), b"x")
    if response.status_code != 200:
        assert response.status_code == 400 and assert_envelope(response)
        return
    stored = response.json()["filename"]
    assert "/" not in stored and "\\" not in stored and not CONTROL.search(stored) and 0 < len(stored) <= 255
    assert files_outside_store(world) == []


@pytest.mark.parametrize("name", [b"line\r\nX-Injected: 1", b'quote"d.jsonl', b"nul\x00.jsonl"])
def test_header_breaking_filenames_never_500(world: World, name: bytes) -> None:
    """Filenames that break the part header are refused or cleaned, never a 500."""
    response = raw_upload(world.client, name, b"x")
    if response.status_code == 200:
        assert not CONTROL.search(response.json()["filename"])
    else:
        assert response.status_code == 400 and assert_envelope(response)


# -- upload limits and memory ---------------------------------------------------------------------------------

CHUNK = b"\x00" * (64 * 1024)
BOUNDARY = "ftsimLimitB0undary"


def streamed_upload(app, total: int, *, content_length: bool) -> tuple[httpx.Response, int]:
    """Upload `total` bytes in 64 KiB chunks through the ASGI app; (response, bytes the server pulled)."""
    head = (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--{BOUNDARY}\r\n'
            'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            'Content-Type: application/octet-stream\r\n\r\n').encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    pulled = 0

    async def body():
        nonlocal pulled
        pulled += len(head)
        yield head
        sent = 0
        while sent < total:
            piece = CHUNK if total - sent >= len(CHUNK) else CHUNK[: total - sent]
            sent += len(piece)
            pulled += len(piece)
            yield piece
        pulled += len(tail)
        yield tail

    headers = {**ALICE, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    if content_length:
        headers["Content-Length"] = str(len(head) + total + len(tail))

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ftsim") as client:
            return await client.post("/v1/files", content=body(), headers=headers)

    return asyncio.run(go()), pulled


@pytest.fixture
def small_limit(monkeypatch: pytest.MonkeyPatch) -> int:
    """Shrink the file size limit to 256 KiB for the duration of a test."""
    limit = 256 * 1024
    monkeypatch.setattr("ftsim.api.http.handlers.MAX_FILE_BYTES", limit)
    monkeypatch.setitem(Files.create.__kwdefaults__, "limit", limit)
    return limit


def test_declared_oversize_upload_is_refused_unread(tmp_path: Path, small_limit: int) -> None:
    """A Content-Length over the limit answers 413 before the body is read."""
    app = create_app(Backend(store=Store(tmp_path / "db"), clock=ManualClock()))
    response, pulled = streamed_upload(app, 32 * 1024 * 1024, content_length=True)
    assert response.status_code == 413 and assert_envelope(response)
    assert pulled < 2 * 1024 * 1024


def test_chunked_oversize_upload_is_refused_while_streaming(tmp_path: Path, small_limit: int) -> None:
    """Without a Content-Length, the upload is cut off soon after it passes the limit, not after the whole body."""
    app = create_app(Backend(store=Store(tmp_path / "db"), clock=ManualClock()))
    response, pulled = streamed_upload(app, 32 * 1024 * 1024, content_length=False)
    assert response.status_code == 413 and assert_envelope(response)["code"] == "file_too_large"
    assert pulled < small_limit + 2 * 1024 * 1024, f"server read {pulled} bytes before refusing"


def test_oversize_upload_leaves_nothing_behind(tmp_path: Path, small_limit: int) -> None:
    """A refused upload leaves no file object and no spool on disk."""
    backend = Backend(store=Store(tmp_path / "db"), clock=ManualClock())
    app = create_app(backend)
    response, _ = streamed_upload(app, small_limit + 1, content_length=False)
    assert response.status_code == 413
    assert TestClient(app).get("/v1/files", headers=ALICE).json()["data"] == []
    assert [p for p in backend.store.blob_dir.rglob("*") if p.is_file()] == []


def test_large_streamed_upload_keeps_memory_flat(tmp_path: Path) -> None:
    """A 48 MiB upload streams to disk: the Python heap peak stays a small fraction of the file."""
    app = create_app(Backend(store=Store(tmp_path / "db"), clock=ManualClock()))
    total = 48 * 1024 * 1024
    tracemalloc.start()
    try:
        response, _ = streamed_upload(app, total, content_length=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert response.status_code == 200, response.text
    assert response.json()["bytes"] == total
    print(f"\n[upload 48 MiB] traced heap peak {peak / 2**20:.1f} MiB")
    assert peak < 12 * 1024 * 1024, f"heap peak {peak / 2**20:.1f} MiB for a 48 MiB upload"


# -- malformed bodies -----------------------------------------------------------------------------------------

MALFORMED = [
    ("multipart/form-data", b"--x\r\nno boundary declared\r\n"),
    ("multipart/form-data; boundary=abc", b"complete garbage with no boundary at all"),
    ("multipart/form-data; boundary=abc", (b'--abc\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"'
                                           b"\r\n\r\ntruncated without end")),
    ("multipart/form-data; boundary=abc", b"--abc\r\nNo-Disposition: x\r\n\r\nv\r\n--abc--\r\n"),
    ("multipart/form-data; boundary=abc", (b'--abc\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch'
                                           b"\r\n--abc--\r\n")),
    ("multipart/form-data; boundary=abc", (b'--abc\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"'
                                           b"\r\n\r\nx\r\n--abc--\r\n")),
    ("multipart/form-data; boundary=abc", b"".join(
        b'--abc\r\nContent-Disposition: form-data; name="file"; filename="a%d.jsonl"\r\n\r\nx\r\n' % i
        for i in range(3)) + b'--abc\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--abc--\r\n'),
    ("multipart/form-data; boundary=abc", b"".join(
        b'--abc\r\nContent-Disposition: form-data; name="f%d"\r\n\r\nx\r\n' % i for i in range(50)) + b"--abc--\r\n"),
    ("text/plain", b"purpose=batch"),
    ("application/json", b'{"purpose": "batch", "file": "abc"}'),
]


@pytest.mark.parametrize("content_type,body", MALFORMED)
def test_malformed_multipart_is_a_400_envelope(world: World, content_type: str, body: bytes) -> None:
    """Broken multipart bodies are refused with 400 in the envelope, never a 500."""
    response = world.client.post("/v1/files", headers={**ALICE, "Content-Type": content_type}, content=body)
    assert response.status_code == 400, response.text
    assert assert_envelope(response)["type"] == "invalid_request_error"


JSON_ROUTES = ["/v1/fine_tuning/jobs", "/_sim/clock/advance", "/v1/chat/completions",
               "/v1/fine_tuning/alpha/graders/run", "/v1/uploads"]


@pytest.mark.parametrize("path", JSON_ROUTES)
@pytest.mark.parametrize("body", [
    b'{"model": "gpt-4.1-mini-2025-04-14", "training_file": "' + b"x" * (8 * 1024 * 1024) + b'"}',
    b'{"metadata": {' + b",".join(b'"k%d": "%s"' % (i, b"v" * 64) for i in range(100_000)) + b"}}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"seconds": ' + b"9" * 5000 + b"}",
    b'{"seconds": 1e999, "x": NaN}',
    b"\xff\xfe\x00garbage",
    b"",
])
def test_huge_or_pathological_json_never_500(world: World, path: str, body: bytes) -> None:
    """Huge, deeply nested, overlong-number or undecodable JSON answers 400 or 413 in the envelope."""
    response = world.client.post(path, headers={**ALICE, "Content-Type": "application/json"}, content=body)
    assert response.status_code in (400, 413), (response.status_code, response.text[:300])
    assert_envelope(response)


# -- python graders and binding -------------------------------------------------------------------------------


def test_python_graders_are_off_by_default(world: World, tmp_path: Path) -> None:
    """A python grader is refused by a default server, and its code never runs."""
    assert SimConfig().python_graders is False and world.backend.config.python_graders is False
    marker = tmp_path / "pwned"
    grader = {"type": "python", "name": "p",
              "source": f"def grade(sample, item):\n    open({str(marker)!r}, 'w').write('x')\n    return 1.0\n"}
    for path, body in [("/v1/fine_tuning/alpha/graders/run", {"grader": grader, "model_sample": "hi"}),
                       ("/v1/fine_tuning/alpha/graders/validate", {"grader": grader})]:
        response = world.client.post(path, headers=ALICE, json=body)
        assert response.status_code == 400, response.text
        assert "disabled" in assert_envelope(response)["message"]
    assert not marker.exists()


def test_python_grader_refusal_names_a_real_flag(world: World) -> None:
    """The refusal tells the user how to enable python graders with a flag `ftsim serve` really has."""
    from ftsim.api.cli import build_parser

    grader = {"type": "python", "name": "p", "source": "def grade(sample, item):\n    return 1.0\n"}
    message = world.client.post("/v1/fine_tuning/alpha/graders/validate", headers=ALICE,
                                json={"grader": grader}).json()["error"]["message"]
    flags = re.findall(r"--[a-z][a-z0-9-]+", message)
    assert flags, message
    serve = build_parser()._subparsers._group_actions[0].choices["serve"]
    known = {opt for action in serve._actions for opt in action.option_strings}
    assert set(flags) <= known, f"{flags} not among serve's options"
    args = serve.parse_args(flags)
    assert args.enable_python_graders is True


def test_serve_binds_loopback_by_default(tmp_path: Path) -> None:
    """`ftsim serve` defaults to 127.0.0.1, says so, and listens on the loopback address only."""
    from ftsim.api.cli import build_parser
    from tests.reliability.server_proc import ServerProcess

    args = build_parser().parse_args(["serve"])
    assert args.host == "127.0.0.1"
    with ServerProcess(tmp_path / "db" / "ftsim.db") as server:
        banner = server.log.read_text()
        assert f"http://127.0.0.1:{server.port}/v1" in banner
        listening = _listening_addresses(server.port)
    if listening is not None:
        assert listening == {"127.0.0.1"}, listening


def _listening_addresses(port: int) -> set[str] | None:
    """IPv4/IPv6 addresses with a socket listening on `port` (from /proc/net; None when unavailable)."""
    found: set[str] = set()
    for table, v6 in (("/proc/net/tcp", False), ("/proc/net/tcp6", True)):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            return None
        for line in lines:
            fields = line.split()
            local, state = fields[1], fields[3]
            address, hexport = local.split(":")
            if state != "0A" or int(hexport, 16) != port:  # 0A = LISTEN
                continue
            if v6:
                found.add("::" if set(address) == {"0"} else address)
            else:
                found.add(".".join(str(int(address[i:i + 2], 16)) for i in (6, 4, 2, 0)))
    return found
