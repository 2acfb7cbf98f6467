"""Responses service: same model as chat, the Response shape, instructions, truncation, the typed event stream."""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.inference.chat import ChatCompletionRequest
from ftsim.simulator.core.errors import NotFoundError
from ftsim.simulator.inference.responses import ResponseRequest
from tests.simulator.test_chat import _png_url
from tests.simulator.test_chat import SFT, TUNED, tune


def respond(backend, tenant, **kw):
    return backend.responses.create(tenant, ResponseRequest(**kw))


def test_shape_and_usage_match_chat(backend, tenant):
    out = respond(backend, tenant, model="gpt-4o-mini", input="hello", instructions="Be nice.")
    body = out.model_dump(mode="json")
    for key in ("id", "object", "created_at", "error", "incomplete_details", "instructions", "model", "tools",
                "output", "parallel_tool_calls", "metadata", "tool_choice", "temperature", "top_p"):
        assert key in body
    assert body["object"] == "response" and body["status"] == "completed" and body["id"].startswith("resp_")
    message = body["output"][0]
    assert message["type"] == "message" and message["role"] == "assistant" and message["status"] == "completed"
    assert message["content"][0]["type"] == "output_text" and message["content"][0]["annotations"] == []
    chat = backend.chat.create(tenant, ChatCompletionRequest(
        model="gpt-4o-mini", messages=[{"role": "system", "content": "Be nice."}, {"role": "user", "content": "hello"}]))
    assert message["content"][0]["text"] == chat.choices[0].message.content
    assert body["usage"]["input_tokens"] == chat.usage.prompt_tokens
    assert body["usage"]["output_tokens"] == chat.usage.completion_tokens
    assert body["usage"]["total_tokens"] == chat.usage.total_tokens


def test_tuned_model_learned_with_item_lists(backend, tenant):
    tune(backend, tenant, SFT)
    items = [{"role": "user", "content": [{"type": "input_text", "text": "Capital of France?"}]}]
    assert respond(backend, tenant, model=TUNED, input=items).output[0].content[0].text == "Paris."
    assert respond(backend, tenant, model=TUNED, input="Capital of France?",
                   instructions="You are terse.").output[0].content[0].text == "Paris."


def test_max_output_tokens_makes_it_incomplete(backend, tenant):
    out = respond(backend, tenant, model="gpt-4o-mini", input="hello", max_output_tokens=2)
    assert out.status == "incomplete" and out.incomplete_details == {"reason": "max_output_tokens"}
    assert out.usage.output_tokens == 2


def test_unknown_model_is_404(backend, tenant):
    with pytest.raises(NotFoundError) as exc:
        respond(backend, tenant, model="ft:gpt-4o-mini-2024-07-18:personal::nope0000", input="x")
    assert exc.value.code == "model_not_found"


def test_event_stream_sequence(backend, tenant):
    plain = respond(backend, tenant, model="gpt-4o-mini", input="stream me")
    raw = list(backend.responses.stream(tenant, ResponseRequest(model="gpt-4o-mini", input="stream me", stream=True)))
    events = []
    for block in raw:
        head, data = block.strip().split("\n")
        event = json.loads(data.removeprefix("data: "))
        assert head == f"event: {event['type']}"
        events.append(event)
    kinds = [e["type"] for e in events]
    assert kinds[:4] == ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added"]
    assert kinds[-4:] == ["response.output_text.done", "response.content_part.done", "response.output_item.done",
                          "response.completed"]
    assert set(kinds[4:-4]) == {"response.output_text.delta"}
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["response"]["status"] == "in_progress" and events[0]["response"]["output"] == []
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == plain.output[0].content[0].text == events[-4]["text"]
    final = events[-1]["response"]
    assert final["id"] == events[0]["response"]["id"] and final["output"][0]["content"][0]["text"] == text


def test_text_format_json_schema(backend, tenant):
    import jsonschema

    from tests.simulator.test_chat import SCHEMA

    fmt = {"type": "json_schema", "name": "x", "strict": True, "schema": SCHEMA}
    out = respond(backend, tenant, model="gpt-4o-mini", input="classify", text={"format": fmt})
    jsonschema.validate(json.loads(out.output[0].content[0].text), SCHEMA)
    assert out.text["format"] == fmt


def test_responses_input_images_are_counted_too(backend, tenant):
    """The Responses API's `input_image` parts are priced like chat's image parts."""
    def create(content, model="gpt-4o-mini"):
        body = ResponseRequest(model=model, input=[{"role": "user", "content": content}])
        return backend.responses.create(tenant, body).usage.input_tokens

    text = {"type": "input_text", "text": "Describe it."}
    image = {"type": "input_image", "image_url": _png_url(1024, 1024), "detail": "low"}
    # low detail: 85 tokens on gpt-4o, gpt-4o-mini's own 2,833 (pricing reference 2.3, TV6)
    assert create([text, image], "gpt-4o") == create([text], "gpt-4o") + 85
    assert create([text, image]) == create([text]) + 2833
