"""One RFT duration model: a simulated job's training loop and cost equal what the planner expects (issue: audit 1).

End to end: `ftsim estimate --method reinforcement --validation-file ... --json` against the HTTP door (upload,
create, advance the clock, GET /_sim/fine_tuning/jobs/{id}/cost) for the same files and hyperparameters.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from ftsim.api.cli import main as ftsim
from ftsim.pricing.costs.estimate import estimate
from ftsim.pricing.costs.rft import estimate_duration
from ftsim.simulator.fine_tuning import throughput
from ftsim.simulator.fine_tuning.cost import job_cost
from ftsim.simulator.fine_tuning.types import JobRecord

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "datasets"
TRAIN, VALID = FIXTURES / "rft_train.jsonl", FIXTURES / "rft_valid.jsonl"
O4 = "o4-mini-2025-04-16"
AUTH = {"Authorization": "Bearer sk-alice"}
GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}


def _upload(http, path: Path) -> str:
    res = http.post("/v1/files", headers=AUTH, data={"purpose": "fine-tune"},
                    files={"file": (path.name, path.read_bytes(), "application/jsonl")})
    assert res.status_code == 200, res.text
    return res.json()["id"]


def _run_rft(http, backend, hyperparameters: dict | None = None) -> tuple[JobRecord, dict]:
    """Create the RFT job on the fixtures, run it to the end; (job record, cost JSON)."""
    body = {"model": O4, "training_file": _upload(http, TRAIN), "validation_file": _upload(http, VALID),
            "method": {"type": "reinforcement",
                       "reinforcement": {"grader": GRADER, "hyperparameters": hyperparameters or {}}}}
    res = http.post("/v1/fine_tuning/jobs", headers=AUTH, json=body)
    assert res.status_code == 200, res.text
    job_id = res.json()["id"]
    assert http.post("/_sim/clock/advance", headers=AUTH, json={"seconds": 30 * 86400}).status_code == 200
    job = http.get(f"/v1/fine_tuning/jobs/{job_id}", headers=AUTH).json()
    assert job["status"] == "succeeded", job
    cost = http.get(f"/_sim/fine_tuning/jobs/{job_id}/cost", headers=AUTH).json()
    record = next(JobRecord.from_row(r) for _, r in backend.store.scan("job") if r["id"] == job_id)
    return record, cost


def _variant(record: JobRecord, status: str, **plan) -> JobRecord:
    """A copy of the record with another status and plan values."""
    rec = record.model_copy(deep=True)
    rec.job.status = status
    for key, value in plan.items():
        setattr(rec.plan, key, value)
    return rec


def _loop_seconds(backend, job_id: str) -> int:
    """Seconds from "Fine-tuning job started" to the last metrics event (the core training loop)."""
    events = [e for _, e in backend.store.scan("event") if e["id"] in _event_ids(backend, job_id)]
    started = next(e["created_at"] for e in events if e["message"] == "Fine-tuning job started")
    last = max(e["created_at"] for e in events if e["type"] == "metrics")
    return last - started


def _event_ids(backend, job_id: str) -> set[str]:
    return {e["id"] for _, e in backend.store.scan("event", parent=job_id)}


def test_simulated_rft_job_costs_what_ftsim_estimate_expects(http, backend, capsys):
    code = ftsim(["estimate", str(TRAIN), "--model", "o4-mini", "--method", "reinforcement",
                  "--validation-file", str(VALID), "--json"])
    assert code == 0
    planned = json.loads(capsys.readouterr().out)
    record, cost = _run_rft(http, backend)
    # the core training loop lasts the planner's expected seconds (the step clock rounds up to whole seconds)
    expected = estimate_duration(n_examples=planned["n_examples"], n_validation=planned["validation"]["n_examples"],
                                 n_epochs=planned["n_epochs"])
    assert expected.hours_expected == Decimal(planned["rft"]["hours_expected"])
    assert _loop_seconds(backend, record.job.id) == expected.seconds_expected
    assert cost["training_hours"] == planned["rft"]["hours_expected"]
    assert Decimal(cost["cost_usd"]) == Decimal(planned["total_cost_usd"])
    assert cost["cost_usd"] == planned["total_cost_usd"], "one money-string rule"
    assert cost["training_seconds"] == _loop_seconds(backend, record.job.id)
    assert record.job.method.reinforcement.hyperparameters["n_epochs"] == planned["n_epochs"]


@pytest.mark.parametrize("hp", [
    {"compute_multiplier": 2.5, "reasoning_effort": "high"},
    {"reasoning_effort": "low", "eval_interval": 5, "eval_samples": 3, "batch_size": 2, "n_epochs": 3},
])
def test_job_hyperparameters_reach_the_planners_duration_model(http, backend, hp):
    planned = estimate(TRAIN, model="o4-mini", method="reinforcement", validation_file=VALID,
                       epochs=hp.get("n_epochs", "auto"), batch_size=hp.get("batch_size", "auto"),
                       compute_multiplier=str(hp.get("compute_multiplier", "auto")),
                       reasoning_effort=hp.get("reasoning_effort", "default"),
                       eval_interval=hp.get("eval_interval", "auto"), eval_samples=hp.get("eval_samples", "auto"))
    record, cost = _run_rft(http, backend, hp)
    assert Decimal(cost["cost_usd"]) == planned.total_cost_usd
    assert cost["training_hours"] == str(planned.rft.hours_expected)
    plan = record.plan
    assert throughput.loop_seconds(plan.total_steps, plan.sec_per_step) == cost["training_seconds"]


def test_a_paused_rft_job_bills_the_loop_so_far(http, backend):
    record, done = _run_rft(http, backend)
    full = done["training_seconds"]
    # the same plan stopped half way bills half the loop, prorated to the second
    half = _variant(record, "paused", steps_done=record.plan.total_steps // 2)
    partial = job_cost(half, backend.catalog)
    assert abs(partial["training_seconds"] - full / 2) <= 1
    assert Decimal(partial["cost_usd"]) < Decimal(done["cost_usd"])


def test_a_failed_rft_job_bills_only_up_to_its_last_checkpoint(http, backend):
    """Captured forward progress (pricing reference TV5): work after the last checkpoint of a failed job is free.

    The last checkpoint is the newest one made (every `eval_interval` steps, and at a pause), even when retention
    has since ranked it out of the three best kept.
    """
    record, done = _run_rft(http, backend)
    plan = record.plan
    every = record.job.method.reinforcement.hyperparameters["eval_interval"]
    if not isinstance(every, int):
        every = plan.eval_every
    midway = 2 * every - 1  # past the first validation step, just before the second
    assert every >= 2 and midway < plan.total_steps
    failed = _variant(record, "failed", steps_done=midway, snapshots=[])
    assert job_cost(failed, backend.catalog)["training_seconds"] == throughput.loop_seconds(every, plan.sec_per_step)
    paused_later = _variant(failed, "failed", snapshots=[every + 1])
    assert job_cost(paused_later, backend.catalog)["training_seconds"] == \
        throughput.loop_seconds(every + 1, plan.sec_per_step)
    early = _variant(failed, "failed", steps_done=every - 1)
    no_ckpt = job_cost(early, backend.catalog)
    assert no_ckpt["training_seconds"] == 0 and Decimal(no_ckpt["cost_usd"]) == 0

def test_the_cost_endpoint_writes_money_by_the_one_money_string_rule(http, backend):
    """Regression: an RFT job's cost was `str()` of a 6-decimal Decimal ("100.000000" for exactly one hour) where
    every other JSON output (the planner's estimate included) writes "100.00" (`ftsim.pricing.costs.money.usd_text`)."""
    record, _ = _run_rft(http, backend)
    one_hour = _variant(record, "paused", steps_done=100, sec_per_step=36.0)
    cost = job_cost(one_hour, backend.catalog)
    assert cost["training_seconds"] == 3600 and cost["training_hours"] == "1.00"
    assert cost["cost_usd"] == "100.00"
