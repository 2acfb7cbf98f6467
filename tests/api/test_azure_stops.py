"""Azure jobs that pause by themselves (issue 16): the RFT cost cap with a deployable checkpoint, and Developer-tier
preemption; and what such jobs are billed (hand computations, to the cent)."""

from __future__ import annotations

import functools
from decimal import Decimal
from pathlib import Path
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ftsim.api.testing.simulator import Simulator, SimulatorStuck
from ftsim.simulator.core.tenancy import azure_tenant
from ftsim.simulator.fine_tuning.azure import job_cost_lines, plan_stops
from ftsim.simulator.fine_tuning.stops import stop_after
from ftsim.simulator.fine_tuning.types import JobPlan, JobRecord

ENDPOINT = "https://contoso.openai.azure.com"
O4 = "o4-mini-2025-04-16"
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
STRING_GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
                 "reference": "{{item.answer}}", "operation": "eq"}
ARM = ("/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.CognitiveServices/accounts/contoso/"
       "deployments")
ARM_VERSION = "?api-version=2024-10-21"
CAP = Decimal(5000)
HOUR = Decimal(3600)
CENT = Decimal("0.01")
# 12 examples x 50 epochs at batch 12: 50 steps of about 1.6 h at compute_multiplier 10, high effort: ~80 h in all,
# over $5,000 at o4-mini's $100 (Global) an hour
LONG = {"n_epochs": 50, "batch_size": 12, "compute_multiplier": 10, "reasoning_effort": "high", "eval_interval": 4}
pytestmark = [pytest.mark.sdk1, pytest.mark.sdk2]


def _files(client: openai.AzureOpenAI) -> dict[str, str]:
    train = client.files.create(file=("t.jsonl", (FIXTURES / "rft_train.jsonl").read_bytes()), purpose="fine-tune")
    valid = client.files.create(file=("v.jsonl", (FIXTURES / "rft_valid.jsonl").read_bytes()), purpose="fine-tune")
    return {"training_file": train.id, "validation_file": valid.id}


def _rft(client: openai.AzureOpenAI, training_type: str, grader: dict = STRING_GRADER,
         hyperparameters: dict = LONG) -> str:
    job = client.fine_tuning.jobs.create(
        model=O4, **_files(client), extra_body={"trainingType": training_type},
        method={"type": "reinforcement", "reinforcement": {"grader": grader, "hyperparameters": hyperparameters}})
    return job.id


def _record(sim: Simulator, key: str, job_id: str) -> JobRecord:
    return JobRecord.from_row(sim.backend.store.get("job", azure_tenant(sim.backend.tenancy, key).key, job_id))


def _hours(rec: JobRecord, steps: int) -> Decimal:
    return (Decimal(str(rec.plan.sec_per_step)) * steps / HOUR).quantize(CENT)


def _job_lines(sim: Simulator, key: str, job_id: str) -> list[Any]:
    return [ln for ln in sim.azure_cost(key).lines if ln.id == job_id]


def _messages(client: openai.AzureOpenAI, job_id: str) -> list[Any]:
    return list(reversed(list(client.fine_tuning.jobs.list_events(job_id, limit=100))))


def test_an_rft_job_pauses_at_the_cap_with_a_deployable_checkpoint_and_resumes_without_a_cap() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-cap")
        job_id = _rft(client, "GlobalStandard")
        seen_bills = []
        for _ in range(24 * 8):  # every simulated hour for 8 days: the bill never exceeds the cap meanwhile
            sim.advance(hours=1)
            seen_bills.append(sim.azure_cost("az-cap").total_usd)
            if client.fine_tuning.jobs.retrieve(job_id).status == "paused":
                break
        rec = _record(sim, "az-cap", job_id)
        step, total = rec.plan.steps_done, rec.plan.total_steps
        assert rec.job.status == "paused" and 1 < step < total
        # the pause is at the first step whose billed hours reach the cap, by hand: $100 an hour (Global)
        assert _hours(rec, step - 1) * 100 < CAP <= _hours(rec, step) * 100
        assert max(seen_bills) <= CAP and seen_bills[-1] == CAP
        (line,) = _job_lines(sim, "az-cap", job_id)
        assert line.kind == "training" and line.capped and line.usd == CAP and line.quantity == _hours(rec, step)

        # events: the checkpoint, the pause at the cap (warn), the billed hours
        messages = _messages(client, job_id)
        texts = [e.message for e in messages]
        cap_events = [e for e in messages if "$5,000 limit" in e.message]
        assert len(cap_events) == 1 and cap_events[0].level == "warning"  # Azure's level for OpenAI's warn
        assert f"paused at step {step}/{total}" in cap_events[0].message
        unrounded = Decimal(str(rec.plan.sec_per_step)) * step / HOUR
        assert texts[-1] == f"Training hours billed: {unrounded:.3f}"

        # the checkpoint at the paused step is a model of the account: deployed through ARM, then called
        checkpoints = client.fine_tuning.jobs.checkpoints.list(job_id, limit=10).data
        latest = max(checkpoints, key=lambda c: c.step_number)
        assert latest.step_number == step
        assert f"Checkpoint created at step {step} with Snapshot ID: {latest.fine_tuned_model_checkpoint}" in texts
        with TestClient(sim.app, base_url="https://management.azure.com", headers={"api-key": "az-cap"}) as arm:
            body = {"sku": {"name": "GlobalStandard", "capacity": 1}, "properties": {
                "model": {"format": "OpenAI", "name": latest.fine_tuned_model_checkpoint, "version": "1"}}}
            assert arm.put(f"{ARM}/capped{ARM_VERSION}", json=body).status_code == 201
            sim.advance(minutes=15)
            assert arm.get(f"{ARM}/capped{ARM_VERSION}").json()["properties"]["provisioningState"] == "Succeeded"
        answer = client.chat.completions.create(model="capped", messages=[{"role": "user", "content": "hi"}])
        assert answer.choices[0].message.content

        # paused at the cap, it stays paused: nothing more is billed for its training
        sim.advance(days=30)
        assert client.fine_tuning.jobs.retrieve(job_id).status == "paused"
        assert _job_lines(sim, "az-cap", job_id) == [line]

        # resumed: it trains to the end, and every hour after the cap is billed ("no further price limits")
        client.fine_tuning.jobs.resume(job_id)
        sim.run_until_complete(job_id)
        done = _record(sim, "az-cap", job_id)
        assert done.job.status == "succeeded" and done.job.fine_tuned_model
        (after,) = _job_lines(sim, "az-cap", job_id)
        after_cap = (_hours(done, total) - _hours(done, step)) * 100
        assert after.usd == CAP + after_cap and after.usd > CAP and after.quantity == _hours(done, total)
        assert sum(1 for e in _messages(client, job_id) if "$5,000 limit" in e.message) == 1  # no second cap


def test_a_job_cancelled_at_the_cap_pays_the_cap_and_a_job_under_it_runs_through() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-cap2")
        # Developer tier: $50 an hour, the same ~80 h never reach $5,000: no pause
        cheap = _rft(client, "developerTier")
        sim.run_until_complete(cheap, max_seconds=30 * 86400)
        (line,) = _job_lines(sim, "az-cap2", cheap)
        rec = _record(sim, "az-cap2", cheap)
        assert rec.plan.cap_step is None and not line.capped
        assert line.usd == _hours(rec, rec.plan.total_steps) * 50 < CAP
        # Standard (regional, $110 an hour): paused at its cap, then cancelled: the bill stays at the cap
        dear = _rft(client, "Standard")
        with pytest.raises(SimulatorStuck):
            sim.run_until_complete(dear, max_seconds=30 * 86400)
        rec = _record(sim, "az-cap2", dear)
        assert rec.job.status == "paused" and rec.plan.steps_done == rec.plan.cap_step
        assert _hours(rec, rec.plan.cap_step - 1) * 110 < CAP <= _hours(rec, rec.plan.cap_step) * 110
        client.fine_tuning.jobs.cancel(dear)
        (line,) = _job_lines(sim, "az-cap2", dear)
        assert line.usd == CAP and line.capped and line.tier == "regional_us"


def test_openai_rft_jobs_never_pause_at_azures_cap() -> None:
    with Simulator() as sim:
        client = sim.client(api_key="oa-cap")
        train = client.files.create(file=("t.jsonl", (FIXTURES / "rft_train.jsonl").read_bytes()), purpose="fine-tune")
        valid = client.files.create(file=("v.jsonl", (FIXTURES / "rft_valid.jsonl").read_bytes()), purpose="fine-tune")
        job = client.fine_tuning.jobs.create(
            model=O4, training_file=train.id, validation_file=valid.id,
            method={"type": "reinforcement", "reinforcement": {"grader": STRING_GRADER, "hyperparameters": LONG}})
        assert sim.run_until_complete(job.id, max_seconds=30 * 86400).status == "succeeded"


# -- grading: the model graders' tokens at the grader model's rates, counted in the cap -----------------------

O3_MINI_GRADER = {"type": "score_model", "name": "judge", "model": "o3-mini",
                  "input": [{"role": "user", "content": "Score {{sample.output_text}} against {{item.answer}}"}]}
LABEL_GRADER = {"type": "multi", "name": "both", "calculate_output": "0.5 * exact + 0.5 * label", "graders": {
    "exact": STRING_GRADER,
    "label": {"type": "label_model", "name": "label", "model": "gpt-4.1-mini",
              "input": [{"role": "user", "content": "Is {{sample.output_text}} right? {{item.answer}}"}],
              "labels": ["yes", "no"], "passing_labels": ["yes"]}}}
SHORT = {"n_epochs": 2, "batch_size": 1, "eval_interval": 4}


def _grader_tokens_from_events(client: openai.AzureOpenAI, job_id: str,
                               through: int | None = None) -> dict[str, list[int]]:
    """[input, output] tokens by grader model, summed over the job's metrics events (what the client can read) of
    steps up to `through` (all when None)."""
    totals: dict[str, list[int]] = {}
    for event in _messages(client, job_id):
        if event.type != "metrics" or (through is not None and event.data["step"] > through):
            continue
        for model, used in (event.data or {}).get("model_graders_token_usage", {}).items():
            acc = totals.setdefault(model, [0, 0])
            acc[0] += used["train_prompt_tokens"] + used["eval_prompt_tokens"]
            acc[1] += used["train_completion_tokens"] + used["eval_completion_tokens"]
    return totals


@pytest.mark.parametrize(("grader", "model", "rates"), [
    (O3_MINI_GRADER, "o3-mini", (Decimal("1.21"), Decimal("4.84"))),  # Azure's data-zone grader meter (reference §2)
    # a grader model without an Azure grader price: its OpenAI standard rate, as the planner prices it
    (LABEL_GRADER, "gpt-4.1-mini", (Decimal("0.40"), Decimal("1.60"))),
])
def test_model_grader_tokens_are_on_the_bill_at_the_grader_models_rates(grader: dict, model: str,
                                                                        rates: tuple[Decimal, Decimal]) -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-grade")
        job_id = _rft(client, "GlobalStandard", grader=grader, hyperparameters=SHORT)
        sim.run_until_complete(job_id)
        used = _grader_tokens_from_events(client, job_id)
        assert set(used) == {model} and min(used[model]) > 0
        lines = {ln.kind: ln for ln in _job_lines(sim, "az-grade", job_id)}
        assert set(lines) == {"training", "grading"}
        grading = lines["grading"]
        assert grading.model == model and grading.tokens is not None
        assert [grading.tokens.input + grading.tokens.cached_input, grading.tokens.output] == used[model]
        assert grading.usd == (used[model][0] * rates[0] + used[model][1] * rates[1]) / 1_000_000
        assert sim.azure_cost("az-grade").total_usd == lines["training"].usd + grading.usd


def test_grading_counts_in_the_cap() -> None:
    """Microsoft: the job pauses "once [it has] hit $5K in total training costs (training + grading)"."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-cap3")
        job_id = _rft(client, "GlobalStandard", grader=O3_MINI_GRADER)
        with pytest.raises(SimulatorStuck):
            sim.run_until_complete(job_id, max_seconds=60 * 86400)
        rec = _record(sim, "az-cap3", job_id)
        step = rec.plan.steps_done
        assert rec.job.status == "paused" and step == rec.plan.cap_step
        lines = {ln.kind: ln for ln in _job_lines(sim, "az-cap3", job_id)}
        grading = lines["grading"]
        assert grading.usd > 0 and lines["training"].capped
        total = lines["training"].usd + grading.usd
        assert CAP - Decimal("0.0001") < total <= CAP  # the pair stops at the cap (training rounded down)
        assert lines["training"].usd < _hours(rec, step) * 100  # the hours alone were cut by the grading
        # the pause step is the first whose hours plus grading reach the cap (o3-mini: $1.21 / $4.84 per 1M)
        def graded(through: int) -> Decimal:
            used = _grader_tokens_from_events(client, job_id, through)["o3-mini"]
            return (used[0] * Decimal("1.21") + used[1] * Decimal("4.84")) / 1_000_000

        assert graded(step) == grading.usd
        assert _hours(rec, step - 1) * 100 + graded(step - 1) < CAP <= _hours(rec, step) * 100 + graded(step)


# -- Developer tier: "may be paused by the system but automatically resume" -----------------------------------

PREEMPTED = "paused by the system"


def _developer_world(rate: float) -> tuple[Simulator, openai.AzureOpenAI, str, str]:
    sim = Simulator(developer_preemption=rate)
    client = sim.azure_client(endpoint=ENDPOINT, api_key="az-dev")
    return sim, client, _rft(client, "developerTier"), _rft(client, "GlobalStandard", hyperparameters=SHORT)


def test_developer_jobs_are_preempted_and_resume_by_themselves_unbilled() -> None:
    sim, client, job_id, other = _developer_world(0.1)  # 0.1 preemptions per training hour, ~80 h of training
    with sim:
        statuses = []
        for _ in range(24 * 12):
            sim.advance(hours=1)
            status = client.fine_tuning.jobs.retrieve(job_id).status
            statuses.append(status)
            if status == "succeeded":
                break
        assert statuses[-1] == "succeeded"
        first = statuses.index("paused")  # paused by the system, then running again with no user action
        assert "running" in statuses[first:]
        messages = _messages(client, job_id)
        pauses = [i for i, e in enumerate(messages) if PREEMPTED in e.message]
        assert pauses and all(messages[i].level == "warning" for i in pauses)
        for i in pauses:  # each preemption ends in a resume after 15 min to 2 h, and no checkpoint is written
            resumed = next(e for e in messages[i:] if e.message.startswith("Fine-tuning job resumed from step"))
            assert 15 * 60 <= resumed.created_at - messages[i].created_at <= 2 * 3600
            assert not messages[i - 1].message.startswith("Checkpoint created")
        assert not any(PREEMPTED in e.message for e in _messages(client, other))  # GlobalStandard: never
        lines = _job_lines(sim, "az-dev", job_id)
        done = client.fine_tuning.jobs.retrieve(job_id)
        events = [(e.created_at, e.message) for e in messages]

    # the same job in a world without preemption: the same bill (paused time is free), finished earlier
    calm, calm_client, calm_id, _ = _developer_world(0.0)
    with calm:
        assert calm_id == job_id
        calm.run_until_complete(calm_id, max_seconds=30 * 86400)
        assert _job_lines(calm, "az-dev", calm_id) == lines
        assert not any(PREEMPTED in e.message for e in _messages(calm_client, calm_id))
        assert calm_client.fine_tuning.jobs.retrieve(calm_id).finished_at < done.finished_at

    # seeded: the same world preempts the same steps at the same times
    again, again_client, again_id, _ = _developer_world(0.1)
    with again:
        again.run_until_complete(again_id, max_seconds=30 * 86400)
        assert [(e.created_at, e.message) for e in _messages(again_client, again_id)] == events


def test_a_preempted_job_can_be_resumed_early_or_cancelled() -> None:
    sim, client, job_id, _ = _developer_world(2.0)
    with sim:
        for _ in range(24 * 12):
            sim.advance(minutes=10)
            if client.fine_tuning.jobs.retrieve(job_id).status == "paused":
                break
        paused = _record(sim, "az-dev", job_id)
        assert paused.job.status == "paused" and paused.plan.resume_at is not None
        with pytest.raises(openai.BadRequestError):  # already paused
            client.fine_tuning.jobs.pause(job_id)
        assert client.fine_tuning.jobs.resume(job_id).status == "pending"  # before the system would
        assert _record(sim, "az-dev", job_id).plan.resume_at is None
        for _ in range(24 * 12):
            sim.advance(minutes=10)
            if client.fine_tuning.jobs.retrieve(job_id).status == "paused":
                break
        assert client.fine_tuning.jobs.cancel(job_id).status == "cancelled"
        sim.advance(days=1)  # its planned resume does not bring it back
        assert client.fine_tuning.jobs.retrieve(job_id).status == "cancelled"


def test_preemption_is_off_by_default_and_rejects_a_bad_rate() -> None:
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-calm")
        job_id = _rft(client, "developerTier")
        sim.run_until_complete(job_id, max_seconds=30 * 86400)
        assert not any(PREEMPTED in e.message for e in _messages(client, job_id))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            Simulator(developer_preemption=bad)


# -- properties: the planned stops and the bill before a resume -----------------------------------------------

@functools.cache
def _graded_world() -> tuple[Simulator, JobRecord]:
    """One Azure RFT job with a model grader, planned (validated), in a world kept for the property tests."""
    sim = Simulator()
    client = sim.azure_client(endpoint=ENDPOINT, api_key="az-prop")
    job_id = _rft(client, "Standard", grader=O3_MINI_GRADER, hyperparameters=SHORT)
    sim.advance(hours=2)
    return sim, _record(sim, "az-prop", job_id)


@settings(max_examples=60, deadline=None)
@given(sec_per_step=st.floats(min_value=1, max_value=200_000), done=st.floats(min_value=0, max_value=1))
def test_before_a_resume_the_bill_of_an_rft_job_never_exceeds_the_cap(sec_per_step: float, done: float) -> None:
    sim, base = _graded_world()
    rec = base.model_copy(deep=True)
    rec.plan.sec_per_step, rec.plan.cap_step = sec_per_step, None
    tenant = azure_tenant(sim.backend.tenancy, "az-prop")
    plan_stops(sim.backend, tenant, rec)
    total, cap_step = rec.plan.total_steps, rec.plan.cap_step
    last = cap_step if cap_step is not None else total
    rec.plan.steps_done = round(done * last)
    lines = job_cost_lines(rec, "Standard", sim.backend.catalog)
    assert sum((ln.usd for ln in lines), Decimal(0)) <= CAP
    if cap_step is not None:  # the cap step is the first at the cap: one step earlier is under it
        assert 1 <= cap_step < total
        rec.plan.steps_done = cap_step - 1
        assert sum((ln.usd for ln in job_cost_lines(rec, "Standard", sim.backend.catalog)), Decimal(0)) < CAP
        rec.plan.steps_done = cap_step  # at the cap step: the cap (the training line rounded down)
        at_cap = sum((ln.usd for ln in job_cost_lines(rec, "Standard", sim.backend.catalog)), Decimal(0))
        assert CAP - Decimal("0.0001") < at_cap <= CAP


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**31 - 1), low=st.floats(min_value=0, max_value=50),
       more=st.floats(min_value=0, max_value=50), sec=st.floats(min_value=1, max_value=20_000),
       step=st.integers(min_value=1, max_value=500))
def test_preemption_is_seeded_never_after_the_last_step_and_grows_with_the_rate(
        seed: int, low: float, more: float, sec: float, step: int) -> None:
    plan = JobPlan(seed=seed, snapshot=O4, org_slug="x", tenant=["a", "b", "c"], model_name="m", validate_until=0,
                   total_steps=500, sec_per_step=sec, preempt_per_hour=low)
    first = stop_after(plan, step)
    assert first == stop_after(plan, step)  # a pure function of the plan
    assert stop_after(plan, 500) is None  # the last step completes the job
    if low == 0:
        assert first is None
    if first == "preempted":  # at a higher rate the same draw preempts too
        assert stop_after(plan.model_copy(update={"preempt_per_hour": low + more}), step) == "preempted"


def test_a_preempted_job_whose_advance_raises_fails_alone_and_leaves_no_schedule_behind(monkeypatch) -> None:
    """A job paused by the system is scheduled (it resumes by itself): when advancing it raises, it fails like an
    active job would (internal_error), and the in-memory schedule still matches the rows."""
    from ftsim.simulator.fine_tuning import lifecycle

    sim, client, job_id, _ = _developer_world(3000.0)  # preempted at once, many times
    with sim:
        for _ in range(24 * 12):
            sim.advance(minutes=5)
            if _record(sim, "az-dev", job_id).plan.resume_at is not None:
                break
        paused = _record(sim, "az-dev", job_id)
        assert paused.job.status == "paused" and paused.plan.resume_at is not None
        real = lifecycle.advance

        def advance(rec, now, **kwargs):
            if rec.job.id == job_id:
                raise ZeroDivisionError("poisoned")
            return real(rec, now, **kwargs)

        monkeypatch.setattr(lifecycle, "advance", advance)
        sim.advance(hours=3)  # past its resume time
        failed = client.fine_tuning.jobs.retrieve(job_id)
        assert failed.status == "failed" and failed.error.code == "internal_error"
        jobs = sim.backend.jobs
        assert jobs.schedule() == jobs.schedule_from_rows()


def test_a_job_that_can_be_neither_advanced_nor_failed_is_unscheduled_in_its_row_too(monkeypatch) -> None:
    from ftsim.simulator.fine_tuning import lifecycle

    sim, client, job_id, other = _developer_world(0.0)
    with sim:
        def boom(*_args, **_kwargs):
            raise ZeroDivisionError("poisoned")

        monkeypatch.setattr(lifecycle, "advance", boom)
        monkeypatch.setattr(lifecycle, "fail_now", boom)
        sim.advance(hours=1)
        jobs = sim.backend.jobs
        assert jobs.schedule() == jobs.schedule_from_rows() == {}


def test_run_until_complete_jumps_to_the_cap_pause_and_says_the_job_is_paused(monkeypatch) -> None:
    """A job that will pause at the cap settles there: run_until_complete jumps to that second in a few moves
    (not one step at a time) and then raises SimulatorStuck, since only a resume moves it on."""
    with Simulator() as sim:
        client = sim.azure_client(endpoint=ENDPOINT, api_key="az-cap2")
        job_id = _rft(client, "GlobalStandard")
        moves = []
        real = sim.backend.advance
        monkeypatch.setattr(sim.backend, "advance", lambda seconds: moves.append(seconds) or real(seconds))
        with pytest.raises(SimulatorStuck, match="paused"):
            sim.run_until_complete(job_id)
        rec = _record(sim, "az-cap2", job_id)
        assert rec.job.status == "paused" and rec.plan.resume_at is None and rec.plan.steps_done == rec.plan.cap_step
        assert len(moves) <= 4, moves  # validation, then straight to the pause
        pause = [e for e in _messages(client, job_id) if "$5,000 limit" in e.message][0]
        assert sim.backend.now() == pause.created_at  # not a second past it


def test_the_consoles_run_every_job_lets_preempted_jobs_resume_and_finish() -> None:
    from ftsim.api.http.console.routes import run_every_job

    sim, client, job_id, other = _developer_world(3000.0)
    with sim:
        for _ in range(24 * 12):
            sim.advance(minutes=5)
            if _record(sim, "az-dev", job_id).plan.resume_at is not None:
                break
        assert _record(sim, "az-dev", job_id).job.status == "paused"
        run_every_job(sim.backend)
        assert client.fine_tuning.jobs.retrieve(job_id).status == "succeeded"
        assert client.fine_tuning.jobs.retrieve(other).status == "succeeded"
