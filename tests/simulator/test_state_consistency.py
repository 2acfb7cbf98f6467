"""In-memory state never disagrees with what is committed: after a deletion, a rollback, a reset or a restart, a
service answers as a fresh backend on the same rows would (caches, counters, the clock)."""

from __future__ import annotations

import json

import pytest

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store
from ftsim.simulator.inference.chat import ChatCompletionRequest

MINI = "gpt-4.1-mini-2025-04-14"
TUNED = "ft:gpt-4o-mini-2024-07-18:personal:qa:abc12345"
ROWS = [{"messages": [{"role": "user", "content": "Capital of France?"}, {"role": "assistant", "content": "Paris."}]}]


def chat_lines(n: int) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                          {"role": "assistant", "content": f"{2 * i}"}]} for i in range(n)]
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode()


@pytest.fixture
def backend():
    b = Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=3))
    yield b
    b.close()


def ask(backend, tenant, text):
    req = ChatCompletionRequest(model=TUNED, messages=[{"role": "user", "content": text}])
    return backend.chat.create(tenant, req).choices[0].message.content


def test_deleting_a_file_after_the_clock_moved_catches_jobs_up_first(backend):
    """The clock moved with no request in between (a scaled clock does so on its own): the deletion used to run the
    catch-up inside its own transaction, which Backend.sync refuses (RuntimeError, a 500)."""
    tenant = backend.tenant("sk-delete")
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[chat_lines(12)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    while backend.jobs.retrieve(tenant, job.id).status == "validating_files":
        backend.advance(5)  # until validated: its end is known
    end = backend.jobs.expected_end(tenant.key, job.id)
    assert end is not None
    backend.clock.advance(end + 60 - backend.now())  # past its end; nobody has caught up yet
    backend.files.delete(tenant, f.id)
    done = backend.jobs.retrieve(tenant, job.id)
    assert done.status == "succeeded" and done.finished_at <= end  # finished before its file went: not failed


def test_a_warm_learned_cache_forgets_a_deleted_training_file(backend):
    """A tuned model answers generically once its training file is deleted (as after a restart, whose cache is
    cold); a cache warmed before the deletion used to keep answering from the deleted file."""
    tenant = backend.tenant("sk-cache")
    body = ("\n".join(json.dumps(r) for r in ROWS) + "\n").encode()
    f = backend.files.create_bytes(tenant, filename="train.jsonl", purpose="fine-tune", content=body)
    backend.store.put("model", tenant.key, TUNED, {
        "id": TUNED, "object": "model", "created": backend.now(), "owned_by": "personal",
        "fine_tuning_job_id": "ftjob-1", "base_model": "gpt-4o-mini-2024-07-18", "training_file": f.id})
    assert ask(backend, tenant, "Capital of France?") == "Paris."  # the cache is warm
    backend.files.delete(tenant, f.id)
    cold = Backend(store=backend.store, clock=ManualClock(backend.now()), config=SimConfig(seed=3))
    assert ask(backend, tenant, "Capital of France?") == ask(cold, tenant, "Capital of France?") != "Paris."
