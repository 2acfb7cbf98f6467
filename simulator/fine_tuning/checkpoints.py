"""Checkpoint planning of a job (pure): which steps get a checkpoint, their names and records, and which are kept.

* SFT and DPO: a checkpoint at the end of each of the last 3 epochs (reference §3.3); pause adds one at the
  paused step (unless that step already has one).
* RFT (`method.type == "reinforcement"`): a checkpoint at each validation step (`loss_curve.is_eval_step`: every
  `eval_every` steps and the final step); pause adds one at the paused step unless it is a validation step.
* **At most `KEEP` (3) checkpoints are kept** (reference §3.3, §9.4); adding a fourth drops one, its record and its
  checkpoint model:
  - SFT and DPO keep the newest. A job paused between epoch ends therefore ends with e.g. 82, 84, 96, not
    72, 82, 84, 96.
  - RFT keeps "the three with the highest `valid_reward_mean`" (live rule); ties: the newer step wins. A checkpoint
    at a validation step ranks by that step's `valid_reward_mean`.
  - ASSUMPTION (the live rule is not documented): an RFT pause checkpoint off a validation step ranks by the
    `valid_reward_mean` of the latest validation step at or before it, or lowest of all when there is none yet.
  - The job's final model is never deleted: when the final checkpoint ranks out, only its checkpoint record goes
    (its dropped entry has `"model": None`).
* The final checkpoint is named exactly like `fine_tuned_model`; the others `ft:...:{own id8}:ckpt-step-{N}`.

The job's plan `kept` (`JobPlan.kept`) lists the stored checkpoints, oldest first, as `[step, checkpoint id, model
name]`. An RFT job's `kept_rewards` maps each kept step (as a string) to the `valid_reward_mean` it is ranked by
(None: lowest). The checkpoint object's `metrics` has no reward field in the OpenAPI schema, so RFT checkpoints carry
`{"step": N}` only.
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Callable
from typing import Any

from ftsim.simulator.core import dialect
from ftsim.simulator.core.ids import base62
from ftsim.simulator.fine_tuning.types import FineTuningJob, JobPlan, JobRecord

__all__ = [
    "KEEP",
    "add_checkpoint",
    "checkpoint_name",
    "checkpoint_record",
    "ckpt_name",
    "derived_id",
    "end_of_job_steps",
    "epoch_checkpoint_steps",
    "ranks_by_reward",
]

KEEP = 3


@functools.lru_cache(maxsize=4096)  # a job's ids are derived again when its plan is replayed (run_until_complete)
def derived_id(job_id: str, label: str, length: int) -> str:
    """A deterministic base62 token derived from the job id and a label."""
    return base62(hashlib.sha256(f"{job_id}:{label}".encode()).digest(), length)


def checkpoint_name(snapshot: str, org_slug: str, suffix: str | None, job_id: str, step: int) -> str:
    """`ft:{snapshot}:{org}:{suffix}:{own id8}:ckpt-step-{N}` for a non-final checkpoint."""
    own = derived_id(job_id, f"ckpt8:{step}", 8)
    return dialect.checkpoint_name(snapshot, suffix, job_id, step) or f"ft:{snapshot}:{org_slug}:{suffix or ''}:{own}:ckpt-step-{step}"


def ckpt_name(rec: JobRecord, step: int) -> str:
    """The name of the job's non-final checkpoint at `step`."""
    plan, job = rec.plan, rec.job
    return checkpoint_name(plan.snapshot, plan.org_slug, job.user_provided_suffix, job.id, step)


def checkpoint_record(rec: JobRecord, step: int, at: int, name: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """A `fine_tuning.job.checkpoint` record."""
    job_id = rec.job.id
    return {
        "object": "fine_tuning.job.checkpoint",
        "id": dialect.checkpoint_id(job_id, step) or "ftckpt_" + derived_id(job_id, f"ckpt:{step}", 24),
        "created_at": int(at),
        "fine_tuned_model_checkpoint": name,
        "fine_tuning_job_id": job_id,
        "metrics": metrics,
        "step_number": step,
    }


def epoch_checkpoint_steps(plan: JobPlan) -> list[int]:
    """Epoch-end steps that get a checkpoint (the last 3 epochs), oldest first, the final step included."""
    spe, n = _req(plan.steps_per_epoch), _req(plan.n_epochs)
    return [e * spe for e in range(max(1, n - 2), n + 1)]


def ranks_by_reward(job: FineTuningJob) -> bool:
    """True when the job keeps its best checkpoints by `valid_reward_mean` (RFT) rather than the newest."""
    return job.method.type == "reinforcement"


def _req(value: int | None) -> int:
    """A plan value set once the files are validated (checkpoints are planned only after that)."""
    assert value is not None, "the job's steps are not planned yet"
    return value


def _rank(plan: JobPlan, entry: list[Any]) -> tuple[float, int]:
    """Retention order of a kept RFT entry: (reward, step), a missing reward lowest, the newer step winning ties."""
    reward = (plan.kept_rewards or {}).get(str(entry[0]))
    return (-math.inf if reward is None else float(reward), int(entry[0]))


def add_checkpoint(
    rec: JobRecord, out: Any, step: int, at: int, name: str, metrics: Callable[[int], dict[str, Any]],
    *, model: bool = True, reward: float | None = None,
) -> None:
    """Store a checkpoint (and its model unless final), then drop beyond `KEEP` the oldest (RFT: the lowest `reward`)."""
    plan = rec.plan
    record = checkpoint_record(rec, step, at, name, metrics(step))
    out.checkpoints.append(record)
    if model:
        out.models.append({"id": name, "created": int(at), "step": step, "checkpoint": True})
    if plan.kept is None:
        plan.kept = []
    kept = plan.kept
    kept.append([step, record["id"], name])
    ranked = ranks_by_reward(rec.job)
    if ranked:
        if plan.kept_rewards is None:
            plan.kept_rewards = {}
        plan.kept_rewards[str(step)] = reward
    while len(kept) > KEEP:  # the store writes `out.checkpoints` first, then deletes `out.dropped`
        worst = min(range(len(kept)), key=lambda i: _rank(plan, kept[i])) if ranked else 0
        old_step, old_id, old_name = kept.pop(worst)
        if plan.kept_rewards is not None:
            plan.kept_rewards.pop(str(old_step), None)
        final = old_name == plan.model_name  # the job's tuned model outlives its checkpoint record
        out.dropped.append({"checkpoint_id": old_id, "model": None if final else old_name})


def end_of_job_steps(plan: JobPlan) -> list[int]:
    """Non-final kept epoch checkpoints announced at the end of the job, newest first (pause ones were announced)."""
    total, snapshots = plan.total_steps, set(plan.snapshots or [])
    steps = {int(s) for s, _, _ in plan.kept or [] if s != total and s not in snapshots}
    return sorted(steps, reverse=True)
