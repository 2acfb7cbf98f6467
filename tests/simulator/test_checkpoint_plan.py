"""At most 3 checkpoints, the newest, after pause and resume (reference §3.3, §9.4; audit 2)."""

from __future__ import annotations

import json
import math
import re

import pytest

from ftsim.simulator.fine_tuning import checkpoints as checkpoint_plan
from ftsim.simulator.fine_tuning.types import FineTuningJob, JobPlan, JobRecord

MINI = "gpt-4.1-mini-2025-04-14"
CKPT = re.compile(rf"^ft:{re.escape(MINI)}:[a-z0-9-]+:(?:[A-Za-z0-9_-]*):[A-Za-z0-9]{{8}}:ckpt-step-(\d+)$")
FINAL = re.compile(rf"^ft:{re.escape(MINI)}:[a-z0-9-]+:(?:[A-Za-z0-9_-]*):[A-Za-z0-9]{{8}}$")


def _chat(n: int) -> bytes:
    rows = [{"messages": [{"role": "user", "content": f"Spell the number {i} in words, please."},
                          {"role": "assistant", "content": f"The number is {i}."}]} for i in range(n)]
    return "\n".join(json.dumps(r) for r in rows).encode()


def _plan(backend, job_id: str) -> JobPlan:
    """The job's stored plan (typed), whatever its tenant."""
    return next(JobRecord.from_row(r).plan for _, r in backend.store.scan("job") if r["id"] == job_id)


def _checkpoints(backend, tenant, job_id: str) -> list[dict]:
    return backend.jobs.list_checkpoints(tenant, job_id, limit=100)["data"]


def _run_to_step(backend, tenant, job_id: str, step: int) -> int:
    """Advance the clock to the time of `step` (the step clock groups steps by whole seconds); steps done."""
    backend.advance(_plan(backend, job_id).validate_until - backend.now())  # validated, queued
    plan = _plan(backend, job_id)
    assert plan.steps_done < step
    at = plan.run_start + math.ceil((step - plan.from_step) * plan.sec_per_step - 1e-9)
    backend.advance(at - backend.now())
    return _plan(backend, job_id).steps_done


@pytest.mark.parametrize("pause_at", [78, 30])  # between the kept epoch ends 72 and 84; before them
def test_pause_resume_keeps_at_most_three_newest_checkpoints(backend, tenant, pause_at):
    f = backend.files.create(tenant, filename="d.jsonl", purpose="fine-tune", chunks=[_chat(12)])
    job = backend.jobs.create(tenant, model=MINI, training_file=f.id)  # 12 examples: 8 epochs x 12 steps = 96
    done = _run_to_step(backend, tenant, job.id, pause_at)
    plan = _plan(backend, job.id)
    assert plan.total_steps == 96 and plan.steps_per_epoch == 12
    assert done % 12 != 0
    backend.jobs.pause(tenant, job.id)
    assert done in [c["step_number"] for c in _checkpoints(backend, tenant, job.id)]
    backend.jobs.resume(tenant, job.id)
    backend.advance(7 * 86400)
    final = backend.jobs.retrieve(tenant, job.id)
    assert final.status == "succeeded"

    ckpts = _checkpoints(backend, tenant, job.id)
    steps = [c["step_number"] for c in ckpts]
    assert len(ckpts) <= 3
    assert steps == sorted(steps, reverse=True) and steps[0] == 96
    assert steps == ([96, 84, done] if done > 72 else [96, 84, 72])
    assert ckpts[0]["fine_tuned_model_checkpoint"] == final.fine_tuned_model
    assert FINAL.match(final.fine_tuned_model)
    for c in ckpts[1:]:
        m = CKPT.match(c["fine_tuned_model_checkpoint"])
        assert m and int(m.group(1)) == c["step_number"]
    # the dropped checkpoint's model is gone too; the kept ones are served
    tuned = {m["id"] for _, m in backend.store.scan("model", tenant.key)}
    assert {c["fine_tuned_model_checkpoint"] for c in ckpts} <= tuned
    assert len([m for m in tuned if m.startswith(final.fine_tuned_model.rsplit(":", 1)[0])]) >= 1
    assert sum(1 for _, m in backend.store.scan("model", tenant.key) if m.get("fine_tuning_job_id") == job.id) == 3
    page = backend.jobs.list_checkpoints(tenant, job.id, limit=100)
    assert page["first_id"] == ckpts[0]["id"] and page["last_id"] == ckpts[-1]["id"]


def test_add_checkpoint_drops_the_oldest_beyond_three():
    class Out:
        def __init__(self) -> None:
            self.checkpoints, self.models, self.dropped = [], [], []

    job = JobRecord(
        job=FineTuningJob(id="ftjob-x", model=MINI, created_at=0, organization_id="org-x", status="running",
                          training_file="file-t", seed=1, method={"type": "supervised", "supervised": {}}),
        plan=JobPlan(seed=1, snapshot=MINI, org_slug="personal", tenant=["org-x", "personal", "proj_x"],
                     model_name="ft:final-not-a-checkpoint", validate_until=0))
    out = Out()
    for step in (10, 15, 20, 30):
        name = checkpoint_plan.ckpt_name(job, step)
        checkpoint_plan.add_checkpoint(job, out, step, 1000 + step, name, lambda s: {"step": s})
    assert [s for s, _, _ in job.plan.kept] == [15, 20, 30]
    assert out.dropped == [{"checkpoint_id": out.checkpoints[0]["id"],
                            "model": out.checkpoints[0]["fine_tuned_model_checkpoint"]}]
