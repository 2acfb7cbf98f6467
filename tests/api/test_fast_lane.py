"""The fast lane answers exactly what FastAPI would: two twin worlds, one app with the lane and one without.

Every request goes to both worlds (same seed, same manual clock, same history), and the answers must agree byte
for byte: status, body and headers (all but the processing time). Other tests check that the lane really takes the
requests it claims, so that the comparison is not between FastAPI and itself.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.fast_lane import FastLane, _page_query, _route
from ftsim.simulator.core.backend import Backend

ALICE = {"Authorization": "Bearer sk-alice"}
BOB = {"Authorization": "Bearer sk-bob"}
BOUNDARY = "laneB0undary"
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def training(n: int = 10) -> bytes:
    """A small valid chat dataset."""
    line = '{"messages":[{"role":"user","content":"q%d"},{"role":"assistant","content":"a%d"}]}\n'
    return "".join(line % (i, i) for i in range(n)).encode()


def multipart(fields: dict[str, str], filename: str | None, content: bytes) -> bytes:
    """A multipart body with text fields and an optional `file` part."""
    out = b""
    for name, value in fields.items():
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    if filename is not None:
        out += (f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n").encode() + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


class Twins:
    """Two worlds fed the same requests: `fast` has the lane, `slow` sends everything through FastAPI."""

    def __init__(self) -> None:
        self.backends = [Backend(), Backend()]
        self.fast = TestClient(create_app(self.backends[0]))
        self.slow = TestClient(create_app(self.backends[1], fast_lane=False))

    def both(self, method: str, url: str, **kwargs) -> tuple:
        """Send to both worlds; the two answers as (status, body, headers without the timing)."""
        answers = []
        stream = kwargs.get("content")
        for client in (self.fast, self.slow):
            if callable(stream):  # a stream: a fresh one for each world
                kwargs = {**kwargs, "content": stream()}
            response = client.request(method, url, **kwargs)
            headers = {k: v for k, v in response.headers.items() if k != "openai-processing-ms"}
            answers.append((response.status_code, response.content, headers))
        return answers[0], answers[1]

    def same(self, method: str, url: str, **kwargs) -> tuple:
        """Send to both worlds and check they answer alike; the answer."""
        fast, slow = self.both(method, url, **kwargs)
        assert fast == slow, f"{method} {url}: lane {fast[:2]} vs FastAPI {slow[:2]}"
        return fast

    def close(self) -> None:
        for backend in self.backends:
            backend.close()


@pytest.fixture(scope="module")
def twins():
    """Twin worlds, each with a file and one job run to completion (Alice's)."""
    t = Twins()
    status, body, _ = t.same("POST", "/v1/files", headers={**ALICE, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
                             content=multipart({"purpose": "fine-tune"}, "train.jsonl", training()))
    assert status == 200
    file_id = t.file_id = json.loads(body)["id"]
    status, body, _ = t.same("POST", "/v1/fine_tuning/jobs", headers=ALICE,
                             json={"model": "gpt-4.1-mini-2025-04-14", "training_file": file_id})
    assert status == 200
    t.job_id = json.loads(body)["id"]
    t.same("POST", "/_sim/clock/advance", json={"seconds": 86400})
    yield t
    t.close()


# -- the lane takes what it claims, and nothing else ----------------------------------------------------------------


def scope(method: str, path: str, query: bytes = b"", root_path: str = "") -> dict:
    """A minimal HTTP scope."""
    return {"type": "http", "method": method, "path": path, "query_string": query, "root_path": root_path}


@pytest.mark.parametrize("method,path,query,taken", [
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc", b"", True),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc", b"anything=goes", True),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"", True),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"after=ftevent-1&limit=5", True),
    ("POST", "/v1/files", b"", True),
    ("POST", "/v1/fine_tuning/jobs", b"", True),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"limit=abc", False),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"limit=1&limit=2", False),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"after=", False),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/events", b"order=asc", False),
    ("GET", "/v1/fine_tuning/jobs/ftjob-abc/checkpoints", b"", False),
    ("GET", "/v1/fine_tuning/jobs/", b"", False),
    ("GET", "/v1/fine_tuning/jobs", b"", False),
    ("POST", "/v1/fine_tuning/jobs/ftjob-abc", b"", False),
    ("GET", "/v1/files", b"", False),
    ("POST", "/v1/files/", b"", False),
    ("POST", "/v1/fine_tuning/jobs/", b"", False),
    ("PUT", "/v1/fine_tuning/jobs", b"", False),
])
def test_the_lane_takes_only_well_formed_hot_requests(method: str, path: str, query: bytes, taken: bool) -> None:
    """Four request shapes with plain query strings are the lane's; every other shape goes on to FastAPI."""
    assert (_route(scope(method, path, query)) is not None) is taken


def test_a_root_path_leaves_everything_to_fastapi() -> None:
    """Behind a proxy prefix the lane steps aside, since FastAPI strips the prefix itself."""
    assert _route(scope("GET", "/v1/fine_tuning/jobs/x", root_path="/api")) is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_page_query_reads_what_starlette_reads(after: str, limit: str) -> None:
    """When the lane accepts a query string, it reads the same `after` and `limit` Starlette would."""
    from urllib.parse import urlencode

    from starlette.datastructures import QueryParams

    raw = urlencode({"after": after, "limit": limit}).encode()
    parsed = _page_query(raw)
    if parsed is None:
        return
    params = QueryParams(raw.decode("latin-1"))
    assert parsed["after"] == params["after"]
    assert parsed["limit"] == int(params["limit"])


def test_lane_answers_without_reaching_fastapi(twins: Twins) -> None:
    """A hot request is answered by the lane itself: the app behind it is never called."""
    calls = []

    async def behind(scope, receive, send):
        calls.append(scope["path"])

    app = twins.fast.app
    lane = FastLane(behind)
    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    path = f"/v1/fine_tuning/jobs/{twins.job_id}"
    request_scope = {**scope("GET", path), "headers": [(b"authorization", b"Bearer sk-alice")], "app": app}
    asyncio.run(lane(request_scope, receive, send))
    assert calls == []
    assert sent[0]["status"] == 200 and json.loads(sent[1]["body"])["id"] == twins.job_id
    asyncio.run(lane({**scope("GET", "/v1/models"), "headers": [], "app": app}, receive, send))
    assert calls == ["/v1/models"]


# -- both doors give the same answers ----------------------------------------------------------------------------


AUTH = st.sampled_from([ALICE, BOB, {}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
QUERY_VALUE = st.one_of(st.text(max_size=12), st.integers(-5, 200).map(str), st.just(""))


@SETTINGS
@given(data=st.data())
def test_polling_answers_the_same_through_both_doors(twins: Twins, data: st.DataObject) -> None:
    """Retrieve and list events, with fuzzed ids, keys and query strings: the same status, body and headers."""
    job = data.draw(st.one_of(st.just(twins.job_id), st.text(st.characters(blacklist_categories=("Cs", "Cc"),
                                                                          blacklist_characters="/?#%"),
                                                             min_size=1, max_size=20)))
    suffix = data.draw(st.sampled_from(["", "/events"]))
    params = data.draw(st.lists(st.tuples(st.sampled_from(["after", "limit", "order", "x"]), QUERY_VALUE),
                                max_size=3))
    headers = data.draw(AUTH)
    twins.same("GET", f"/v1/fine_tuning/jobs/{job}{suffix}", params=params, headers=headers)


def test_event_pages_agree_through_both_doors(twins: Twins) -> None:
    """Paging a job's events with `after` and `limit` gives the same pages through both doors."""
    status, body, _ = twins.same("GET", f"/v1/fine_tuning/jobs/{twins.job_id}/events", params={"limit": 3},
                                 headers=ALICE)
    page = json.loads(body)
    assert status == 200 and len(page["data"]) == 3 and page["has_more"]
    twins.same("GET", f"/v1/fine_tuning/jobs/{twins.job_id}/events",
               params={"limit": 2, "after": page["data"][-1]["id"]}, headers=ALICE)


FIELD = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters='"\\'), max_size=12)


@SETTINGS
@given(data=st.data())
def test_uploads_answer_the_same_through_both_doors(twins: Twins, data: st.DataObject) -> None:
    """Uploads with fuzzed purposes, names, expiries and contents (well formed or not) agree through both doors."""
    fields = {"purpose": data.draw(st.one_of(st.sampled_from(["fine-tune", "batch", "vision", ""]), FIELD))}
    if data.draw(st.booleans()):
        fields["expires_after[seconds]"] = data.draw(st.one_of(st.integers(0, 3_000_000).map(str), FIELD))
    filename = data.draw(st.one_of(st.none(), st.sampled_from(["a.jsonl", "b.txt", "../x.jsonl"]), FIELD))
    body = multipart(fields, filename, data.draw(st.binary(max_size=300)))
    if data.draw(st.booleans()):
        body = body[: data.draw(st.integers(0, len(body)))]  # cut short: malformed
    content_type = data.draw(st.sampled_from([f"multipart/form-data; boundary={BOUNDARY}", "multipart/form-data",
                                              "application/json"]))
    status, _, _ = twins.same("POST", "/v1/files", content=body,
                              headers={**data.draw(AUTH), "Content-Type": content_type})
    assert status in (200, 400, 401)


# -- job creation: the lane reads the body, and leaves FastAPI every body it does not take -------------------------


def _asgi(app, request_scope: dict, chunks: list[bytes]) -> list[dict]:
    """Run one request through an ASGI app, its body in `chunks`; the messages sent back."""
    incoming = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run(app(request_scope, receive, send))
    return sent


@pytest.fixture(scope="module")
def solo():
    """One world of its own, with a file (the lane is called directly here: the twins must stay alike)."""
    backend = Backend()
    client = TestClient(create_app(backend))
    created = client.post("/v1/files", headers=ALICE, files={"file": ("t.jsonl", training())},
                          data={"purpose": "fine-tune"})
    assert created.status_code == 200
    client.file_id = created.json()["id"]
    yield client
    backend.close()


def _job_scope(app, body: bytes, content_type: bytes = b"application/json", length: bool = True) -> dict:
    headers = [(b"authorization", b"Bearer sk-alice"), (b"content-type", content_type)]
    if length:
        headers.append((b"content-length", str(len(body)).encode()))
    return {**scope("POST", "/v1/fine_tuning/jobs"), "headers": headers, "app": app}


@pytest.mark.parametrize("body,content_type,length,taken", [
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s"}', b"application/json", True, True),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s"}', b"application/json; charset=utf-8", True, True),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s"}', b"text/plain", True, False),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s"}', b"application/json", False, False),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s", "x": 1}', b"application/json", True, False),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s", "seed": NaN}', b"application/json", True, False),
    ('{"model": "gpt-4.1-mini-2025-04-14"}', b"application/json", True, False),
    ('["%s"]', b"application/json", True, False),
    ('{"model": "gpt-4.1-mini-2025-04-14", "training_file": "%s"', b"application/json", True, False),
])
def test_job_creation_is_the_lanes_only_for_a_small_valid_json_body(solo, body: str, content_type: bytes,
                                                                    length: bool, taken: bool) -> None:
    """A valid job in declared JSON of known length is answered by the lane; any other body reaches the app
    behind it byte for byte, however it was chunked, for FastAPI to answer."""
    seen: list[bytes] = []

    async def behind(scope, receive, send):
        data = b""
        while True:
            message = await receive()
            data += message.get("body", b"")
            if not message.get("more_body"):
                break
        seen.append(data)

    raw = (body % solo.file_id if "%s" in body else body).encode()
    chunks = [raw[:7], raw[7:20], raw[20:]]
    sent = _asgi(FastLane(behind), _job_scope(solo.app, raw, content_type, length), chunks)
    if taken:
        assert seen == [] and sent[0]["status"] == 200 and json.loads(sent[1]["body"])["object"] == "fine_tuning.job"
    else:
        assert seen == [raw] and sent == []


def test_job_creation_with_a_body_past_the_lanes_size_goes_to_fastapi(solo) -> None:
    """A body declared larger than the lane reads is left unread for FastAPI (its own limit is far larger)."""
    from ftsim.api.http.fast_lane import LANE_BODY_BYTES

    seen = []

    async def behind(scope, receive, send):
        seen.append((await receive())["body"][:1])

    raw = b"{" + b" " * LANE_BODY_BYTES + b"}"
    _asgi(FastLane(behind), _job_scope(solo.app, raw), [raw])
    assert seen == [b"{"]


JSON_VALUE = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=False)
                          | st.text(max_size=8), lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
JOB_FIELDS = {"validation_file": st.one_of(st.none(), st.just("file-nope"), st.integers()),
              "method": JSON_VALUE, "hyperparameters": st.one_of(JSON_VALUE, st.fixed_dictionaries(
                  {"n_epochs": st.one_of(st.integers(-1, 60), st.just("auto"), JSON_VALUE)})),
              "suffix": st.one_of(st.text(max_size=70), JSON_VALUE), "seed": JSON_VALUE,
              "metadata": st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3), JSON_VALUE),
              "integrations": JSON_VALUE, "surprise": JSON_VALUE}


@SETTINGS
@given(data=st.data())
def test_job_creation_answers_the_same_through_both_doors(twins: Twins, data: st.DataObject) -> None:
    """Job bodies, valid or not (fuzzed fields, types, extra keys, broken JSON, other content types, chunked
    bodies of unknown length), keys valid or not: the same status, body and headers, and the same world after."""
    job: dict = {}
    if data.draw(st.booleans()) or data.draw(st.booleans()):
        job["model"] = data.draw(st.one_of(st.sampled_from(["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18",
                                                              "nope"]), JSON_VALUE))
    if data.draw(st.booleans()) or data.draw(st.booleans()):
        job["training_file"] = data.draw(st.one_of(st.just(twins.file_id), st.just("file-nope"), JSON_VALUE))
    for name in data.draw(st.lists(st.sampled_from(sorted(JOB_FIELDS)), max_size=3, unique=True)):
        job[name] = data.draw(JOB_FIELDS[name])
    raw = json.dumps(job).encode()
    if data.draw(st.integers(0, 9)) == 0:
        raw = raw[: data.draw(st.integers(0, len(raw)))]  # cut short: not JSON
    content_type = data.draw(st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                              "application/merge-patch+json", None]))
    headers = {**data.draw(AUTH), **({"Content-Type": content_type} if content_type else {})}
    if data.draw(st.integers(0, 4)) == 0:  # chunked, no content-length: the lane cannot know the size up front
        status, _, _ = twins.same("POST", "/v1/fine_tuning/jobs", content=lambda: iter([raw[:5], raw[5:]]),
                                  headers=headers)
    else:
        status, _, _ = twins.same("POST", "/v1/fine_tuning/jobs", content=raw, headers=headers)
    assert status in (200, 400, 401, 404, 413, 429)
    twins.same("GET", "/v1/fine_tuning/jobs", params={"limit": 100}, headers=ALICE)


AZURE_AUTH = st.sampled_from([{"api-key": "az-lane"}, {"Authorization": "Bearer az-lane"}, {"api-key": "az-other"}, {}])
AZURE_PATHS = ["/openai/v1/fine_tuning/jobs", "/openai/fine_tuning/jobs?api-version=2025-04-01-preview"]


@SETTINGS
@given(data=st.data())
def test_azure_job_creation_answers_the_same_through_both_doors(twins: Twins, data: st.DataObject) -> None:
    """Azure's data plane reaches the same create route (its dialect takes `trainingType` out of the body first):
    with the lane or without it, the same status, body and headers, byte-identical, and the same world after."""
    if not hasattr(twins, "azure_file_id"):
        status, body, _ = twins.same("POST", "/openai/v1/files", headers={
            "api-key": "az-lane", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
            content=multipart({"purpose": "fine-tune"}, "train.jsonl", training()))
        assert status == 201
        twins.azure_file_id = json.loads(body)["id"]
    valid = data.draw(st.booleans())  # half of them a job Azure creates (bar its trainingType), for the lane to take
    job: dict = {"model": "gpt-4.1-mini-2025-04-14", "training_file": twins.azure_file_id} if valid else {
        "model": data.draw(st.sampled_from(["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18", "nope"])),
        "training_file": data.draw(st.sampled_from([twins.azure_file_id, twins.file_id, "file-nope"]))}
    if data.draw(st.booleans()):
        job["trainingType"] = data.draw(st.one_of(st.sampled_from(["Standard", "globalstandard", "developerTier"]),
                                                  st.sampled_from(["Premium", ""]), JSON_VALUE))
    if not valid:
        for name in data.draw(st.lists(st.sampled_from(sorted(JOB_FIELDS)), max_size=2, unique=True)):
            job[name] = data.draw(JOB_FIELDS[name])
    raw = json.dumps(job).encode()
    if not valid and data.draw(st.integers(0, 4)) == 0:
        raw = raw[: data.draw(st.integers(0, len(raw)))]  # cut short: not JSON
    content_type = "application/json" if valid else data.draw(st.sampled_from(
        ["application/json", "application/json; charset=utf-8", "text/plain", None]))
    auth = {"api-key": "az-lane"} if valid else data.draw(AZURE_AUTH)
    headers = {**auth, **({"Content-Type": content_type} if content_type else {})}
    path = data.draw(st.sampled_from(AZURE_PATHS))
    if data.draw(st.integers(0, 4)) == 0:  # chunked, no content-length
        status, _, _ = twins.same("POST", path, content=lambda: iter([raw[:5], raw[5:]]), headers=headers)
    else:
        status, _, _ = twins.same("POST", path, content=raw, headers=headers)
    assert status in (201, 400, 401, 404, 429)
    twins.same("GET", "/openai/v1/fine_tuning/jobs", params={"limit": 100}, headers={"api-key": "az-lane"})
    if status == 201:  # the job runs to its end: the next ones are not refused for the simultaneous-job limit
        twins.same("POST", "/_sim/clock/advance", json={"seconds": 86400})
