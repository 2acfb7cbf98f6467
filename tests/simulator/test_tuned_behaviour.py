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
from tests.simulator.tuned_data import (
    SKU_SYSTEM, TICKET_WORDS, dpo_rows, jsonl, sku_rows, style_rows, ticket_rows,
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
