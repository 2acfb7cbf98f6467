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


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(sorted(SAMPLING)),
       value=st.floats(min_value=-10, max_value=10, allow_nan=False) | st.integers(min_value=-10, max_value=10),
       stream=st.booleans())
def test_sampling_knobs_outside_their_range_are_refused_as_live(http, name, value, stream):
    """temperature 0..2, top_p 0..1, the penalties -2..2: inside, the deterministic answer (they cannot change
    it); outside, the live API's 400 (`<value> is greater than the maximum of <max> - '<name>'`), before any
    streamed byte."""
    low, high = SAMPLING[name]
    body = {"model": "gpt-4o-mini", "messages": HELLO, name: value, "stream": stream}
    resp = http.post("/v1/chat/completions", json=body, headers=AUTH)
    if low <= value <= high:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400
    error = resp.json()["error"]
    bound = f"greater than the maximum of {high}" if value > high else f"less than the minimum of {low}"
    assert error["message"] == f"{value} is {bound} - '{name}'" and error["type"] == "invalid_request_error"


def test_a_sampling_knob_that_is_not_a_number_is_refused(http):
    resp = http.post("/v1/chat/completions", json={"model": "gpt-4o-mini", "messages": HELLO, "temperature": "hot"},
                     headers=AUTH)
    assert resp.status_code == 400 and resp.json()["error"]["message"] == "'hot' is not of type 'number' - 'temperature'"
