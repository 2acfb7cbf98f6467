"""The typed job record: the public job and its private `JobPlan` apart; the service says when a job changes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ftsim.simulator.core.backend import Backend
from ftsim.simulator.fine_tuning.types import FineTuningJob, JobPlan, JobRecord

LINE = '{"messages":[{"role":"user","content":"q %d"},{"role":"assistant","content":"a %d"}]}\n'


def _job(backend, tenant):
    data = "".join(LINE % (i, i) for i in range(12)).encode()
    file_id = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[data]).id
    return backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=file_id)


@pytest.mark.parametrize("seconds", [0, 60, 600, 86400])
def test_stored_rows_split_into_a_public_job_and_a_plan_and_back(backend, tenant, seconds):
    job = _job(backend, tenant)
    backend.advance(seconds)
    row = backend.store.get("job", tenant.key, job.id)
    rec = JobRecord.from_row(row)
    assert isinstance(rec.job, FineTuningJob) and isinstance(rec.plan, JobPlan)
    assert rec.job == backend.jobs.retrieve(tenant, job.id)
    assert "_sim" not in rec.job.model_dump() and rec.plan.seed == row["_sim"]["seed"]
    assert JobRecord.from_row(rec.to_row()) == rec


def test_a_plan_missing_what_create_sets_is_refused():
    with pytest.raises(ValidationError):
        JobPlan.model_validate({"seed": 1, "snapshot": "gpt-4o-mini-2024-07-18"})


def test_the_service_says_when_a_job_changes_next_and_ends(backend, tenant):
    job = _job(backend, tenant)
    first = backend.jobs.next_change(tenant.key, job.id)
    assert first is not None and first > backend.now()
    assert backend.jobs.expected_end(tenant.key, job.id) is None  # not validated yet: unknown
    backend.advance(first - backend.now())
    end = backend.jobs.expected_end(tenant.key, job.id)
    assert end is not None and end > backend.now()
    backend.advance(end - backend.now() - 1)
    assert backend.jobs.retrieve(tenant, job.id).status == "running"
    backend.advance(1)
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"
    assert backend.jobs.next_change(tenant.key, job.id) is None
    assert backend.jobs.expected_end(tenant.key, job.id) is None


def test_a_row_in_the_stored_layout_of_earlier_versions_still_runs(backend, tenant):
    """Existing databases: the plan under `_sim`, without the keys later versions added (files_bytes), loads and the
    job runs to its end; its cost and the plan's snapshot read the same row."""
    job = _job(backend, tenant)
    backend.advance(60)
    row = backend.store.get("job", tenant.key, job.id)
    old = {k: v for k, v in row.items() if k != "_sim"}
    old["_sim"] = {k: v for k, v in row["_sim"].items() if k != "files_bytes"}
    with backend.lock, backend.store.transaction():
        backend.store.put("job", tenant.key, job.id, old)
    backend.jobs.reset()  # the schedule as a restart rebuilds it from the rows
    assert backend.jobs.schedule() == backend.jobs.schedule_from_rows()
    assert JobPlan.from_row(old).files_bytes is None
    backend.advance(30 * 86400)
    done = backend.jobs.retrieve(tenant, job.id)
    assert done.status == "succeeded" and done.fine_tuned_model
    assert backend.jobs.estimated_cost(tenant, job.id)["cost_usd"] is not None


def test_the_concurrency_count_reads_the_snapshot_of_stored_rows(backend, tenant):
    """Creates count a tenant's unfinished jobs per snapshot in SQL: rows without a plan, or with another or a
    malformed snapshot, are not counted; finished jobs are not either."""
    job = _job(backend, tenant)
    store, path = backend.store, JobPlan.SNAPSHOT_PATH
    snapshot = JobPlan.from_row(store.get("job", tenant.key, job.id)).snapshot
    terminal = ("succeeded", "failed", "cancelled")
    assert store.count_where("job", tenant.key, equal=(path, snapshot), not_in=("$.status", terminal)) == 1
    with backend.lock, store.transaction():
        store.put("job", tenant.key, "ftjob-noplan", {"id": "ftjob-noplan", "status": "running"})
        store.put("job", tenant.key, "ftjob-odd", {"id": "ftjob-odd", "status": "running", "_sim": {"snapshot": 3}})
        store.put("job", "another-tenant", "ftjob-other", {"id": "ftjob-other", "status": "running",
                                                           "_sim": {"snapshot": snapshot}})
    assert store.count_where("job", tenant.key, equal=(path, snapshot), not_in=("$.status", terminal)) == 1
    backend.jobs.cancel(tenant, job.id)
    assert store.count_where("job", tenant.key, equal=(path, snapshot), not_in=("$.status", terminal)) == 0
    assert store.count_where("job", tenant.key, equal=(path, snapshot)) == 1


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples=st.integers(min_value=10, max_value=60), epochs=st.integers(min_value=1, max_value=4),
       fault_step=st.one_of(st.none(), st.integers(min_value=1, max_value=300)),
       method=st.sampled_from(["supervised", "dpo"]), polls=st.integers(min_value=0, max_value=3))
def test_expected_end_is_when_the_job_ends(examples, epochs, fault_step, method, polls):
    """`expected_end` is computed from the timeline alone (no step records): it must be the very second the job
    becomes terminal, whatever its size, method, an injected failure at a step, or polls part-way through."""
    backend = Backend()
    try:
        tenant = backend.tenant("sk-alice")
        if method == "dpo":
            line = ('{"input":{"messages":[{"role":"user","content":"q %d"}]},"preferred_output":[{"role":'
                    '"assistant","content":"a %d"}],"non_preferred_output":[{"role":"assistant","content":"b"}]}\n')
        else:
            line = LINE
        data = "".join(line % (i, i) for i in range(examples)).encode()
        file_id = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune", chunks=[data]).id
        if fault_step is not None:
            backend.faults.add(kind="job", stage="step", step=fault_step, code="custom_code", message="Injected.")
        job = backend.jobs.create(tenant, model="gpt-4o-mini-2024-07-18", training_file=file_id, method={
            "type": method, method: {"hyperparameters": {"n_epochs": epochs}}})
        backend.advance(backend.jobs.next_change(tenant.key, job.id) - backend.now())
        end = backend.jobs.expected_end(tenant.key, job.id)
        assert end is not None and end > backend.now()
        for _ in range(polls):  # part of the run emitted first: the rest ends at the same second
            backend.advance(max(1, (end - backend.now()) // 3))
            assert backend.jobs.expected_end(tenant.key, job.id) == end  # still moving: the same second
        backend.advance(end - backend.now() - 1)
        assert backend.jobs.retrieve(tenant, job.id).status not in ("succeeded", "failed")
        backend.advance(1)
        done = backend.jobs.retrieve(tenant, job.id)
        # a fault past the last step fails the job at its last step (the service clamps it)
        assert done.status == ("succeeded" if fault_step is None else "failed")
    finally:
        backend.close()
