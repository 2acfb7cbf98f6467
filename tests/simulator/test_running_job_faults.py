"""A step fault rule naming a job that is already past validation still fails it (issue 17's "fail at step N").

Rules used to be read only when a job's files were validated, so a rule added while the job ran did nothing."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ftsim.simulator.core.backend import Backend, SimConfig
from ftsim.simulator.core.clock import ManualClock
from ftsim.simulator.core.store import Store
from tests.simulator.test_fine_tuning_jobs import all_events

MINI = "gpt-4.1-mini-2025-04-14"
DAY = 24 * 3600


def _lines(n: int) -> bytes:
    return "\n".join(json.dumps({"messages": [{"role": "user", "content": f"What is {i} + {i}?"},
                                              {"role": "assistant", "content": f"{2 * i}"}]})
                     for i in range(n)).encode()


def _world() -> Backend:
    return Backend(store=Store(":memory:"), clock=ManualClock(), config=SimConfig(seed=1))


def _steps(backend, tenant, job_id) -> list[int]:
    return sorted(e["data"]["step"] for e in all_events(backend, tenant, job_id) if e["type"] == "metrics")


def _running(backend, tenant, *, done_at_least: int, key: str = "sk-alice"):
    """A job of `key`'s organization, running with at least `done_at_least` steps trained (and not all)."""
    f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[_lines(30)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
    for _ in range(10_000):
        backend.advance(5)
        if backend.jobs.retrieve(tenant, job.id).status == "running" and \
                len(_steps(backend, tenant, job.id)) >= done_at_least:
            break
    assert backend.jobs.retrieve(tenant, job.id).status == "running"
    return job.id


@pytest.fixture
def world():
    b = _world()
    yield b
    b.close()


def test_a_rule_added_while_the_job_runs_fails_it_at_that_step_on_the_clock(world):
    tenant = world.tenant("sk-alice")
    job_id = _running(world, tenant, done_at_least=2)
    done = len(_steps(world, tenant, job_id))
    target = done + 3
    added_at = world.now()
    rule = world.faults.add(kind="job", stage="step", step=target, job_id=job_id, api_key="sk-alice",
                            code="boom", message="Injected mid-run.")
    assert rule.hits == 1 and rule.remaining == 0  # taken by the running job at once
    assert world.jobs.retrieve(tenant, job_id).status == "running"  # not yet: the step is still to come
    world.advance(7 * DAY)
    job = world.jobs.retrieve(tenant, job_id)
    assert job.status == "failed" and job.error.code == "boom" and job.error.message == "Injected mid-run."
    assert _steps(world, tenant, job_id) == list(range(1, target))  # trained up to N-1, never step N
    failed_at = next(e["created_at"] for e in all_events(world, tenant, job_id) if e["level"] == "error")
    assert failed_at > added_at  # at step N's time on the simulated clock, not when the rule was added


def test_a_step_already_past_fails_the_job_at_its_next_step(world):
    tenant = world.tenant("sk-alice")
    job_id = _running(world, tenant, done_at_least=4)
    done = len(_steps(world, tenant, job_id))
    world.faults.add(kind="job", stage="step", step=1, job_id=job_id)  # no api_key: found among every tenant
    world.advance(7 * DAY)
    assert world.jobs.retrieve(tenant, job_id).status == "failed"
    assert _steps(world, tenant, job_id) == list(range(1, done + 1))


def test_a_paused_job_takes_the_rule_and_fails_after_resuming(world):
    tenant = world.tenant("sk-alice")
    job_id = _running(world, tenant, done_at_least=2)
    world.jobs.pause(tenant, job_id)
    paused_at = len(_steps(world, tenant, job_id))
    world.faults.add(kind="job", stage="step", step=paused_at + 2, job_id=job_id, api_key="sk-alice")
    world.advance(DAY)
    assert world.jobs.retrieve(tenant, job_id).status == "paused"
    world.jobs.resume(tenant, job_id)
    world.advance(7 * DAY)
    assert world.jobs.retrieve(tenant, job_id).status == "failed"
    assert _steps(world, tenant, job_id) == list(range(1, paused_at + 2))


def test_rules_that_cannot_bite_a_running_job_leave_it_alone(world):
    alice, bob = world.tenant("sk-alice"), world.tenant("sk-bob")
    job_id = _running(world, alice, done_at_least=1)
    bobs = world.faults.add(kind="job", stage="step", step=50, job_id=job_id, api_key="sk-bob")  # not Bob's job
    unnamed = world.faults.add(kind="job", stage="step", step=50)  # names no job: for jobs validated later
    validation = world.faults.add(kind="job", stage="validation", job_id=job_id)  # its validation is past
    assert [r.hits for r in (bobs, unnamed, validation)] == [0, 0, 0]
    world.faults.clear()
    world.advance(7 * DAY)
    assert world.jobs.retrieve(alice, job_id).status == "succeeded"
    assert world.jobs.list(bob)["data"] == []


def test_a_finished_job_leaves_the_rule_unconsumed(world):
    tenant = world.tenant("sk-alice")
    job_id = _running(world, tenant, done_at_least=1)
    world.advance(7 * DAY)
    rule = world.faults.add(kind="job", stage="step", step=1, job_id=job_id, api_key="sk-alice")
    assert rule.hits == 0 and rule.remaining == 1
    assert world.jobs.retrieve(tenant, job_id).status == "succeeded"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(wait=st.integers(0, 200), step=st.integers(1, 200))
def test_any_step_at_any_moment_fails_the_job_at_the_first_step_to_come_at_or_after_it(wait, step):
    backend = _world()
    try:
        tenant = backend.tenant("sk-alice")
        f = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[_lines(30)])
        job = backend.jobs.create(tenant, model=MINI, training_file=f.id)
        backend.advance(30)  # validating, queued or running by now
        backend.advance(wait)
        status = backend.jobs.retrieve(tenant, job.id).status
        done = len(_steps(backend, tenant, job.id))
        backend.faults.add(kind="job", stage="step", step=step, job_id=job.id)
        backend.advance(7 * DAY)
        final = backend.jobs.retrieve(tenant, job.id)
        total = backend.jobs.record(tenant.key, job.id).plan.total_steps
        if status == "validating_files":  # read at validation, as before
            expected = min(step, total)
        elif status in ("queued", "running") and done < total:
            expected = min(max(step, done + 1), total)
        else:  # its last step was trained: nothing left to fail
            assert final.status == "succeeded"
            return
        assert final.status == "failed"
        assert _steps(backend, tenant, job.id) == list(range(1, expected))
    finally:
        backend.close()
