"""Hostile JSON bodies on every route that reads one, OpenAI's and Azure's: never a 5xx, and one tenant's body never
reaches another tenant's requests.

What Python's `json` reads but JSON is not (NaN, Infinity, 1e400) and nesting past `MAX_DEPTH` (up to 10^5
levels) are answered as unparseable bodies: 400 with the live "We could not parse the JSON body" message, in
OpenAI's envelope on /v1 and Azure's on /openai.
"""

from __future__ import annotations

import json

import pytest

from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.http.app import create_app
from ftsim.api.http.errors import BAD_JSON
from ftsim.api.http.json_body import MAX_DEPTH
from ftsim.simulator.core.backend import Backend

AUTH = {"Authorization": "Bearer sk-hostile", "content-type": "application/json"}
AZURE = {"api-key": "az-hostile", "content-type": "application/json"}
ARM = ("/subscriptions/s/resourceGroups/r/providers/Microsoft.CognitiveServices/accounts/a/deployments/d"
       "?api-version=2024-10-21")
_APP = create_app(Backend())

# (path, a valid body the hostile value is put into, the key path it goes to)
_ROUTES = [
    ("/v1/fine_tuning/jobs", {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x"}, ("metadata",)),
    ("/v1/fine_tuning/jobs", {"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x"},
     ("hyperparameters", "learning_rate_multiplier")),
    ("/v1/uploads", {"filename": "a.jsonl", "purpose": "fine-tune", "bytes": 1, "mime_type": "text/jsonl"}, ("bytes",)),
    ("/v1/uploads/upload_x/complete", {"part_ids": []}, ("md5",)),
    ("/v1/fine_tuning/checkpoints/ft:x:y/permissions", {"project_ids": []}, ("project_ids",)),
    ("/v1/chat/completions", {"model": "gpt-4o-mini-2024-07-18", "messages": [{"role": "user", "content": "x"}]},
     ("temperature",)),
    ("/v1/chat/completions", {"model": "gpt-4o-mini-2024-07-18", "messages": [{"role": "user", "content": "x"}]},
     ("response_format",)),
    ("/v1/responses", {"model": "gpt-4o-mini-2024-07-18", "input": "x"}, ("text", "format", "schema")),
    ("/v1/fine_tuning/alpha/graders/validate", {"grader": {}}, ("grader", "range")),
    ("/v1/fine_tuning/alpha/graders/run", {"grader": {}, "model_sample": "x"}, ("item",)),
    ("/planning/estimate", {"model": "gpt-4o-mini-2024-07-18", "examples": []}, ("hours",)),
    ("/_sim/clock/advance", {"seconds": 1}, ("seconds",)),
    ("/_sim/faults", {}, ("probability",)),
    ("/openai/v1/fine_tuning/jobs", {"model": "gpt-4.1-mini-2025-04-14", "training_file": "file-x"}, ("seed",)),
    ("/openai/fine_tuning/jobs?api-version=2025-04-01-preview", {"model": "gpt-4.1-mini-2025-04-14"}, ("method",)),
    ("/openai/v1/chat/completions", {"model": "d", "messages": []}, ("temperature",)),
    ("/openai/deployments/d/chat/completions?api-version=2024-10-21", {"messages": []}, ("stream_options",)),
    ("/openai/v1/uploads", {"filename": "a.jsonl", "purpose": "fine-tune", "mime_type": "text/jsonl"}, ("bytes",)),
]
_NOT_JSON = st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b"[NaN]", b'{"a": Infinity}'])
_DEEP = st.integers(min_value=MAX_DEPTH + 1, max_value=100_000).map(lambda n: b"[" * n + b"]" * n)


def _body_with(base: dict, keys: tuple[str, ...], raw: bytes) -> bytes:
    """`base` as JSON with `raw` (any bytes) as the value at `keys`."""
    marker = "\x00hostile\x00"
    doc: dict = json.loads(json.dumps(base))
    node = doc
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = marker
    return json.dumps(doc).encode().replace(json.dumps(marker).encode(), raw)


def _assert_unparseable(response, path: str) -> None:
    assert response.status_code == 400, (path, response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["message"] == BAD_JSON, (path, error)
    if path.startswith("/openai"):  # Azure's envelope: a string code, no OpenAI `type`
        assert isinstance(error["code"], str) and error["code"]
    else:
        assert set(error) == {"message", "type", "param", "code"}


@settings(max_examples=120, deadline=None)
@given(route=st.sampled_from(_ROUTES), raw=_NOT_JSON | _DEEP)
def test_non_json_numbers_and_deep_nesting_are_unparseable_bodies(route, raw: bytes) -> None:
    """NaN, infinities and bodies nested past MAX_DEPTH (to 10^5 levels): 400 "could not parse", never a 500."""
    path, base, keys = route
    headers = AZURE if path.startswith("/openai") else AUTH
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post(path, content=_body_with(base, keys, raw), headers=headers)
    _assert_unparseable(response, path)


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(min_value=MAX_DEPTH, max_value=400))
def test_a_response_echoing_a_deep_schema_is_refused_not_a_500(depth: int) -> None:
    """/v1/responses echoes `text.format.schema`: past pydantic's serializer depth it was a 500."""
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"a": schema}
    body = {"model": "gpt-4o-mini-2024-07-18", "input": "x",
            "text": {"format": {"type": "json_schema", "name": "x", "schema": schema}}}
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post("/v1/responses", content=json.dumps(body).encode(), headers=AUTH)
    _assert_unparseable(response, "/v1/responses")


def test_nesting_up_to_max_depth_is_still_read() -> None:
    """The bound refuses only what is deeper than MAX_DEPTH: a body exactly that deep reaches the service."""
    inner = b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2)  # the body's object and `metadata`'s: 2 more levels
    body = _body_with({"model": "gpt-4o-mini-2024-07-18", "training_file": "file-x"}, ("metadata",),
                      b'{"k": ' + inner + b"}")
    with TestClient(_APP) as http:
        response = http.post("/v1/fine_tuning/jobs", content=body, headers=AUTH)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "metadata.k"  # the service's own check, not a parse error


def test_arm_deployment_body_with_nan_is_invalid_content() -> None:
    """The ARM PUT reads its body strictly too: NaN in an extra field was stored and echoed as null."""
    body = b'{"sku": {"name": "Standard", "x": NaN}, "properties": {"model": {"name": "m"}}}'
    with TestClient(_APP, base_url="https://management.azure.com") as http:
        response = http.put(ARM, content=body, headers={"api-key": "az-hostile"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidRequestContent"



_SIZED = [
    ("/v1/fine_tuning/jobs", AUTH),
    ("/v1/chat/completions", AUTH),
    ("/planning/estimate", AUTH),
    ("/openai/v1/fine_tuning/jobs", AZURE),
    ("/openai/v1/chat/completions", AZURE),
]


def _streamed(data: bytes, chunk: int = 1 << 20):
    """A body without a content-length (chunked): its size is only known as it is read."""
    for at in range(0, len(data), chunk):
        yield data[at:at + chunk]


@pytest.mark.parametrize("path,headers", _SIZED)
@pytest.mark.parametrize("declared", [True, False])
def test_a_json_body_past_the_size_limit_is_413(monkeypatch, path: str, headers: dict, declared: bool) -> None:
    """JSON bodies were read whole whatever their size (a 1 GB chat body sat in memory); now a 413 once the
    declared or streamed size passes MAX_BODY_BYTES (lowered here to keep the test light)."""
    from ftsim.api.http import json_body

    monkeypatch.setattr(json_body, "MAX_BODY_BYTES", 4096)
    body = json.dumps({"model": "gpt-4o-mini-2024-07-18", "pad": "x" * 10_000}).encode()
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post(path, content=body if declared else _streamed(body, 1024), headers=headers)
        assert response.status_code == 413, response.text[:300]
        error = response.json()["error"]
        assert "too large" in error["message"]
        small = http.post(path, content=b'{"model": 1}', headers=headers)
        assert small.status_code in (400, 404)  # under the limit: read, and refused as before (Azure: no deployment)


def test_the_real_limit_refuses_a_body_just_over_it() -> None:
    from ftsim.api.http.json_body import MAX_BODY_BYTES

    body = b'{"model": "' + b"x" * MAX_BODY_BYTES + b'"}'
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post("/v1/chat/completions", content=_streamed(body), headers=AUTH)
    assert response.status_code == 413
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}


def test_arm_deployment_body_past_the_size_limit_is_413(monkeypatch) -> None:
    from ftsim.api.http import json_body

    monkeypatch.setattr(json_body, "MAX_BODY_BYTES", 4096)
    body = json.dumps({"sku": {"name": "Standard"}, "pad": "x" * 10_000}).encode()
    with TestClient(_APP, base_url="https://management.azure.com") as http:
        response = http.put(ARM, content=_streamed(body, 1024), headers={"api-key": "az-hostile"})
    assert response.status_code == 413
    assert set(response.json()["error"]) == {"code", "message"}


_COLLECTIONS = ["/files", "/uploads", "/fine_tuning/jobs", "/fine_tuning/jobs/ftjob-x/events",
                "/fine_tuning/jobs/ftjob-x/checkpoints", "/files/file-x/content", "/chat/completions", "/responses",
                "/models", "/fine_tuning/alpha/graders/run", "/uploads/upload_x/complete"]


@settings(max_examples=60, deadline=None)
@given(path=st.sampled_from(_COLLECTIONS), method=st.sampled_from(["GET", "POST", "DELETE"]),
       azure=st.booleans(), slashes=st.integers(min_value=1, max_value=3))
def test_a_trailing_slash_is_an_unknown_url_not_a_redirect(path: str, method: str, azure: bool, slashes: int) -> None:
    """`/v1/files/` answered a 307 with no body (no envelope), and on Azure's `/openai/v1/files/` its Location
    named the OpenAI path `/v1/files`, where the same key is another tenant."""
    if path == "/models" and method != "POST":
        return  # /v1/models/{model:path}: `/v1/models/` asks for the model '' (its own 404)
    url = ("/openai/v1" if azure else "/v1") + path + "/" * slashes
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.request(method, url, headers=AZURE if azure else AUTH, content=b"{}",
                                follow_redirects=False)
    assert response.status_code in (404, 405), (url, response.status_code, response.headers.get("location"))
    assert "location" not in response.headers
    error = response.json()["error"]
    assert isinstance(error["message"], str) and error["message"]
    if azure:  # Azure's envelope
        assert isinstance(error["code"], str) and error["code"]
        assert "/v1/" not in error["message"] or "/openai/v1/" in error["message"]  # never the inner path
    else:
        assert set(error) == {"message", "type", "param", "code"}


_KEYED = ["/v1/fine_tuning/jobs", "/v1/uploads", "/v1/uploads/upload_x/complete", "/v1/chat/completions",
          "/v1/responses", "/v1/fine_tuning/alpha/graders/run", "/v1/fine_tuning/alpha/graders/validate",
          "/v1/fine_tuning/checkpoints/ft:x:y/permissions", "/v1/fine_tuning/jobs/ftjob-x/cancel"]


@settings(max_examples=80, deadline=None)
@given(path=st.sampled_from(_KEYED),
       auth=st.sampled_from([{}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                             {"Authorization": "Bearer two words"}]),
       body=st.sampled_from([b"garbage", b"{", b"[" * 5000, b'{"model": NaN}']) | st.binary(max_size=64),
       declared=st.none() | st.integers(min_value=0, max_value=10**30))
def test_a_keyless_request_is_401_whatever_its_body(path: str, auth: dict, body: bytes, declared: int | None) -> None:
    """FastAPI reads a body before it solves the key's dependency: a keyless request with a bad body was a 400
    (its body read whole first). The live API answers 401 before looking at the body."""
    headers = {"content-type": "application/json", **auth}
    if declared is not None:
        headers["content-length"] = str(declared)
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post(path, content=body, headers=headers)
    assert response.status_code == 401, (path, auth, response.text[:200])
    assert response.json()["error"]["code"] == "invalid_api_key"


_METADATA = st.one_of(
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), min_size=17, max_size=40),  # too many pairs
    st.builds(lambda k, v: {k: v}, st.text(min_size=65, max_size=300), st.text(max_size=8)),  # key too long
    st.builds(lambda k, v: {k: v}, st.text(min_size=1, max_size=8), st.text(min_size=513, max_size=5000)),  # value
)


@settings(max_examples=40, deadline=None)
@given(metadata=_METADATA, route=st.sampled_from(["chat", "responses"]), stream=st.booleans())
def test_chat_and_responses_metadata_is_the_apis_one_metadata(metadata: dict, route: str, stream: bool) -> None:
    """Chat and Responses took any metadata (the Responses API echoes it back on every answer); the API's one
    Metadata schema allows 16 pairs, keys of 64 characters and values of 512, as jobs already checked."""
    model = "gpt-4o-mini-2024-07-18"
    if route == "chat":
        path, body = "/v1/chat/completions", {"model": model, "messages": [{"role": "user", "content": "x"}]}
    else:
        path, body = "/v1/responses", {"model": model, "input": "x"}
    with TestClient(_APP, raise_server_exceptions=False) as http:
        response = http.post(path, json={**body, "metadata": metadata, "stream": stream}, headers=AUTH)
    assert response.status_code == 400, response.text[:200]
    assert response.json()["error"]["param"].startswith("metadata")
