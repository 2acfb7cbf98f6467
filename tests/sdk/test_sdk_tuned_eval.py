"""The eval loop a team runs after a fine-tune, through the official SDK: base vs tuned on held-out data (issue #18).

Upload, train, wait, then score both models on prompts the job never saw: exact match, a JSON format check, and
tool calls parsed by the SDK's own types, in both chat and the Responses API.
"""

from __future__ import annotations

import json

import pytest

from tests.sdk.test_sdk_uploads_models_inference import make_client
from tests.simulator.tuned_data import ORDER_TOOL, jsonl, sku_rows, tool_rows

pytestmark = pytest.mark.sdk2

WEEK = 7 * 24 * 3600


def tuned_model(backend, client, rows) -> str:
    f = client.files.create(file=("train.jsonl", jsonl(rows)), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="gpt-4o-mini-2024-07-18", training_file=f.id, seed=7)
    backend.advance(WEEK)
    job = client.fine_tuning.jobs.retrieve(job.id)
    assert job.status == "succeeded"
    return job.fine_tuned_model


def test_held_out_eval_separates_the_tuned_model_from_the_base_model(backend):
    client = make_client(backend)
    rows = sku_rows(240, seed=43)
    model = tuned_model(backend, client, rows[:200])
    held_out = rows[200:]

    def score(name: str) -> tuple[float, float]:
        exact = valid = 0
        for row in held_out:
            out = client.chat.completions.create(model=name, messages=row["messages"][:-1])
            text = out.choices[0].message.content
            exact += text == row["messages"][-1]["content"]
            try:
                valid += set(json.loads(text)) == {"sku"}
            except (ValueError, TypeError):
                pass
        return exact / len(held_out), valid / len(held_out)

    assert score(model) >= (0.8, 0.95)
    base_exact, base_valid = score("gpt-4o-mini")
    assert base_exact <= 0.1 and base_valid == 0
    # the Responses API gives the tuned model's same answer
    row = held_out[0]
    chat = client.chat.completions.create(model=model, messages=row["messages"][:-1]).choices[0].message.content
    resp = client.responses.create(model=model, instructions=row["messages"][0]["content"],
                                   input=row["messages"][1]["content"])
    assert resp.output_text == chat


def test_tool_calls_parse_with_the_sdk_types(backend):
    client = make_client(backend)
    rows = tool_rows(130, seed=47)
    model = tuned_model(backend, client, rows[:120])
    row = rows[125]
    expected = json.loads(row["messages"][1]["tool_calls"][0]["function"]["arguments"])
    out = client.chat.completions.create(model=model, messages=row["messages"][:1], tools=[ORDER_TOOL])
    call = out.choices[0].message.tool_calls[0]
    assert out.choices[0].finish_reason == "tool_calls" and call.function.name == "get_order_status"
    assert json.loads(call.function.arguments) == expected
    with client.chat.completions.stream(model=model, messages=row["messages"][:1], tools=[ORDER_TOOL]) as stream:
        final = stream.get_final_completion()
    assert final.choices[0].message.tool_calls[0].function.arguments == call.function.arguments
    flat = {"type": "function", **ORDER_TOOL["function"]}
    resp = client.responses.create(model=model, input=row["messages"][0]["content"], tools=[flat])
    item = resp.output[0]
    assert item.type == "function_call" and json.loads(item.arguments) == expected
    with client.responses.stream(model=model, input=row["messages"][0]["content"], tools=[flat]) as stream:
        streamed = stream.get_final_response()
    assert streamed.output[0].arguments == item.arguments
