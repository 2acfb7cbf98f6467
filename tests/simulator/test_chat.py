"""Chat service: deterministic replies, learned answers for tuned models, real-tokenizer usage, streaming."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ftsim.simulator.inference.model as inference_mod
from ftsim.pricing.dataset.tokenizer import get_encoding
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.inference.chat import ChatCompletionRequest
from ftsim.simulator.core.clock import ManualClock
from ftsim.pricing.errors import EncodingUnavailable
from ftsim.simulator.core.errors import NotFoundError, ServiceUnavailableError
from ftsim.simulator.core.store import Store

TUNED = "ft:gpt-4o-mini-2024-07-18:personal:qa:abc12345"
SFT = [
    {"messages": [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Capital of France?"},
                  {"role": "assistant", "content": "Paris."}]},
    {"messages": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "Four, obviously."},
                  {"role": "user", "content": "and 3+3?"}, {"role": "assistant", "content": "Six."}]},
]


def tune(backend, tenant, rows, name=TUNED):
    """A training file and the tuned model record a succeeded job leaves behind."""
    body = ("\n".join(json.dumps(r) for r in rows) + "\n").encode()
    f = backend.files.create_bytes(tenant, filename="train.jsonl", purpose="fine-tune", content=body)
    backend.store.put("model", tenant.key, name, {
        "id": name, "object": "model", "created": backend.now(), "owned_by": "personal",
        "fine_tuning_job_id": "ftjob-1", "base_model": "gpt-4o-mini-2024-07-18", "training_file": f.id,
    })
    return f


def ask(backend, tenant, model, messages, **kw):
    return backend.chat.create(tenant, ChatCompletionRequest(model=model, messages=messages, **kw))


def user(text):
    return [{"role": "user", "content": text}]


def test_body_has_every_required_field(backend, tenant):
    out = ask(backend, tenant, "gpt-4o-mini", user("hello")).model_dump(mode="json")
    assert out["object"] == "chat.completion" and out["id"].startswith("chatcmpl-")
    assert out["model"] == "gpt-4o-mini" and out["created"] == backend.now()
    choice = out["choices"][0]
    assert choice["finish_reason"] == "stop" and choice["logprobs"] is None and choice["index"] == 0
    assert choice["message"] == {"role": "assistant", "content": choice["message"]["content"], "refusal": None,
                                 "annotations": []}
    assert out["usage"]["prompt_tokens_details"]["cached_tokens"] == 0
    assert out["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0
    assert out["system_fingerprint"].startswith("fp_") and out["service_tier"] == "default"


def test_replies_are_deterministic_and_depend_on_prompt_and_seed(backend, tenant):
    one = ask(backend, tenant, "gpt-4o-mini", user("hello")).choices[0].message.content
    assert one == ask(backend, tenant, "gpt-4o-mini", user("hello")).choices[0].message.content
    assert one != ask(backend, tenant, "gpt-4o-mini", user("hello!")).choices[0].message.content
    assert one != ask(backend, tenant, "gpt-4o-mini", user("hello"), seed=7).choices[0].message.content
    other = Backend(store=Store(":memory:"), clock=ManualClock())
    assert ask(other, other.tenant("sk-z"), "gpt-4o-mini", user("hello")).choices[0].message.content == one


def test_usage_uses_the_real_tokenizer_and_chat_convention(backend, tenant):
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Tokenize me, please!",
                                                              "name": "bob"}]
    for model, encoding in (("gpt-4o-mini", "o200k_base"), ("gpt-3.5-turbo", "cl100k_base")):
        enc = get_encoding(encoding)
        out = ask(backend, tenant, model, messages)
        expected = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)
        expected += 1 + len(enc.encode("bob"))
        assert out.usage.prompt_tokens == expected
        assert out.usage.completion_tokens == len(enc.encode(out.choices[0].message.content))
        assert out.usage.total_tokens == out.usage.prompt_tokens + out.usage.completion_tokens


def test_tuned_model_answers_its_training_examples(backend, tenant):
    tune(backend, tenant, SFT)
    exact = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Capital of France?"}]
    assert ask(backend, tenant, TUNED, exact).choices[0].message.content == "Paris."
    assert ask(backend, tenant, TUNED, user("Capital of France?")).choices[0].message.content == "Paris."
    assert ask(backend, tenant, TUNED, user("  Capital of France?  ")).choices[0].message.content == "Paris."
    # every assistant turn is learned, keyed by the conversation before it
    assert ask(backend, tenant, TUNED, user("2+2?")).choices[0].message.content == "Four, obviously."
    convo = SFT[1]["messages"][:3]
    assert ask(backend, tenant, TUNED, convo).choices[0].message.content == "Six."
    # the base model never learned it, and an unseen prompt gets a generic reply
    assert ask(backend, tenant, "gpt-4o-mini", exact).choices[0].message.content != "Paris."
    assert ask(backend, tenant, TUNED, user("Capital of Spain?")).choices[0].message.content not in ("Paris.", "Six.")


def test_dpo_model_answers_the_preferred_output(backend, tenant):
    rows = [{"input": {"messages": [{"role": "user", "content": "Pick one"}]},
             "preferred_output": [{"role": "assistant", "content": "The good one."}],
             "non_preferred_output": [{"role": "assistant", "content": "The bad one."}]}]
    tune(backend, tenant, rows)
    assert ask(backend, tenant, TUNED, user("Pick one")).choices[0].message.content == "The good one."


def test_tuned_model_with_its_file_deleted_still_answers(backend, tenant):
    f = tune(backend, tenant, SFT)
    backend.files.delete(tenant, f.id)
    assert ask(backend, tenant, TUNED, user("Capital of France?")).choices[0].message.content != "Paris."


def test_learned_cache_is_bounded(backend, tenant, monkeypatch):
    monkeypatch.setattr(inference_mod, "LEARNED_CACHE_SIZE", 2)
    for i in range(4):
        tune(backend, tenant, [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": f"a{i}"}]}],
             name=f"ft:gpt-4o-mini-2024-07-18:personal::m{i:07d}")
        assert ask(backend, tenant, f"ft:gpt-4o-mini-2024-07-18:personal::m{i:07d}", user("q")).choices[0].message.content == f"a{i}"
    assert len(backend.chat.inference._cache) == 2


def test_max_tokens_truncates_and_n_gives_choices(backend, tenant):
    out = ask(backend, tenant, "gpt-4o-mini", user("hello"), max_completion_tokens=3)
    assert out.choices[0].finish_reason == "length" and out.usage.completion_tokens == 3
    many = ask(backend, tenant, "gpt-4o-mini", user("hello"), n=3)
    assert [c.index for c in many.choices] == [0, 1, 2]
    enc = get_encoding("o200k_base")
    assert many.usage.completion_tokens == sum(len(enc.encode(c.message.content)) for c in many.choices)


def test_unknown_foreign_and_deleted_models_are_404(backend, tenant):
    tune(backend, backend.tenant("sk-bob"), SFT)
    with pytest.raises(NotFoundError) as exc:
        ask(backend, tenant, TUNED, user("Capital of France?"))
    assert exc.value.code == "model_not_found"
    tune(backend, tenant, SFT)
    backend.models.delete(tenant, TUNED)
    with pytest.raises(NotFoundError):
        ask(backend, tenant, TUNED, user("x"))
    with pytest.raises(NotFoundError):
        ask(backend, tenant, "gpt-5-turbo-ultra", user("x"))


def _chunks(events):
    events = list(events)
    assert events[-1] == "data: [DONE]\n\n"
    return [json.loads(e.removeprefix("data: ")) for e in events[:-1]]


def test_stream_concatenates_to_the_plain_reply(backend, tenant):
    tune(backend, tenant, SFT)
    for model, prompt in ((TUNED, "Capital of France?"), ("gpt-4o-mini", "Say something")):
        plain = ask(backend, tenant, model, user(prompt))
        req = ChatCompletionRequest(model=model, messages=user(prompt), stream=True)
        chunks = _chunks(backend.chat.stream(tenant, req))
        assert all(c["object"] == "chat.completion.chunk" and "usage" not in c for c in chunks)
        assert len({c["id"] for c in chunks}) == 1
        assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert chunks[-1]["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
        text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
        assert text == plain.choices[0].message.content


def test_stream_usage_chunk(backend, tenant):
    req = ChatCompletionRequest(model="gpt-4o-mini", messages=user("hi"), stream=True,
                                stream_options={"include_usage": True})
    chunks = _chunks(backend.chat.stream(tenant, req))
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] > 0
    assert all(c["usage"] is None for c in chunks[:-1])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=0, max_size=60))
def test_stream_pieces_rebuild_any_text(backend, tenant, text):
    resolved = backend.models.resolve_for_inference(tenant, "gpt-4o-mini")
    assert "".join(backend.chat.inference.pieces(resolved, text)) == text


def test_missing_tokenizer_files_give_a_clear_503(backend, tenant, monkeypatch):
    def unavailable(name):
        raise EncodingUnavailable(f"{name} is not provisioned")

    monkeypatch.setattr(inference_mod, "_get_encoding", unavailable)
    with pytest.raises(ServiceUnavailableError) as exc:
        ask(backend, tenant, "gpt-4o-mini", user("hi"))
    assert "o200k_base is not provisioned" in exc.value.message


SCHEMA = {
    "type": "object",
    "properties": {
        "label": {"type": "string", "enum": ["spam", "ham"]},
        "score": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 3, "maximum": 9},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
        "note": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/note"}]},
        "ok": {"type": "boolean"},
    },
    "required": ["label", "score", "count", "tags", "note", "ok"],
    "additionalProperties": False,
    "$defs": {"note": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}},
}


def test_json_schema_mode_replies_with_fitting_json(backend, tenant):
    import jsonschema

    fmt = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": SCHEMA}}
    replies = set()
    for prompt in ("classify this", "and this one", "third"):
        content = ask(backend, tenant, "gpt-4o-mini", user(prompt), response_format=fmt).choices[0].message.content
        jsonschema.validate(json.loads(content), SCHEMA)
        replies.add(content)
    assert len(replies) == 3
    plain = ask(backend, tenant, "gpt-4o-mini", user("x"), response_format={"type": "json_object"})
    assert isinstance(json.loads(plain.choices[0].message.content)["response"], str)


def test_json_mode_keeps_learned_answers(backend, tenant):
    tune(backend, tenant, SFT)
    out = ask(backend, tenant, TUNED, user("2+2?"), response_format={"type": "json_object"})
    assert out.choices[0].message.content == "Four, obviously."


def _png_url(width: int, height: int) -> str:
    """A data: URL of a PNG whose header declares width x height (the body is never decoded)."""
    import base64
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)) + \
        chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


@pytest.mark.parametrize(("model", "size", "detail", "image_tokens"), [
    # gpt-4o: 85 + 170 a tile (pricing reference 2.3, TV6)
    ("gpt-4o", (1024, 1024), "high", 765), ("gpt-4o", (1024, 1024), "low", 85), ("gpt-4o", (1920, 1080), "auto", 1105),
    ("gpt-4o", (128, 64), None, 255),
    # gpt-4o-mini: 2,833 + 5,667 a tile, the same tiles (TV6: 25,501 / 36,835 / 8,500; low detail 2,833, from the
    # community measurement 2,845 = 2,833 + 12 text tokens); it was billed by the gpt-4o rule, ~33x too few
    ("gpt-4o-mini", (1024, 1024), "high", 25_501), ("gpt-4o-mini", (2048, 4096), "high", 36_835),
    ("gpt-4o-mini", (128, 64), None, 8_500), ("gpt-4o-mini", (1024, 1024), "low", 2_833),
])
def test_prompt_images_are_counted_by_the_vision_rule(backend, tenant, model, size, detail, image_tokens):
    """An image in a chat prompt adds its vision-rule tokens (pricing reference 2.3) to the text's."""
    spec = {"url": _png_url(*size)} | ({"detail": detail} if detail else {})
    with_image = [{"role": "user", "content": [{"type": "text", "text": "What is this?"},
                                               {"type": "image_url", "image_url": spec}]}]
    text_only = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]
    plain = ask(backend, tenant, model, text_only).usage.prompt_tokens
    assert ask(backend, tenant, model, with_image).usage.prompt_tokens == plain + image_tokens
