"""The pure state machine: declared transitions, catch-up in one call, pause/resume, failures, determinism."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.fine_tuning.types import FineTuningJob, InjectedFault, JobPlan, JobRecord, Method
from ftsim.simulator.core.errors import BadRequestError

T0 = 1_793_491_200


def _job(*, job_id="ftjob-abc", validation_file=None, kind="supervised", seed=42, suffix=None) -> JobRecord:
    hp = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto"}
    public = {
        "object": "fine_tuning.job", "id": job_id, "model": "gpt-4o-mini-2024-07-18", "created_at": T0,
        "finished_at": None, "fine_tuned_model": None, "organization_id": "org-x", "result_files": [],
        "status": "validating_files", "validation_file": validation_file, "training_file": "file-t",
        "hyperparameters": dict(hp) if kind == "supervised" else None, "trained_tokens": None, "error": {},
        "user_provided_suffix": suffix, "seed": seed, "estimated_finish": None, "integrations": [],
        "metadata": None, "usage_metrics": None, "shared_with_openai": False, "eval_id": None,
        "method": {"type": kind, kind: {"hyperparameters": dict(hp)}},
    }
    plan = JobPlan(seed=seed, snapshot="gpt-4o-mini-2024-07-18", org_slug="personal",
                   tenant=["org-x", "personal", "proj_x"],
                   model_name=lifecycle.model_name("gpt-4o-mini-2024-07-18", "personal", suffix, job_id),
                   validate_until=T0 + 47, outcome=None, seq=0)
    return JobRecord(job=FineTuningJob.model_validate(public), plan=plan)


def _planned(n=80, **kw) -> JobRecord:
    return lifecycle.resolve_plan(_job(**kw), n_examples=n, tokens_per_epoch=n * 1265, auto_epochs=3,
                                  auto_batch=1, lr_default=1.8, tps=870)  # the catalog's gpt-4o-mini


def _run_all(job, times):
    events, ckpts, models = [], [], []
    for t in times:
        adv = lifecycle.advance(job, t)
        job = adv.record
        events += adv.events
        ckpts += adv.checkpoints
        models += adv.models
    return job, events, ckpts, models


def test_transitions_are_declared_and_wrong_state_is_a_400_not_409():
    assert lifecycle.transition("paused", "resume") == "queued"
    assert lifecycle.transition("running", "pause") == "paused"
    for status in ("validating_files", "queued", "running", "paused"):
        assert lifecycle.transition(status, "cancel") == "cancelled"
    for status in lifecycle.TERMINAL:
        for action in ("cancel", "pause", "resume"):
            with pytest.raises(BadRequestError) as info:
                lifecycle.transition(status, action, "ftjob-1")
            assert info.value.status_code == 400
    with pytest.raises(BadRequestError):
        lifecycle.transition("queued", "pause")


def test_nothing_happens_before_validation_is_due_or_attached():
    adv = lifecycle.advance(_job(), T0 + 10)
    assert adv.events == [] and adv.record.job.status == "validating_files" and adv.next_due == T0 + 47
    assert not lifecycle.needs_validation(_job(), T0 + 46)
    assert lifecycle.needs_validation(_job(), T0 + 47)


def test_resolve_plan_mirrors_auto_values_and_computes_steps():
    job = _planned(n=80)
    hp = job.job.method.supervised.hyperparameters
    assert hp == {"batch_size": 1, "learning_rate_multiplier": 1.8, "n_epochs": 3}
    assert job.job.hyperparameters.model_dump() == {"n_epochs": 3, "batch_size": 1, "learning_rate_multiplier": 1.8}
    assert job.plan.total_steps == 240


def test_catch_up_emits_the_whole_real_sequence_in_one_call():
    job, events, ckpts, models = _run_all(_planned(n=80), [T0 + 10 * 3600])
    assert job.job.status == "succeeded"
    messages = [e["message"] for e in events]
    assert messages[0] == "Files validated, moving job to queued state"
    assert messages[1] == "Fine-tuning job started" and events[1]["data"] is None
    steps = [e for e in events if e["type"] == "metrics"]
    assert len(steps) == 240 and steps[0]["message"].startswith("Step 1/240: training loss=")
    assert set(steps[0]["data"]) == {"step", "train_loss", "total_steps", "train_mean_token_accuracy"}
    assert messages[-4:-1] == [  # chronological: lower step first, so the newest-first list shows 160 above 80
        f"Checkpoint created at step 80 with Snapshot ID: {ckpts[0]['fine_tuned_model_checkpoint']}",
        f"Checkpoint created at step 160 with Snapshot ID: {ckpts[1]['fine_tuned_model_checkpoint']}",
        f"New fine-tuned model created: {job.job.fine_tuned_model}",
    ]
    assert messages[-1] == "The job has successfully completed"
    times = [e["created_at"] for e in events]
    assert times == sorted(times)
    # real timings: last step to model-created 10 s, to completed 15 s, finished_at 2 s before model-created
    last_step = steps[-1]["created_at"]
    assert events[-1]["created_at"] - last_step == 15
    assert job.job.finished_at == last_step + 8
    assert 600 <= last_step - T0 <= 900  # ~3 s a step, as the real 80-example job
    assert job.job.trained_tokens == 3 * 80 * 1265


def test_checkpoints_last_three_epochs_newest_named_like_the_model():
    job = lifecycle.resolve_plan(_job(suffix="s"), n_examples=20, tokens_per_epoch=2000, auto_epochs=5,
                                 auto_batch=1, lr_default=1.8, tps=420)
    job, _, ckpts, models = _run_all(job, [T0 + 10 * 3600])
    assert [c["step_number"] for c in ckpts] == [60, 80, 100]
    assert ckpts[-1]["fine_tuned_model_checkpoint"] == job.job.fine_tuned_model
    for c in ckpts[:-1]:
        name = c["fine_tuned_model_checkpoint"]
        assert name.endswith(f":ckpt-step-{c['step_number']}")
        parts = name.split(":")
        assert parts[:4] == ["ft", "gpt-4o-mini-2024-07-18", "personal", "s"] and len(parts[4]) == 8
        assert parts[4] != job.job.fine_tuned_model.split(":")[4]
        assert c["id"].startswith("ftckpt_") and len(c["id"]) == 7 + 24
    assert {m["id"] for m in models} == {c["fine_tuned_model_checkpoint"] for c in ckpts}


def test_model_name_has_empty_suffix_segment():
    name = lifecycle.model_name("gpt-3.5-turbo-0613", "personal", None, "ftjob-1")
    assert name.startswith("ft:gpt-3.5-turbo-0613:personal::") and len(name.split(":")[4]) == 8


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1200), min_size=1, max_size=8))
def test_advancing_in_pieces_gives_the_same_world_as_one_jump(offsets):
    times = sorted(T0 + o for o in offsets) + [T0 + 5000]
    piecewise = _run_all(_planned(n=30, validation_file="file-v"), times)
    at_once = _run_all(_planned(n=30, validation_file="file-v"), [T0 + 5000])
    assert piecewise[0] == at_once[0]
    assert piecewise[1:] == at_once[1:]


def test_same_seed_same_world_other_seed_other_curve():
    a = _run_all(_planned(seed=1), [T0 + 9999])
    b = _run_all(_planned(seed=1), [T0 + 9999])
    c = _run_all(_planned(seed=2), [T0 + 9999])
    assert a == b
    assert [e["data"] for e in a[1] if e["type"] == "metrics"] != [e["data"] for e in c[1] if e["type"] == "metrics"]


def test_validation_metrics_in_messages_with_a_validation_file():
    _, events, _, _ = _run_all(_planned(n=30, validation_file="file-v"), [T0 + 9999])
    step10 = next(e for e in events if e["type"] == "metrics" and e["data"]["step"] == 10)
    assert ", validation loss=" in step10["message"] and "valid_mean_token_accuracy" in step10["data"]
    step30 = next(e for e in events if e["type"] == "metrics" and e["data"]["step"] == 30)
    assert ", full validation loss=" in step30["message"]


def test_failed_validation_keeps_finished_at_null():
    job = lifecycle.fail_validation(_job(), {"code": "invalid_n_examples", "param": "training_file",
                                             "message": "Training file has 7 example(s), but must have at least 10 examples"})
    adv = lifecycle.advance(job, T0 + 100)
    assert adv.record.job.status == "failed"
    assert adv.record.job.finished_at is None and adv.record.job.trained_tokens is None
    assert adv.record.job.error.code == "invalid_n_examples"
    assert adv.events[-1]["level"] == "error" and adv.events[-1]["message"] == adv.record.job.error.message
    assert adv.record.job.hyperparameters.n_epochs == "auto"
    assert adv.next_due is None


def test_fault_at_step_fails_there():
    job = _planned(n=30)
    job.plan.fault = InjectedFault(at_step=12, code="internal_error", message="boom", param=None)
    adv = lifecycle.advance(job, T0 + 9999)
    assert adv.record.job.status == "failed"
    assert adv.record.job.error.model_dump() == {"code": "internal_error", "message": "boom", "param": None}
    assert max(e["data"]["step"] for e in adv.events if e["type"] == "metrics") == 11
    assert adv.record.job.fine_tuned_model is None


def test_pause_snapshots_and_resume_continues_without_repeating_steps():
    job = _planned(n=30)
    adv = lifecycle.advance(job, T0 + 47 + 5 + 40)
    running = adv.record
    assert running.job.status == "running"
    done = running.plan.steps_done
    assert 0 < done < 90
    paused = lifecycle.pause(running, T0 + 92)
    assert paused.record.job.status == "paused"
    assert paused.checkpoints and paused.checkpoints[0]["step_number"] == done
    assert paused.models[0]["id"].endswith(f":ckpt-step-{done}")
    assert lifecycle.advance(paused.record, T0 + 99999).events == []  # a paused job does not move
    with pytest.raises(BadRequestError):
        lifecycle.pause(paused.record, T0 + 100)
    resumed = lifecycle.resume(paused.record, T0 + 5000)
    assert resumed.record.job.status == "queued"
    final = lifecycle.advance(resumed.record, T0 + 99999)
    assert final.record.job.status == "succeeded"
    steps = [e["data"]["step"] for e in adv.events + final.events if e["type"] == "metrics"]
    assert steps == list(range(1, 91))
    assert min(e["created_at"] for e in final.events if e["type"] == "metrics") > T0 + 5000


def test_cancel_leaves_finished_at_null_and_warns():
    adv = lifecycle.cancel(_job(), T0 + 5)
    assert adv.record.job.status == "cancelled" and adv.record.job.finished_at is None
    assert adv.events[0]["level"] == "warn"
    assert adv.events[0]["message"] == "Fine tuning process stopping due to job cancellation"
    with pytest.raises(BadRequestError):
        lifecycle.cancel(adv.record, T0 + 6)


def test_huge_jobs_thin_out_metric_events_but_keep_the_last():
    job = lifecycle.resolve_plan(_job(), n_examples=5000, tokens_per_epoch=5000 * 10, auto_epochs=3,
                                 auto_batch=1, lr_default=1.8, tps=100000)
    adv = lifecycle.advance(job, T0 + 10**7)
    metrics = [e for e in adv.events if e["type"] == "metrics"]
    assert len(metrics) <= lifecycle.MAX_METRIC_EVENTS + 1
    assert metrics[-1]["data"]["step"] == 15000


def test_reinforcement_emits_reward_messages_and_takes_hours():
    hp = {"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": "auto", "eval_interval": "auto",
          "eval_samples": "auto", "compute_multiplier": "auto", "reasoning_effort": "default"}
    job = _job(kind="reinforcement", validation_file="file-v")
    job.job.method = Method.model_validate({"type": "reinforcement", "reinforcement": {
        "hyperparameters": hp, "grader": {}, "response_format": None}})
    job = lifecycle.resolve_plan(job, n_examples=50, tokens_per_epoch=50 * 200, auto_epochs=2, auto_batch=1,
                                 lr_default=2.0, tps=200, n_validation=25)
    adv = lifecycle.advance(job, T0 + 3600)  # 100 samples + 10 evals of 25 rows: the planner's 4,800 s
    assert adv.record.job.status == "running"
    final = lifecycle.advance(adv.record, T0 + 10 * 24 * 3600)
    assert final.record.job.status == "succeeded"
    first = next(e for e in adv.events if e["type"] == "metrics")
    assert first["message"].startswith("Step 1/100 , train mean reward=")
