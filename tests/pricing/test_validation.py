"""Per-method format checks: OpenAI's codes and texts, and never an exception on arbitrary input."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings, strategies as st

from ftsim.pricing.dataset.validation import example_format, format_mismatch, n_examples_finding, validate_example

PREFIX = "The job failed due to a file format error in the training file. Invalid file format. "
U = {"role": "user", "content": "Where is the pump?"}
A = {"role": "assistant", "content": "By the door."}


def errors(obj, method="supervised", line=1, **kw):
    findings, _ = validate_example(obj, line, method, **kw)
    return [f.message.removeprefix(PREFIX) for f in findings if f.severity == "error"]


def test_valid_sft_shapes() -> None:
    assert errors({"messages": [{"role": "system", "content": "Be brief."}, U, A]}) == []
    assert errors({"messages": [U, {**A, "weight": 0}, U, {**A, "weight": 1}]}) == []
    assert errors({"messages": [{**U, "name": "ana"}, A]}) == []
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    assert errors({"tools": tools, "parallel_tool_calls": True, "messages": [
        U, {"role": "assistant", "tool_calls": [call]}, {"role": "tool", "tool_call_id": "c1", "content": "ok"}, A]}) == []
    assert errors({"functions": [{"name": "f"}], "messages": [
        U, {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
        {"role": "function", "name": "f", "content": "1"}, A]}) == []


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ({"messages": [U, A], "weight": 1}, 'Example 3 contains an extra "weight".'),
        ({"prompt": "x"}, "Example 3 is missing key 'messages'."),
        ({"messages": [U, {"content": "hi"}]}, "Example 3, message 2 Discriminator 'role' is missing in value"),
        ({"messages": [{"role": "bot", "content": "x"}, A]},
         "Example 3, message 1 Input tag 'bot' found using 'role' does not match any of the expected tags: 'system', 'user', 'assistant', 'tool', 'function'"),
        ({"messages": [{"role": "developer", "content": "x"}, A]}, "Example 3, message 1 Input tag 'developer'"),
        ({"messages": [{**U, "weight": 1}, A]}, 'Example 3, message 1 contains an extra "weight".'),
        ({"messages": [U, {**A, "weight": 2}]}, "Example 3, message 2 has an invalid weight 2"),
        ({"messages": [U, {**A, "weight": True}]}, "Example 3, message 2 has an invalid weight True"),
        ({"messages": [U, {**A, "mood": "calm"}]}, 'Example 3, message 2 contains an extra "mood".'),
        ({"messages": [U]}, "Example 3 has no assistant message"),
        ({"messages": []}, "Example 3, 'messages' must be a non-empty array"),
        ({"messages": [U, {"role": "tool", "content": "x"}, A]}, "Example 3, message 2 is a tool message without a 'tool_call_id'"),
        ({"messages": [U, {"role": "assistant"}]}, "Example 3, message 2 is missing 'content'"),
        ({"messages": [U, A], "tools": "nope"}, "Example 3 'tools' must be an array"),
        ({"messages": [U, {"role": "assistant", "tool_calls": [{"id": 1}]}]}, "Example 3, message 2 'tool_calls' must be"),
        (["not", "an", "object"], "Example 3 is not a JSON object (found an array)"),
    ],
)
def test_sft_errors(obj, expected: str) -> None:
    found = errors(obj, line=3)
    assert found and found[0].startswith(expected), found


def test_error_findings_carry_openai_code_and_param() -> None:
    (finding,), _ = validate_example({"messages": [U, A], "x": 1}, 7, "supervised", param="validation_file")
    assert finding.code == "invalid_file_format" and finding.line == 7 and finding.param == "validation_file"
    assert finding.message.startswith("The job failed due to a file format error in the validation file. Invalid file format. Example 7")


def test_weight_zero_everywhere_warns() -> None:
    findings, _ = validate_example({"messages": [U, {**A, "weight": 0}]}, 1, "supervised")
    assert [f.code for f in findings] == ["no_trained_message"] and findings[0].severity == "warning"


def png_url() -> str:
    raw = bytes.fromhex("89504e470d0a1a0a0000000d494844520000000800000004080200000000000000")
    return "data:image/png;base64," + base64.b64encode(raw).decode()


def image(url: str | None = None, detail: str = "auto") -> dict:
    return {"type": "image_url", "image_url": {"url": url or png_url(), "detail": detail}}


def test_vision_rules() -> None:
    user = {"role": "user", "content": [{"type": "text", "text": "What is it?"}, image()]}
    assert errors({"messages": [user, A]}, vision=True) == []
    assert "does not support image inputs" in errors({"messages": [user, A]}, vision=False)[0]
    in_assistant = {"role": "assistant", "content": [image()]}
    assert "not allowed in assistant messages" in errors({"messages": [U, in_assistant]}, vision=True)[0]
    eleven = {"role": "user", "content": [image() for _ in range(11)]}
    assert "has 11 images, but at most 10" in errors({"messages": [eleven, A]}, vision=True)[0]
    assert errors({"messages": [{"role": "user", "content": [image(detail="ultra")]}, A]}, vision=True)
    findings, n_images = validate_example({"messages": [{"role": "user", "content": [image("data:image/gif;base64,R0lGODlhAQABAAAAACw=")]}, A]}, 1, "supervised", vision=True)
    assert n_images == 1 and [f.code for f in findings] == ["image_skipped"]  # OpenAI skips bad images
    findings, _ = validate_example({"messages": [{"role": "user", "content": [image("https://example.com/a.png")]}, A]}, 1, "supervised", vision=True)
    assert [f.code for f in findings] == ["image_not_fetched"]


DPO = {"input": {"messages": [U]}, "preferred_output": [A], "non_preferred_output": [{"role": "assistant", "content": "No idea."}]}


def test_dpo_rules() -> None:
    assert errors(DPO, "dpo") == []
    assert errors({**DPO, "input": {**DPO["input"], "tools": [], "parallel_tool_calls": False}}, "dpo") == []
    assert errors({k: v for k, v in DPO.items() if k != "input"}, "dpo", line=1) == ["Example 1 is missing key 'input'."]
    assert "exactly one assistant message" in errors({**DPO, "preferred_output": [A, A]}, "dpo")[0]
    assert "must hold an assistant message" in errors({**DPO, "non_preferred_output": [U]}, "dpo")[0]
    assert 'contains an extra "weight"' in errors({**DPO, "preferred_output": [{**A, "weight": 1}]}, "dpo")[0]
    assert 'contains an extra "extra"' in errors({**DPO, "extra": 1}, "dpo")[0]
    assert errors({**DPO, "input": {"messages": []}}, "dpo")


def test_rft_rules() -> None:
    dev = {"role": "developer", "content": "Answer with a number."}
    assert errors({"messages": [dev, U], "answer": "42", "anything": {"x": [1]}}, "reinforcement") == []
    assert "Input tag 'system'" in errors({"messages": [{"role": "system", "content": "x"}, U]}, "reinforcement")[0]
    assert errors({"answer": "1"}, "reinforcement") == ["Example 1 is missing key 'messages'."]


def test_example_format() -> None:
    assert example_format({"messages": []}) == "chat"
    assert example_format({"input": {}}) == "preference"
    assert example_format({"prompt": "a", "completion": "b"}) == "prompt_completion"
    assert example_format({"x": 1}) == example_format([1]) == "unknown"


def test_format_mismatch_texts() -> None:
    f = format_mismatch("chat", "dpo", "file-JkuxKcmxbqpiLxzi9AtS9U")
    assert f.code == "invalid_training_file" and f.message == (
        "The job failed due to an invalid training file. Invalid file format. Input file file-JkuxKcmxbqpiLxzi9AtS9U is in "
        "the fine-tune-chat format, but the specified fine-tuning job is not using 'supervised' as the training method "
        "(provided method=dpo). ")
    assert "fine-tune-preference" in format_mismatch("preference", "supervised", "f").message
    assert format_mismatch("chat", "supervised", "f") is None and format_mismatch("preference", "dpo", "f") is None


def test_n_examples() -> None:
    f = n_examples_finding(7, "supervised")
    assert (f.code, f.param, f.message) == ("invalid_n_examples", "training_file", "Training file has 7 example(s), but must have at least 10 examples")
    assert n_examples_finding(10, "supervised") is None
    assert n_examples_finding(3, "reinforcement", "validation_file") is None
    assert "at most 1000" in n_examples_finding(1001, "reinforcement", "validation_file").message


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["messages", "role", "content", "weight", "name", "tool_calls", "tools", "input", "preferred_output",
                         "non_preferred_output", "type", "text", "image_url", "url", "detail", "function", "id", "tool_call_id"])
        | st.text(max_size=5), children, max_size=5),
    max_leaves=12,
)
roles = st.sampled_from(["system", "user", "assistant", "tool", "function", "developer", "x"])
messages = st.lists(st.fixed_dictionaries({"role": roles}, optional={"content": json_values, "weight": json_values, "name": json_values,
                                                                     "tool_calls": json_values, "tool_call_id": json_values}), max_size=4)


@settings(max_examples=100, deadline=None)
@given(obj=st.one_of(json_values, st.fixed_dictionaries({"messages": messages}, optional={"tools": json_values, "x": json_values}),
                     st.fixed_dictionaries({"input": st.fixed_dictionaries({"messages": messages}), "preferred_output": messages,
                                            "non_preferred_output": messages})),
       method=st.sampled_from(["supervised", "dpo", "reinforcement"]), vision=st.booleans())
def test_validator_never_raises(obj, method: str, vision: bool) -> None:
    findings, n_images = validate_example(obj, 1, method, vision=vision)
    assert n_images >= 0
    for f in findings:
        assert f.line == 1 and f.severity in ("error", "warning") and f.message
    json.dumps([f.model_dump() for f in findings])


CL100K_SPECIAL = frozenset({"<|endoftext|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|endofprompt|>"})


@pytest.mark.parametrize("token", sorted(CL100K_SPECIAL))
def test_special_tokens_in_message_text_are_an_invalid_token(token: str) -> None:
    obj = {"messages": [U, {"role": "assistant", "content": f"def f():{token} pass"}]}
    assert errors(obj, line=6174, special=CL100K_SPECIAL) == [f"Example 6174 message contains an invalid token: {token}."]


def test_special_tokens_are_found_in_parts_names_and_tool_calls_of_every_method() -> None:
    part = {"role": "user", "content": [{"type": "text", "text": "a <|endoftext|> b"}]}
    assert errors({"messages": [part, A]}, special=CL100K_SPECIAL) == ["Example 1 message contains an invalid token: <|endoftext|>."]
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": "<|fim_prefix|>"}'}}
    calls = {"messages": [U, {"role": "assistant", "tool_calls": [call]}]}
    assert errors(calls, special=CL100K_SPECIAL) == ["Example 1 message contains an invalid token: <|fim_prefix|>."]
    dpo = {"input": {"messages": [U]}, "preferred_output": [A],
           "non_preferred_output": [{"role": "assistant", "content": "<|endofprompt|>"}]}
    assert errors(dpo, "dpo", special=CL100K_SPECIAL) == ["Example 1 message contains an invalid token: <|endofprompt|>."]
    rft = {"messages": [{"role": "developer", "content": "x<|endoftext|>"}], "answer": "<|endoftext|>"}
    assert errors(rft, "reinforcement", special=CL100K_SPECIAL) == ["Example 1 message contains an invalid token: <|endoftext|>."]
    # the first token met in message order is named; near misses and reference fields are plain text
    both = {"messages": [{"role": "user", "content": "<|fim_suffix|> then <|endoftext|>"}, A]}
    assert errors(both, special=CL100K_SPECIAL) == ["Example 1 message contains an invalid token: <|fim_suffix|>."]
    assert errors({"messages": [{"role": "user", "content": "<|endoftext| > <endoftext|>"}, A]}, special=CL100K_SPECIAL) == []
    assert errors({"messages": [U, A], "answer": "<|endoftext|>"}, "reinforcement", special=CL100K_SPECIAL) == []


@given(st.text(max_size=40))
@settings(max_examples=200, deadline=None)
def test_special_token_check_never_raises_and_only_fires_on_a_special_token(text: str) -> None:
    found = errors({"messages": [{"role": "user", "content": text}, A]}, special=CL100K_SPECIAL)
    assert bool(found) == any(token in text for token in CL100K_SPECIAL)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
                        st.sampled_from(["messages", "role", "content", "weight", "name", "tools", "input",
                                         "preferred_output", "tool_calls", "type", "text", "image_url"]), inner, max_size=4),
                    max_leaves=12),
       st.sampled_from(["supervised", "dpo", "reinforcement"]))
@settings(max_examples=300, deadline=None)
def test_no_message_carries_implementation_remarks(obj, method) -> None:
    findings, _ = validate_example(obj, 1, method, special=frozenset({"<|endoftext|>"}))
    for finding in findings:
        assert "ftsim" not in finding.message.lower() and "wording" not in finding.message


def test_binary_file_error_is_the_live_text_alone(tmp_path) -> None:
    from ftsim.pricing.catalog.catalog import load_catalog
    from ftsim.pricing.dataset.scan import scan_dataset

    path = tmp_path / "picture.jsonl"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    report = scan_dataset(path, method="supervised", model=load_catalog().resolve("gpt-4o-mini"))
    assert report.first_error.message == ("The job failed due to an invalid training file. Unexpected file format, "
                                          "expected either prompt/completion pairs or chat messages.")
