"""HTTP door of /v1/chat/completions and /v1/responses: spec-valid bodies and SSE streams, 400 and 404 envelopes."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.openapi_schema import assert_schema

AUTH = {"Authorization": "Bearer sk-test"}
HELLO = [{"role": "user", "content": "hello"}]


def sse_events(resp):
    """(event name or None, data text) of each server-sent event."""
    assert resp.headers["content-type"].startswith("text/event-stream")
    out = []
    for block in resp.text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields.get("event"), fields["data"]))
    return out


def test_chat_completion_body(http):
    resp = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO}, headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/json")
    assert_schema(resp.json(), "CreateChatCompletionResponse")


def test_chat_stream(http):
    body = {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "stream_options": {"include_usage": True}}
    resp = http.post("/v1/chat/completions", json=body, headers=AUTH)
    events = sse_events(resp)
    assert events[-1] == (None, "[DONE]")
    for name, data in events[:-1]:
        assert name is None
        assert_schema(json.loads(data), "CreateChatCompletionStreamResponse")


@pytest.mark.parametrize("body, param", [
    ({"messages": HELLO}, "model"),
    ({"model": "gpt-4o-mini"}, "messages"),
    ({"model": "gpt-4o-mini", "messages": [{"role": "robot", "content": "x"}]}, "messages.0.role"),
    ({"model": "gpt-4o-mini", "messages": HELLO, "n": 0}, "n"),
])
def test_chat_bad_requests_are_400(http, body, param):
    resp = http.post("/v1/chat/completions", json=body, headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"]["param"] == param


def test_unknown_model_is_404_even_when_streaming(http):
    for path, body in (("/v1/chat/completions", {"messages": HELLO}), ("/v1/responses", {"input": "x"})):
        resp = http.post(path, json=body | {"model": "gpt-unknown", "stream": True}, headers=AUTH)
        assert resp.status_code == 404
        assert resp.json()["error"]["code"] == "model_not_found"


def test_response_body(http):
    resp = http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hello", "metadata": {"k": "v"}},
                     headers=AUTH)
    assert resp.status_code == 200, resp.text
    assert_schema(resp.json(), "Response")
    assert resp.json()["metadata"] == {"k": "v"}


def test_response_stream_events_validate(http):
    resp = http.post("/v1/responses", json={"model": "gpt-4o-mini", "input": "hello", "stream": True}, headers=AUTH)
    names = {
        "response.created": "ResponseCreatedEvent", "response.in_progress": "ResponseInProgressEvent",
        "response.output_item.added": "ResponseOutputItemAddedEvent",
        "response.content_part.added": "ResponseContentPartAddedEvent",
        "response.output_text.delta": "ResponseTextDeltaEvent", "response.output_text.done": "ResponseTextDoneEvent",
        "response.content_part.done": "ResponseContentPartDoneEvent",
        "response.output_item.done": "ResponseOutputItemDoneEvent", "response.completed": "ResponseCompletedEvent",
    }
    seen = set()
    for name, data in sse_events(resp):
        event = json.loads(data)
        assert name == event["type"]
        assert_schema(event, names[name])
        seen.add(name)
    assert seen == set(names)


def test_responses_bad_request(http):
    resp = http.post("/v1/responses", json={"model": "gpt-4o-mini"}, headers=AUTH)
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "input"


SAMPLING = {"temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2)}
RESPONSES_SAMPLING = ("temperature", "top_p")  # the Responses API has no penalties


def _request(path: str, name: str, value, stream: bool) -> dict:
    if path == "/v1/responses":
        return {"model": "gpt-4o-mini", "input": "hi", name: value, "stream": stream}
    return {"model": "gpt-4o-mini", "messages": HELLO, name: value, "stream": stream}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path_name=st.sampled_from([("/v1/chat/completions", n) for n in sorted(SAMPLING)]
                                 + [("/v1/responses", n) for n in RESPONSES_SAMPLING]),
       value=st.floats(min_value=-10, max_value=10, allow_nan=False) | st.integers(min_value=-10, max_value=10),
       stream=st.booleans())
def test_sampling_knobs_outside_their_range_are_refused_as_live(http, path_name, value, stream):
    """temperature 0..2, top_p 0..1, the penalties -2..2: inside, the deterministic answer (they cannot change
    it); outside, the live API's 400 (`Invalid '<name>': decimal above maximum value. Expected a value <= <max>,
    but got <value> instead.`, param and code set), before any streamed byte."""
    path, name = path_name
    low, high = SAMPLING[name]
    resp = http.post(path, json=_request(path, name, value, stream), headers=AUTH)
    if low <= value <= high:
        assert resp.status_code == 200, resp.text
        if path == "/v1/responses" and not stream:
            assert resp.json()[name] == value  # echoed
        return
    assert resp.status_code == 400
    error = resp.json()["error"]
    if value > high:
        message = f"Invalid '{name}': decimal above maximum value. Expected a value <= {high}, but got {json.dumps(value)} instead."
    else:
        message = f"Invalid '{name}': decimal below minimum value. Expected a value >= {low}, but got {json.dumps(value)} instead."
    assert error == {"message": message, "type": "invalid_request_error", "param": name,
                     "code": "decimal_above_max_value" if value > high else "decimal_below_min_value"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
@pytest.mark.parametrize("value,got", [("hot", "a string"), (True, "a boolean"), ([1], "an array"), ({}, "an object")])
def test_a_sampling_knob_that_is_not_a_number_is_refused(http, path, value, got):
    resp = http.post(path, json=_request(path, "temperature", value, False), headers=AUTH)
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": f"Invalid type for 'temperature': expected a decimal, but got {got} instead.",
        "type": "invalid_request_error", "param": "temperature", "code": "invalid_type"}


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/responses"])
def test_a_null_sampling_knob_is_an_absent_one(http, path):
    resp = http.post(path, json=_request(path, "top_p", None, False), headers=AUTH)
    assert resp.status_code == 200, resp.text


def _tool(i: int) -> dict:
    return {"type": "function", "function": {"name": f"tool_{i}", "parameters": {"type": "object", "properties": {}}}}


def _responses_tool(i: int) -> dict:
    return {"type": "function", "name": f"tool_{i}", "parameters": {"type": "object", "properties": {}}}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["/v1/chat/completions", "/v1/responses"]), count=st.integers(min_value=120, max_value=200))
def test_more_than_128_tools_are_refused_as_live(http, path, count):
    if path == "/v1/responses":
        body = {"model": "gpt-4o-mini", "input": "hi", "tools": [_responses_tool(i) for i in range(count)]}
    else:
        body = {"model": "gpt-4o-mini", "messages": HELLO, "tools": [_tool(i) for i in range(count)]}
    resp = http.post(path, json=body, headers=AUTH)
    if count <= 128:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "message": f"Invalid 'tools': array too long. Expected an array with maximum length 128, but got an array "
                   f"with length {count} instead.",
        "type": "invalid_request_error", "param": "tools", "code": "array_above_max_length"}


@pytest.mark.parametrize("stop,status", [("END", 200), (["a", "b", "c", "d"], 200), (["a", "b", "c", "d", "e"], 400)])
def test_at_most_four_stop_sequences(http, stop, status):
    resp = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "stop": stop},
                     headers=AUTH)
    assert resp.status_code == status, resp.text
    if status == 400:
        assert resp.json()["error"]["code"] == "array_above_max_length"
        assert resp.json()["error"]["param"] == "stop"
