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
        for client in (self.fast, self.slow):
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
    file_id = json.loads(body)["id"]
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
])
def test_the_lane_takes_only_well_formed_hot_requests(method: str, path: str, query: bytes, taken: bool) -> None:
    """Three request shapes with plain query strings are the lane's; every other shape goes on to FastAPI."""
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
