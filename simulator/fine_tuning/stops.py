"""Pauses a job takes by itself, without a user's `pause` (pure, seeded): Azure OpenAI's two kinds.

* **The RFT cost cap** (`JobPlan.cap_step`). Microsoft's RFT how-to: "we automatically pause jobs once they have
  hit $5K in total training costs (training + grading). Users may deploy the most recent checkpoint or resume the
  training job. If the user decides to resume the job, billing will continue for the job and subsequently no
  further price limits would be placed on the training job." The cost-management article: "When a job reaches this
  limit, training pauses and a deployable checkpoint is created." The Azure door plans the step at which the billed
  cost first reaches the cap (simulator/fine_tuning/azure.py `plan_stops`); after that step the job pauses with a
  checkpoint model at it (deployable), and stays paused until the user resumes or cancels it. A resumed job trains
  on with no further cap (billing: `azure.job_cost_lines`).
* **Developer-tier preemption** (`JobPlan.preempt_per_hour`). Microsoft's cost-management article: "developer
  training will run on pre-emptible spot capacity so may take longer to complete. Developer tier jobs may be paused
  by the system but automatically resume; you don't incur charges for jobs in paused states." The sources give no
  rate and no duration, so (ASSUMED) each training step of a Developer job is preempted after it with probability
  `1 - exp(-rate × step hours)` (a Poisson process of `rate` preemptions per training hour, drawn from the job's
  seed), and the job resumes by itself `PREEMPTED_SECONDS` later (seeded in that range), then queues again like a
  resumed job. The rate is `SimConfig.developer_preemption`, 0 (off) unless set. No checkpoint is written at a
  preemption (assumed: the sources only promise the automatic resume), and paused time is not billed (billing
  counts training steps only).

The last step never pauses (the job completes). Event texts are assumed: Microsoft does not publish them.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any, Literal

from ftsim.simulator.fine_tuning.types import JobPlan, JobRecord

__all__ = ["StopReason", "PREEMPTED_SECONDS", "stop_after", "system_pause", "preempted_after"]

StopReason = Literal["cost_cap", "preempted"]
PREEMPTED_SECONDS = (15 * 60, 2 * 3600)  # how long a preempted Developer job waits (assumed: no published figure)


def _uniform(seed: int, label: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{label}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def preempted_after(plan: JobPlan, step: int) -> bool:
    """Whether a Developer job's training is preempted right after `step` (seeded; see the module)."""
    rate, per_step = plan.preempt_per_hour, plan.sec_per_step
    if not rate or rate <= 0 or not per_step:
        return False
    chance = 1.0 - math.exp(-rate * per_step / 3600.0)
    return _uniform(plan.seed, f"preempt:{step}") < chance


def stop_after(plan: JobPlan, step: int) -> StopReason | None:
    """Why the job pauses by itself right after training `step`, or None (never after the last step)."""
    if plan.total_steps is None or step >= plan.total_steps:
        return None
    if plan.cap_step is not None and step == plan.cap_step:
        return "cost_cap"
    if plan.preempt_per_hour and preempted_after(plan, step):
        return "preempted"
    return None


def system_pause(rec: JobRecord, out: Any, at: int, reason: StopReason) -> None:
    """Pause the running job at `at` after its current step (`plan.steps_done`), as Azure does for `reason`."""
    from ftsim.simulator.fine_tuning import lifecycle
    from ftsim.simulator.fine_tuning.azure import azure_prices, report_hours_at
    from ftsim.simulator.fine_tuning.checkpoints import add_checkpoint, ckpt_name

    job, plan = rec.job, rec.plan
    job.status = lifecycle.transition(job.status, "pause", job.id)
    step, total = plan.steps_done or 0, plan.total_steps or 0
    plan.paused_at = int(at)
    if reason == "preempted":
        low, high = PREEMPTED_SECONDS
        plan.resume_at = int(at) + low + int(_uniform(plan.seed, f"preempt-wait:{step}") * (high - low))
        # wording assumed (Microsoft publishes none)
        out.events.append(lifecycle.make_event(
            rec, at, f"Fine-tuning job paused by the system at step {step}/{total}: Developer training runs on "
                     "preemptible capacity. The job resumes automatically.", level="warn"))
        report_hours_at(rec, out.events, at)  # now: the job may resume within the same advance
        return
    # the cost cap: a checkpoint at the paused step (unless a validation step's is kept there), and every kept
    # checkpoint a model now, so that the latest one can be deployed (RFT checkpoint models otherwise appear with
    # the tuned model at the end of the job)
    if plan.snapshots is None:
        plan.snapshots = []
    if step not in {int(s) for s, _, _ in plan.kept or []}:
        add_checkpoint(rec, out, step, at, ckpt_name(rec, step), lambda s: lifecycle._checkpoint_metrics(rec, s),
                       model=False, reward=lifecycle._rank_reward(rec, step))
    for kept_step, _, name in plan.kept or []:
        if kept_step in plan.snapshots or kept_step == total:
            continue
        plan.snapshots.append(kept_step)  # announced here, not again at the end of the job
        out.models.append({"id": name, "created": int(at), "step": kept_step, "checkpoint": True})
        out.events.append(lifecycle.make_event(
            rec, at, f"Checkpoint created at step {kept_step} with Snapshot ID: {name}"))
    cap = azure_prices().rft_job_cap_usd
    # wording assumed (Microsoft documents the behaviour, not the event)
    out.events.append(lifecycle.make_event(
        rec, at, f"Fine-tuning job paused at step {step}/{total}: the job reached the ${cap:,.0f} limit on training "
                 "costs. Deploy its latest checkpoint, or resume the job to continue training without a cost "
                 "limit.", level="warn"))
    report_hours_at(rec, out.events, at)
