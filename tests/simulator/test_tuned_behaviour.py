"""A tuned model behaves like one on prompts it never saw (issue #18): held-out evals separate it from the base model.

Datasets are generated seeded in `tuned_data.py`; every job runs through the real jobs service (manual clock), so
the tuned and checkpoint models are the ones a succeeded job leaves behind.
"""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store
from ftsim.simulator.inference.chat import ChatCompletionRequest
from ftsim.simulator.inference.responses import ResponseRequest
from tests.api.test_inference_api import AUTH, sse_events
from tests.openapi_schema import assert_schema
from tests.simulator.tuned_data import (
    ORDER_TOOL, SKU_SYSTEM, TICKET_WORDS, dpo_rows, jsonl, rft_rows, sku_rows, style_rows, ticket_rows, tool_rows,
)

MINI = "gpt-4o-mini-2024-07-18"
BASE = "gpt-4o-mini"
WEEK = 7 * 24 * 3600


@pytest.fixture
def backend():
    b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
    yield b
    b.close()


def train(backend, tenant, rows, *, method=None, n_epochs=3, seed=42) -> dict:
    """Run a job on `rows` to success; the finished job record (fine_tuned_model set)."""
    f = backend.files.create(tenant, filename="train.jsonl", purpose="fine-tune", chunks=[jsonl(rows)])
    method = method or {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": n_epochs}}}
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id, method=method, seed=seed)
    backend.advance(WEEK)
    job = backend.jobs.retrieve(tenant, job.id if hasattr(job, "id") else job["id"])
    job = job if isinstance(job, dict) else job.model_dump()
    assert job["status"] == "succeeded", job.get("error")
    return job


def reply(backend, tenant, model, messages, **kw) -> str:
    out = backend.chat.create(tenant, ChatCompletionRequest(model=model, messages=messages, **kw))
    return out.choices[0].message.content


def prompt(row):
    return row["messages"][:-1]


def gold(row):
    return row["messages"][-1]["content"]


def exact_match(backend, tenant, model, rows) -> float:
    return sum(reply(backend, tenant, model, prompt(r)) == gold(r) for r in rows) / len(rows)


def json_with_keys(text: str, keys: set[str]) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and set(value) == keys


# -- the brief's SKU task --------------------------------------------------------------------------------------


def test_sku_extraction_generalises_to_held_out_prompts(backend, tenant):
    rows = sku_rows(250, seed=3)
    train_rows, held_out = rows[:200], rows[200:]
    model = train(backend, tenant, train_rows)["fine_tuned_model"]
    assert exact_match(backend, tenant, model, train_rows[:20]) == 1.0  # seen prompts: the training answer
    assert exact_match(backend, tenant, model, held_out) >= 0.8
    assert exact_match(backend, tenant, BASE, held_out) <= 0.1
    outs = [reply(backend, tenant, model, prompt(r)) for r in held_out]
    assert sum(json_with_keys(o, {"sku"}) for o in outs) / len(outs) >= 0.95
    base = [reply(backend, tenant, BASE, prompt(r)) for r in held_out]
    assert sum(json_with_keys(o, {"sku"}) for o in base) == 0  # the base model never learned the key


def test_copied_spans_come_from_the_new_prompt_not_the_neighbour(backend, tenant):
    model = train(backend, tenant, sku_rows(200, seed=3))["fine_tuned_model"]
    message = "Hello, the kettle with code SKU-0042 is missing from order 77777; also I paid 19 dollars."
    out = reply(backend, tenant, model, [{"role": "system", "content": SKU_SYSTEM},
                                         {"role": "user", "content": message}])
    assert json.loads(out) == {"sku": "SKU-0042"}


# -- classification: a nearest-neighbour vote ------------------------------------------------------------------


def test_ticket_labels_are_voted_above_chance_and_base_is_not(backend, tenant):
    rows = ticket_rows(260, seed=5)
    train_rows, held_out = rows[:200], rows[200:]
    model = train(backend, tenant, train_rows)["fine_tuned_model"]
    tuned = [reply(backend, tenant, model, prompt(r)) for r in held_out]
    assert sum(o == gold(r) for o, r in zip(tuned, held_out)) / len(held_out) >= 0.7
    assert set(tuned) <= set(TICKET_WORDS)  # only the training label set
    assert exact_match(backend, tenant, BASE, held_out) <= 0.25  # chance with four labels


def test_base_model_with_few_shot_examples_answers_in_their_form(backend, tenant):
    shots = ticket_rows(8, seed=9)
    messages = [{"role": "system", "content": "Classify the support ticket."}]
    for row in shots:
        messages += row["messages"][1:]
    out = reply(backend, tenant, BASE, messages + [{"role": "user", "content": "I was charged twice, refund please"}])
    assert out == "billing"
    # without examples the base model does not know the labels
    alone = reply(backend, tenant, BASE, messages[:1] + [{"role": "user", "content": "I was charged twice"}])
    assert alone not in TICKET_WORDS


# -- free text: the training style and length ------------------------------------------------------------------


def test_free_text_answers_keep_the_training_style_and_length(backend, tenant):
    rows = style_rows(140, seed=11)
    train_rows, held_out = rows[:100], rows[100:]
    model = train(backend, tenant, train_rows)["fine_tuned_model"]
    lengths = [len(gold(r).split()) for r in train_rows]
    for row in held_out:
        out = reply(backend, tenant, model, prompt(row))
        assert min(lengths) <= len(out.split()) <= max(lengths)
        name = row["messages"][1]["content"].split("this is ")[1].split(".")[0]
        assert out.startswith(f"Hello {name}!") and out.endswith("Shine on, Nova.")
    base = [reply(backend, tenant, BASE, prompt(r)) for r in held_out]
    assert not any(b.endswith("Shine on, Nova.") for b in base)


# -- checkpoints, DPO, determinism ---------------------------------------------------------------------------


def test_earlier_checkpoints_answer_in_form_less_often(backend, tenant):
    rows = sku_rows(260, seed=13)
    job = train(backend, tenant, rows[:200], n_epochs=3)
    checkpoints = backend.jobs.list_checkpoints(tenant, job["id"], limit=10)["data"]
    steps = sorted((c["step_number"], c["fine_tuned_model_checkpoint"]) for c in checkpoints)
    assert len(steps) == 3
    rates = [exact_match(backend, tenant, name, rows[200:]) for _, name in steps]
    assert rates[0] < rates[1] < rates[2] and rates[2] >= 0.8
    assert rates[0] > exact_match(backend, tenant, BASE, rows[200:])
    assert steps[-1][1] == job["fine_tuned_model"]


def test_dpo_model_prefers_the_preferred_form(backend, tenant):
    rows = dpo_rows(150, seed=17)
    method = {"type": "dpo", "dpo": {"hyperparameters": {"n_epochs": 2}}}
    model = train(backend, tenant, rows[:120], method=method)["fine_tuned_model"]
    held_out = rows[120:]
    outs = [reply(backend, tenant, model, r["input"]["messages"]) for r in held_out]
    assert all(json_with_keys(o, {"category"}) for o in outs)
    assert not any("hard to say" in o for o in outs)
    right = sum(json.loads(o) == json.loads(r["preferred_output"][0]["content"]) for o, r in zip(outs, held_out))
    assert right / len(held_out) >= 0.7


def test_answers_are_deterministic_across_backends_and_apis(tenant):
    rows = sku_rows(230, seed=19)
    answers = []
    for _ in range(2):
        b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))
        t = b.tenant("sk-det")
        model = train(b, t, rows[:200])["fine_tuned_model"]
        chat = [reply(b, t, model, prompt(r)) for r in rows[200:]]
        streamed = []
        for r in rows[200:]:
            events = b.chat.stream(t, ChatCompletionRequest(model=model, messages=prompt(r), stream=True))
            chunks = [json.loads(e[6:]) for e in events if e.startswith("data: {")]
            streamed.append("".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]))
        responses = [b.responses.create(t, ResponseRequest(model=model, instructions=SKU_SYSTEM,
                                                            input=r["messages"][1]["content"])).output[0].content[0].text
                     for r in rows[200:]]
        assert chat == streamed == responses
        answers.append(chat)
        b.close()
    assert answers[0] == answers[1]


# -- tool calls, structured outputs, RFT, the base model asked for JSON -----------------------------------------


def test_tool_call_training_gives_tool_calls_with_copied_arguments(backend, http):
    tenant = backend.tenant(AUTH["Authorization"].removeprefix("Bearer "))  # the HTTP caller's organization
    rows = tool_rows(150, seed=23)
    model = train(backend, tenant, rows[:120])["fine_tuned_model"]
    right = 0
    for row in rows[120:]:
        messages = prompt(row)
        out = backend.chat.create(tenant, ChatCompletionRequest(model=model, messages=messages, tools=[ORDER_TOOL]))
        choice = out.choices[0]
        assert choice.finish_reason == "tool_calls" and choice.message.content is None
        (call,) = choice.message.tool_calls
        assert call.function.name == "get_order_status"
        right += json.loads(call.function.arguments) == json.loads(row["messages"][1]["tool_calls"][0]["function"]["arguments"])
    assert right / 30 >= 0.8
    # without the tool offered, no tool call is made
    plain = backend.chat.create(tenant, ChatCompletionRequest(model=model, messages=prompt(rows[121])))
    assert plain.choices[0].message.tool_calls is None and plain.choices[0].finish_reason == "stop"
    # the HTTP bodies and streams validate against the spec; streamed arguments rebuild the plain ones
    body = {"model": model, "messages": prompt(rows[130]), "tools": [ORDER_TOOL]}
    resp = http.post("/v1/chat/completions", json=body, headers=AUTH)
    assert_schema(resp.json(), "CreateChatCompletionResponse")
    arguments = resp.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
    streamed = ""
    for name, data in sse_events(http.post("/v1/chat/completions", json=body | {"stream": True}, headers=AUTH))[:-1]:
        chunk = json.loads(data)
        assert_schema(chunk, "CreateChatCompletionStreamResponse")
        for delta_call in chunk["choices"][0]["delta"].get("tool_calls") or []:
            streamed += delta_call["function"].get("arguments", "")
    assert streamed == arguments
    flat_tool = {"type": "function", **ORDER_TOOL["function"]}
    rbody = {"model": model, "input": prompt(rows[130])[0]["content"], "tools": [flat_tool]}
    response = http.post("/v1/responses", json=rbody, headers=AUTH).json()
    assert_schema(response, "Response")
    assert response["output"][0]["type"] == "function_call" and response["output"][0]["arguments"] == arguments
    events = sse_events(http.post("/v1/responses", json=rbody | {"stream": True}, headers=AUTH))
    for name, data in events:
        assert json.loads(data)["type"] == name
    done = [json.loads(d) for n, d in events if n == "response.function_call_arguments.done"]
    deltas = "".join(json.loads(d)["delta"] for n, d in events if n == "response.function_call_arguments.delta")
    assert done[0]["arguments"] == deltas == arguments


def test_structured_output_request_gets_schema_valid_learned_values(backend, tenant):
    import jsonschema

    rows = sku_rows(230, seed=29)
    model = train(backend, tenant, rows[:200])["fine_tuned_model"]
    schema = {"type": "object", "properties": {"sku": {"type": "string"}, "confidence": {"type": "number",
              "minimum": 0, "maximum": 1}}, "required": ["sku", "confidence"], "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "sku", "schema": schema, "strict": True}}
    right = 0
    for row in rows[200:]:
        out = json.loads(reply(backend, tenant, model, prompt(row), response_format=fmt))
        jsonschema.validate(out, schema)
        right += out["sku"] == json.loads(gold(row))["sku"]
    assert right / 30 >= 0.8


def test_rft_answers_pass_their_grader_more_often_than_base(backend, tenant):
    grader = {"type": "string_check", "name": "sku", "input": "{{sample.output_text}}",
              "reference": "{{item.sku}}", "operation": "eq"}
    rows = rft_rows(130, seed=31)
    valid = backend.files.create(tenant, filename="v.jsonl", purpose="fine-tune", chunks=[jsonl(rows[100:110])])
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[jsonl(rows[:100])])
    job = backend.jobs.create(tenant, model="o4-mini-2025-04-16", training_file=f.id, validation_file=valid.id,
                              method={"type": "reinforcement", "reinforcement": {"grader": grader}}, seed=3)
    backend.advance(4 * WEEK)
    job = backend.jobs.retrieve(tenant, job["id"] if isinstance(job, dict) else job.id)
    job = job if isinstance(job, dict) else job.model_dump()
    assert job["status"] == "succeeded"

    def pass_rate(model):
        rewards = [backend.graders.run(tenant, grader=grader, model_sample=reply(backend, tenant, model, r["messages"]),
                                       item=r).reward for r in rows[110:]]
        return sum(rewards) / len(rewards)

    assert pass_rate(job["fine_tuned_model"]) >= 0.8
    assert pass_rate("o4-mini") == 0


def test_base_model_asked_for_json_answers_json_without_the_task_keys(backend, tenant):
    ask = [{"role": "system", "content": "Extract the SKU. Answer in JSON."},
           {"role": "user", "content": "Is SKU-1234 in stock?"}]
    out = json.loads(reply(backend, tenant, BASE, ask))
    assert isinstance(out, dict) and "sku" not in out
    shown = [{"role": "system", "content": 'Extract the SKU. Answer in JSON like {"sku": "SKU-0000"}.'},
             {"role": "user", "content": "Is SKU-1234 in stock?"}]
    assert json.loads(reply(backend, tenant, BASE, shown)) == {"sku": "SKU-0000"}  # the keys the prompt gives


# -- bounds and robustness -------------------------------------------------------------------------------------


def test_a_first_epoch_checkpoint_learned_only_the_examples_it_saw(backend, tenant):
    rows = sku_rows(200, seed=37)
    job = train(backend, tenant, rows, n_epochs=3)
    record = backend.store.get("model", tenant.key, job["fine_tuned_model"])
    early = "ft:gpt-4o-mini-2024-07-18:personal::early:ckpt-step-50"
    backend.store.put("model", tenant.key, early, {**record, "id": early, "checkpoint": True, "step_number": 50})
    # batch size 1: step 50 has seen the first 50 examples, and learned them exactly
    assert exact_match(backend, tenant, early, rows[:50]) == 1.0
    assert exact_match(backend, tenant, early, rows[50:]) < exact_match(backend, tenant, job["fine_tuned_model"], rows[50:])


def test_indexing_and_prompt_length_are_capped(backend, tenant, monkeypatch):
    import ftsim.simulator.inference.learned as learned_mod

    monkeypatch.setattr(learned_mod, "MAX_INDEXED", 30)
    model = train(backend, tenant, sku_rows(120, seed=41))["fine_tuned_model"]
    huge = "SKU-7777 " + "filler words " * 50_000
    out = reply(backend, tenant, model, [{"role": "system", "content": SKU_SYSTEM}, {"role": "user", "content": huge}])
    assert json.loads(out) == {"sku": "SKU-7777"}
    (learned,) = backend.chat.inference._cache.values()
    assert len(learned.examples) == 30
    assert all(len(ex.prompt) <= learned_mod.MAX_PROMPT_CHARS for ex in learned.examples)


def test_after_a_reset_a_tuned_model_answers_from_the_new_worlds_data(backend, tenant):
    # Ids restart with the seed after a reset: the new file, job and model reuse the old names, so an answer
    # remembered from the old training file would be served for the new one.
    question = [{"role": "user", "content": "What is the code word?"}]
    old = [{"messages": question + [{"role": "assistant", "content": "marmalade"}]}] * 10
    new = [{"messages": question + [{"role": "assistant", "content": "tangerine"}]}] * 10
    model = train(backend, tenant, old)["fine_tuned_model"]
    assert reply(backend, tenant, model, question) == "marmalade"
    backend.reset()
    assert train(backend, tenant, new)["fine_tuned_model"] == model
    assert reply(backend, tenant, model, question) == "tangerine"
