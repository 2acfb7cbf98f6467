"""RFT checkpoints (reference §3.3): one at each validation step, the three with the highest valid_reward_mean kept.

The expected sets are computed here from `reward_metrics_at` alone (the seeded curve the job's metrics events
show), by the rule as the reference states it: rank by `valid_reward_mean`, newer step first on ties. A pause
checkpoint off a validation step ranks by the latest validation step at or before it (lowest when none: the
simulator's documented assumption).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.fine_tuning import checkpoints as checkpoint_plan

from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.fine_tuning.types import FineTuningJob, JobPlan, JobRecord
from ftsim.simulator.fine_tuning.loss_curve import reward_metrics_at

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
O4 = "o4-mini-2025-04-16"
GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}
T0 = 1_793_491_200
N_TRAIN = 12  # lines of fixtures/datasets/rft_train.jsonl


# -- the expected rule, independently ----------------------------------------------------------------------------


def _valid_rewards(seed: int, total: int, every: int) -> dict[int, float]:
    """{validation step: valid_reward_mean} as the job's metrics show them."""
    out = {}
    for step in range(1, total + 1):
        v = reward_metrics_at(seed, step, total, eval_every=every, grader=GRADER)["scores"]["valid_reward_mean"]
        if v is not None:
            out[step] = v
    return out


def _best3(candidates: dict[int, float | None]) -> list[int]:
    """The 3 steps with the highest reward (None lowest), the newer step winning ties; newest first."""
    order = sorted(candidates, key=lambda s: (-math.inf if candidates[s] is None else candidates[s], s), reverse=True)
    return sorted(order[:3], reverse=True)


# -- through the service -----------------------------------------------------------------------------------------


def _files(backend, tenant) -> tuple[str, str]:
    train = backend.files.create(tenant, filename="t.jsonl", purpose="fine-tune",
                                 chunks=[(FIXTURES / "rft_train.jsonl").read_bytes()]).id
    valid = backend.files.create(tenant, filename="v.jsonl", purpose="fine-tune",
                                 chunks=[(FIXTURES / "rft_valid.jsonl").read_bytes()]).id
    return train, valid


def _create(backend, tenant, *, seed: int, every: int, n_epochs: int = 2, batch: int = 1):
    train, valid = _files(backend, tenant)
    hp = {"eval_interval": every, "n_epochs": n_epochs, "batch_size": batch}
    return backend.jobs.create(tenant, model=O4, training_file=train, validation_file=valid, seed=seed,
                               method={"type": "reinforcement", "reinforcement": {"grader": GRADER,
                                                                                  "hyperparameters": hp}})


def _plan(backend, job_id: str) -> JobPlan:
    """The job's stored plan (typed), whatever its tenant."""
    return next(JobRecord.from_row(r).plan for _, r in backend.store.scan("job") if r["id"] == job_id)


def _checkpoints(backend, tenant, job_id: str) -> list[dict]:
    return backend.jobs.list_checkpoints(tenant, job_id, limit=100)["data"]


def _job_models(backend, tenant, job_id: str) -> set[str]:
    return {m["id"] for _, m in backend.store.scan("model", tenant.key) if m.get("fine_tuning_job_id") == job_id}


def _run_to_step(backend, job_id: str, step: int) -> int:
    """Advance the clock to the time of `step`; the steps done."""
    backend.advance(_plan(backend, job_id).validate_until - backend.now())
    plan = _plan(backend, job_id)
    at = plan.run_start + math.ceil((step - plan.from_step) * plan.sec_per_step - 1e-9)
    backend.advance(at - backend.now())
    return _plan(backend, job_id).steps_done


def _end_checkpoint_events(backend, tenant, job_id: str) -> list[int]:
    events = backend.jobs.list_events(tenant, job_id, limit=100)["data"]  # newest first, as listed
    return [int(m.group(1)) for e in events
            if (m := re.match(r"^Checkpoint created at step (\d+) with Snapshot ID: ", e["message"]))]


@pytest.mark.parametrize(("seed", "every"), [(1, 2), (5, 3), (11, 5), (7, 1)])
def test_a_finished_rft_job_keeps_the_three_best_validation_checkpoints(backend, tenant, seed, every):
    job = _create(backend, tenant, seed=seed, every=every)
    backend.advance(30 * 86400)
    final = backend.jobs.retrieve(tenant, job.id)
    assert final.status == "succeeded"
    total = _plan(backend, job.id).total_steps
    assert total == 2 * N_TRAIN
    rewards = _valid_rewards(seed, total, every)
    expected = _best3(rewards)
    ckpts = _checkpoints(backend, tenant, job.id)
    assert [c["step_number"] for c in ckpts] == expected
    for c in ckpts:
        assert c["metrics"] == {"step": c["step_number"]}
        name = c["fine_tuned_model_checkpoint"]
        if c["step_number"] == total:
            assert name == final.fine_tuned_model
        else:
            assert name.endswith(f":ckpt-step-{c['step_number']}") and name != final.fine_tuned_model
    # the kept checkpoint models are served, the ranked-out ones are gone, the job's model always stays
    names = {c["fine_tuned_model_checkpoint"] for c in ckpts}
    assert _job_models(backend, tenant, job.id) == names | {final.fine_tuned_model}
    # end-of-job events: one per non-final kept checkpoint, newest first
    assert _end_checkpoint_events(backend, tenant, job.id) == [s for s in expected if s != total]


def _seed_whose_final_ranks_out(total: int, every: int) -> int:
    for seed in range(200):
        if total not in _best3(_valid_rewards(seed, total, every)):
            return seed
    raise AssertionError("no seed in range ranks the final checkpoint out")


def test_the_final_model_survives_when_its_checkpoint_ranks_out(backend, tenant, http):
    seed = _seed_whose_final_ranks_out(2 * N_TRAIN, 2)
    job = _create(backend, tenant, seed=seed, every=2)
    backend.advance(30 * 86400)
    final = backend.jobs.retrieve(tenant, job.id)
    assert final.status == "succeeded" and final.fine_tuned_model
    ckpts = _checkpoints(backend, tenant, job.id)
    assert len(ckpts) == 3 and 2 * N_TRAIN not in [c["step_number"] for c in ckpts]
    assert final.fine_tuned_model not in {c["fine_tuned_model_checkpoint"] for c in ckpts}
    assert backend.models.get(tenant, final.fine_tuned_model).id == final.fine_tuned_model
    auth = {"Authorization": "Bearer sk-alice"}
    assert http.get(f"/v1/models/{final.fine_tuned_model}", headers=auth).status_code == 200
    res = http.post("/v1/chat/completions", headers=auth,
                    json={"model": final.fine_tuned_model, "messages": [{"role": "user", "content": "hi"}]})
    assert res.status_code == 200, res.text
    assert final.fine_tuned_model in {m["id"] for m in backend.models.list(tenant)["data"]}


def _seed_whose_latest_validation_is_kept(pause: int, every: int, total: int) -> int:
    for seed in range(200):
        rewards = {s: v for s, v in _valid_rewards(seed, total, every).items() if s <= pause}
        if len(rewards) >= 3 and max(rewards) in _best3(rewards) and min(rewards) not in _best3(rewards):
            return seed
    raise AssertionError("no seed in range keeps the latest validation checkpoint")


def test_a_pause_off_a_validation_step_ranks_by_the_latest_validation(backend, tenant):
    every, pause_at, total = 2, 9, 2 * N_TRAIN
    seed = _seed_whose_latest_validation_is_kept(pause_at, every, total)
    job = _create(backend, tenant, seed=seed, every=every)
    assert _run_to_step(backend, job.id, pause_at) == pause_at
    rewards = _valid_rewards(seed, total, every)
    so_far = {s: v for s, v in rewards.items() if s <= pause_at}
    assert [c["step_number"] for c in _checkpoints(backend, tenant, job.id)] == _best3(so_far)
    backend.jobs.pause(tenant, job.id)
    # ranked by step 8's reward, and newer than step 8 on that tie: it stays, the lowest of the others goes
    with_pause = {**so_far, pause_at: rewards[pause_at - 1]}
    assert pause_at in _best3(with_pause)
    assert [c["step_number"] for c in _checkpoints(backend, tenant, job.id)] == _best3(with_pause)
    backend.jobs.resume(tenant, job.id)
    backend.advance(30 * 86400)
    assert backend.jobs.retrieve(tenant, job.id).status == "succeeded"
    expected = _best3({**rewards, pause_at: rewards[pause_at - 1]})
    assert [c["step_number"] for c in _checkpoints(backend, tenant, job.id)] == expected
    paused = [e for e in backend.jobs.list_events(tenant, job.id, limit=100)["data"]
              if e["message"].startswith(f"Checkpoint created at step {pause_at} ")]
    assert len(paused) == 1  # announced once, at the pause


def test_a_pause_before_any_validation_ranks_lowest(backend, tenant):
    job = _create(backend, tenant, seed=4, every=6)
    done = _run_to_step(backend, job.id, 3)
    assert 0 < done < 6
    backend.jobs.pause(tenant, job.id)
    ckpts = _checkpoints(backend, tenant, job.id)
    assert [c["step_number"] for c in ckpts] == [done]
    paused_name = ckpts[0]["fine_tuned_model_checkpoint"]
    assert paused_name in _job_models(backend, tenant, job.id)
    backend.jobs.resume(tenant, job.id)
    backend.advance(30 * 86400)
    total = _plan(backend, job.id).total_steps
    steps = [c["step_number"] for c in _checkpoints(backend, tenant, job.id)]
    assert steps == _best3(_valid_rewards(4, total, 6)) and done not in steps
    assert paused_name not in _job_models(backend, tenant, job.id)


def test_a_pause_on_a_validation_step_adds_no_second_checkpoint(backend, tenant):
    job = _create(backend, tenant, seed=8, every=1)  # every step is a validation step
    done = _run_to_step(backend, job.id, 9)
    before = [c["id"] for c in _checkpoints(backend, tenant, job.id)]
    backend.jobs.pause(tenant, job.id)
    assert [c["id"] for c in _checkpoints(backend, tenant, job.id)] == before
    events = backend.jobs.list_events(tenant, job.id, limit=5)["data"]
    assert events[0]["message"] == f"Fine-tuning job paused at step {done}/{2 * N_TRAIN}"
    assert not events[1]["message"].startswith("Checkpoint created")


# -- the pure state machine, over open-ended plans ---------------------------------------------------------------


def _pure_job(seed: int, every: int) -> JobRecord:
    hp = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto", "eval_interval": every,
          "eval_samples": "auto", "compute_multiplier": "auto", "reasoning_effort": "default"}
    job = FineTuningJob.model_validate({
        "object": "fine_tuning.job", "id": f"ftjob-rft{seed}", "model": O4, "created_at": T0,
        "organization_id": "org-x",
        "status": "validating_files", "validation_file": "file-v", "training_file": "file-t",
        "hyperparameters": None, "user_provided_suffix": None, "seed": seed, "error": {}, "finished_at": None,
        "fine_tuned_model": None, "trained_tokens": None,
        "method": {"type": "reinforcement", "reinforcement": {"hyperparameters": hp, "grader": GRADER}},
    })
    plan = JobPlan(seed=seed, snapshot=O4, org_slug="personal", tenant=["org-x", "personal", "proj_x"],
                   model_name=lifecycle.model_name(O4, "personal", None, f"ftjob-rft{seed}"),
                   validate_until=T0 + 40, outcome=None, seq=0)
    return JobRecord(job=job, plan=plan)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), every=st.integers(1, 8), n=st.integers(1, 30),
       epochs=st.integers(1, 3), batch=st.integers(1, 4), cuts=st.lists(st.floats(0.0, 1.0), max_size=4))
def test_kept_rft_checkpoints_are_always_the_best_three_so_far(seed, every, n, epochs, batch, cuts):
    job = lifecycle.resolve_plan(_pure_job(seed, every), n_examples=n, tokens_per_epoch=1000, auto_epochs=epochs,
                                 auto_batch=batch, lr_default=1.0, tps=200, n_validation=3)
    plan = job.plan
    total = plan.total_steps
    rewards = _valid_rewards(seed, total, every)
    end = plan.start_at + math.ceil(total * plan.sec_per_step) + 7 * 86400
    created, dropped = [], []
    for cut in sorted(cuts) + [1.0]:  # advancing in chunks or at once gives the same world
        adv = lifecycle.advance(job, int(plan.start_at + cut * (end - plan.start_at)))
        job, plan = adv.record, adv.record.plan
        created += [c["step_number"] for c in adv.checkpoints]
        dropped += adv.dropped
        kept = [s for s, _, _ in plan.kept or []]
        assert len(kept) <= checkpoint_plan.KEEP
        so_far = {s: v for s, v in rewards.items() if s <= plan.steps_done}
        assert sorted(kept, reverse=True) == _best3(so_far)
        assert {int(k): v for k, v in (plan.kept_rewards or {}).items()} == {s: rewards[s] for s in kept}
    assert job.job.status == "succeeded" and job.job.fine_tuned_model == plan.model_name
    assert created == sorted(rewards)  # a checkpoint at each validation step, the final one included
    assert len(dropped) == len(created) - len(plan.kept)
    assert all(d["model"] != plan.model_name for d in dropped)  # the job's model is never deleted
    if total not in [s for s, _, _ in plan.kept]:
        assert {"checkpoint_id": checkpoint_plan.checkpoint_record(job, total, 0, "", {})["id"], "model": None} \
            in dropped


def test_add_checkpoint_ranks_rft_by_reward_and_sft_by_age():
    class Out:
        def __init__(self) -> None:
            self.checkpoints, self.models, self.dropped = [], [], []

    def run(kind: str, plan: list[tuple[int, float | None]]) -> tuple[JobRecord, Out]:
        job = JobRecord(
            job=FineTuningJob(id="ftjob-x", model=O4, created_at=T0, organization_id="org-x", status="running",
                              training_file="file-t", seed=1, method={"type": kind, kind: {}}),
            plan=JobPlan(seed=1, snapshot=O4, org_slug="personal", tenant=["org-x", "personal", "proj_x"],
                         model_name="ft:final", validate_until=T0))
        out = Out()
        for step, reward in plan:
            name = "ft:final" if step == 50 else checkpoint_plan.ckpt_name(job, step)
            checkpoint_plan.add_checkpoint(job, out, step, 1000 + step, name, lambda s: {"step": s},
                                           model=step != 50, reward=reward)
        return job, out

    plan = [(5, None), (10, 0.7), (20, 0.9), (30, 0.7), (40, 0.8), (50, 0.6)]
    job, out = run("reinforcement", plan)
    assert [s for s, _, _ in job.plan.kept] == [20, 30, 40]  # 30 beats 10 on the tie: newer
    assert [d["model"] for d in out.dropped] == [None if s == 50 else checkpoint_plan.ckpt_name(job, s)
                                                 for s in (5, 10, 50)]
    job, out = run("supervised", plan)
    assert [s for s, _, _ in job.plan.kept] == [30, 40, 50]
    assert "kept_rewards" not in job.plan.model_dump(exclude_unset=True)
