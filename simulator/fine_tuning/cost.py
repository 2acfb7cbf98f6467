"""The cost of a simulated job at list prices (GET /_sim/fine_tuning/jobs/{id}/cost), via the planner's functions.

Token-billed methods (supervised, DPO): `ftsim.pricing.costs.training.training_cost` over the job's billed tokens per epoch and
resolved epochs (the same figure as `trained_tokens` and `ftsim estimate`). Reinforcement: `ftsim.pricing.costs.rft.rft_cost`
over the training-loop seconds so far (the lifecycle's step clock), prorated to the second like the planner: the
simulated loop lasts the planner's expected duration, so a finished job costs exactly what `ftsim estimate` expects
for the same files and hyperparameters. Before validation the numbers are unknown and `cost_usd` is null. Money is
rendered by the project's one money-string rule (`ftsim.pricing.costs.money.usd_text`: exact, at least cents).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.money import CENT, SECONDS_PER_HOUR, quantize, usd_text
from ftsim.pricing.costs.rft import RftDuration, rft_cost
from ftsim.pricing.costs.training import training_cost
from ftsim.simulator.fine_tuning.throughput import loop_seconds
from ftsim.simulator.fine_tuning.types import JobPlan, JobRecord

__all__ = ["job_cost", "last_checkpoint_step"]


def job_cost(rec: JobRecord, catalog: Any) -> dict[str, Any]:
    """A JSON-ready cost summary of one stored job record."""
    job, plan = rec.job, rec.plan
    kind = job.method.type
    entry = catalog.resolve(plan.snapshot)
    outcome = plan.outcome
    out: dict[str, Any] = {
        "object": "fine_tuning.job.cost", "job_id": job.id, "status": job.status, "model": plan.snapshot,
        "method": kind, "currency": "USD", "billing": entry.training.unit if entry.training else None,
        "trained_tokens": None, "training_hours": None, "training_seconds": None, "cost_usd": None,
        "note": None,
    }
    if outcome is None or not outcome.ok:
        out["note"] = "not billed: the files are not validated yet" if outcome is None else \
            "not billed: validation failed"
        return out
    try:
        if kind == "reinforcement":
            steps = int(plan.steps_done or 0)
            if job.status == "failed":  # captured forward progress: work after the last checkpoint is not billed
                steps = last_checkpoint_step(plan)
            assert plan.sec_per_step is not None  # validated: the steps are planned
            seconds = loop_seconds(steps, plan.sec_per_step)
            cost = rft_cost(entry, _measured(seconds), catalog=catalog)
            out.update(training_hours=str(cost.duration.hours_expected), training_seconds=seconds,
                       cost_usd=usd_text(cost.total_cost_usd))
        else:
            assert outcome.tokens_per_epoch is not None and plan.n_epochs is not None  # validated: planned
            tokens_cost = training_cost(entry, method=kind, tokens_per_epoch=outcome.tokens_per_epoch,
                                        n_epochs=plan.n_epochs)
            out.update(trained_tokens=tokens_cost.trained_tokens, cost_usd=usd_text(tokens_cost.cost_usd))
            if job.status != "succeeded":
                out["note"] = "planned: billed on success" if job.status not in ("failed", "cancelled") else \
                    "estimate of the full job; the live API bills only completed work"
    except PricingError as exc:
        out["note"] = str(exc)
    return out


def _measured(seconds: int) -> RftDuration:
    """Seconds the simulated loop ran, billed prorated to the second (not via rounded hours)."""
    hours = quantize(Decimal(seconds) / SECONDS_PER_HOUR, CENT)
    return RftDuration(seconds_low=seconds, seconds_expected=seconds, seconds_high=seconds, hours_low=hours,
                       hours_expected=hours, hours_high=hours, given=False, samples=0, n_evals=0, graded_calls=0)


def last_checkpoint_step(plan: JobPlan) -> int:
    """The step of an RFT job's newest checkpoint so far, kept or since ranked out (0 before the first).

    RFT checkpoints come at every validation step (`eval_every`) and at each pause, so the newest one is derived
    from the steps done rather than from the three kept, which are the best, not the newest.
    """
    steps, every = int(plan.steps_done or 0), int(plan.eval_every or 0)
    at_validation = (steps // every) * every if every > 0 else 0
    paused = [int(s) for s in plan.snapshots or [] if int(s) <= steps]
    return max([at_validation, *paused])
