"""The pure state machine of a fine-tuning job.

    validating_files ─validated→ queued ─start→ running ─succeed→ succeeded
           │ fail                   │            │ fail → failed
           ↓                        │            │ pause → paused ─resume→ queued → running …
         failed        cancel from validating_files, queued, running or paused → cancelled

The transitions are data (`TRANSITIONS`). A job is a typed `JobRecord`: the public `FineTuningJob` and its private
`JobPlan` (seed, timings, step counters) apart. `advance(rec, now)` returns the record as it stands at `now`
together with *every* event, checkpoint and tuned-model record due since the last call, in chronological order:
advancing hours emits everything in between at once. No I/O, no clock reads, no global random; ids of events,
checkpoints and model names are derived from the job id, so the same job gives the same world.

The validation outcome needs the dataset (I/O), so the service attaches it with `resolve_plan` or
`fail_validation` once `needs_validation(rec, now)` says it is due; `advance` then applies it at its time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from ftsim.simulator.fine_tuning import stops, throughput
from ftsim.simulator.fine_tuning.checkpoints import (
    add_checkpoint,
    checkpoint_name,
    ckpt_name,
    derived_id,
    end_of_job_steps,
    epoch_checkpoint_steps,
)
from ftsim.simulator.core import dialect
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.fine_tuning.types import Hyperparameters, JobError, JobPlan, JobRecord, JobStatus, ValidationOutcome
from ftsim.simulator.fine_tuning.loss_curve import (
    checkpoint_metrics_at,
    is_eval_step,
    metrics_at,
    reward_message,
    reward_metrics_at,
)

__all__ = [
    "ACTIVE",
    "SCHEDULED",
    "MAX_METRIC_EVENTS",
    "TERMINAL",
    "TRANSITIONS",
    "Advance",
    "advance",
    "cancel",
    "training_file_deleted",
    "checkpoint_name",
    "derived_id",
    "fail_validation",
    "fail_now",
    "make_event",
    "model_name",
    "needs_validation",
    "pause",
    "resolve_plan",
    "resume",
    "transition",
]

TRANSITIONS: dict[tuple[str, str], JobStatus] = {
    ("validating_files", "validated"): "queued",
    ("validating_files", "fail"): "failed",
    ("validating_files", "cancel"): "cancelled",
    ("queued", "start"): "running",
    ("queued", "fail"): "failed",
    ("queued", "cancel"): "cancelled",
    ("running", "succeed"): "succeeded",
    ("running", "fail"): "failed",
    ("running", "pause"): "paused",
    ("running", "cancel"): "cancelled",
    ("paused", "resume"): "queued",
    ("paused", "cancel"): "cancelled",
    ("paused", "fail"): "failed",  # only the simulator's own last resort (a job paused by the system it cannot move)
}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"validating_files", "queued", "running"})  # statuses that move with the clock
# statuses a job may leave by itself: the active ones, and `paused` when the system paused it (`plan.resume_at`)
SCHEDULED = ACTIVE | {"paused"}
MAX_METRIC_EVENTS = 1000  # above this many steps, a metrics event every ceil(total/1000) steps (+ the last)

_VERB = {"cancel": "cancelled", "pause": "paused", "resume": "resumed"}
# The message of `transition`'s 400, as a pattern: how the Azure dialect (api/http/azure.py) tells an action from
# the wrong state from any other 400 of the same routes.
WRONG_STATE_MESSAGE = re.compile(r"Job (?:\S+ )?cannot be (?:cancelled|paused|resumed) because its status is \w+\.")


@dataclass
class Advance:
    """What one call produced: the new record and the records to store, oldest first."""

    record: JobRecord
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # tuned-model records: {id, created, step, checkpoint}
    dropped: list[dict[str, Any]] = field(default_factory=list)  # stored checkpoints to delete: {checkpoint_id, model}
    succeeded: bool = False  # the job reached `succeeded` in this call (the caller writes its result file)
    next_due: int | None = None  # when the job next changes by itself; None while paused or terminal


def transition(status: str, action: str, job_id: str = "") -> JobStatus:
    """The status after `action` from `status`; 400 (never 409) when the action is not allowed."""
    target = TRANSITIONS.get((status, action))
    if target is None:
        verb = _VERB.get(action, action)
        raise BadRequestError(f"Job {job_id} cannot be {verb} because its status is {status}.".replace("  ", " "))
    return target


def model_name(snapshot: str, org_slug: str, suffix: str | None, job_id: str) -> str:
    """`ft:{snapshot}:{org}:{suffix}:{id8}`, the suffix segment empty when none was given (Azure: its own form)."""
    return dialect.model_name(snapshot, suffix, job_id) or f"ft:{snapshot}:{org_slug}:{suffix or ''}:{derived_id(job_id, 'model', 8)}"


_EMPTY: Any = object()


def make_event(rec: JobRecord, at: int, message: str, *, level: str = "info", data: Any = _EMPTY,
               type: str = "message") -> dict[str, Any]:
    """A `fine_tuning.job.event` (data `{}` unless given), its id derived from the job's event counter."""
    plan, job_id = rec.plan, rec.job.id
    plan.seq = seq = plan.seq + 1
    return {
        "object": "fine_tuning.job.event",
        "id": dialect.event_id(job_id, seq) or "ftevent-" + derived_id(job_id, f"event:{seq}", 24),
        "created_at": int(at),
        "level": level,
        "message": message,
        "data": {} if data is _EMPTY else data,
        "type": type,
    }


def needs_validation(rec: JobRecord, now: int) -> bool:
    """True when the job's files are due to be validated and no outcome is attached yet."""
    plan = rec.plan
    return rec.job.status == "validating_files" and plan.outcome is None and now >= plan.validate_until


def _int(value: int | None) -> int:
    """A plan number set once the files are validated (the running phase only starts after that)."""
    assert value is not None, "the job's steps are not planned yet"
    return value


def _float(value: float | None) -> float:
    assert value is not None, "the job's steps are not planned yet"
    return value


# -- attaching the validation outcome (pure) ---------------------------------------------------------------


def _resolved(value: Any, auto: Any) -> Any:
    return auto if value in (None, "auto") else value


def resolve_plan(
    rec: JobRecord,
    *,
    n_examples: int,
    tokens_per_epoch: int,
    auto_epochs: int,
    auto_batch: int,
    lr_default: float,
    tps: int,
    n_validation: int = 0,
    owned: bool = False,
) -> JobRecord:
    """Attach a successful validation: resolve `auto` hyperparameters (mirrored in method) and plan the steps.

    RFT: the core training loop lasts the planner's expected duration (`throughput.rft_loop_seconds`).
    `owned`: as for `advance`, the caller hands `rec` over (no copy).
    """
    if not owned:
        rec = rec.model_copy(deep=True)
    job, plan = rec.job, rec.plan
    kind = job.method.type
    hp = job.method.active().hyperparameters
    hp["n_epochs"] = n_epochs = int(_resolved(hp.get("n_epochs"), auto_epochs))
    hp["batch_size"] = batch = int(_resolved(hp.get("batch_size"), auto_batch))
    hp["learning_rate_multiplier"] = _resolved(hp.get("learning_rate_multiplier"), lr_default)
    if kind == "dpo":
        hp["beta"] = _resolved(hp.get("beta"), 0.1)
    if job.hyperparameters is not None:
        job.hyperparameters = Hyperparameters(
            n_epochs=n_epochs,
            batch_size=batch,
            learning_rate_multiplier=hp["learning_rate_multiplier"],
        )
    steps_per_epoch = math.ceil(n_examples / batch)
    total = n_epochs * steps_per_epoch
    if kind == "reinforcement":
        loop = throughput.rft_loop_seconds(hp, n_examples=n_examples, n_validation=n_validation,
                                           grader=job.method.grader())
        per_step = loop / total
    else:
        per_step = throughput.seconds_per_step(
            method=kind, tokens_per_step=batch * tokens_per_epoch / max(n_examples, 1), tps=tps)
    start = plan.validate_until + throughput.queue_seconds(plan.seed, 0)
    eval_interval = hp.get("eval_interval")
    plan.outcome = ValidationOutcome(ok=True, n_examples=n_examples, tokens_per_epoch=tokens_per_epoch,
                                     n_validation=n_validation)
    plan.n_epochs = n_epochs
    plan.steps_per_epoch = steps_per_epoch
    plan.total_steps = total
    plan.sec_per_step = per_step
    plan.start_at = start
    plan.run_start = start
    plan.from_step = 0
    plan.steps_done = 0
    plan.metrics_every = max(1, math.ceil(total / MAX_METRIC_EVENTS))
    plan.eval_every = eval_interval if isinstance(eval_interval, int) else max(1, total // 10)
    return rec


def fail_validation(rec: JobRecord, error: Mapping[str, Any]) -> JobRecord:
    """Attach a failed validation: `error` is {code, message, param}; the job fails at its validation time."""
    rec = rec.model_copy(deep=True)
    rec.plan.outcome = ValidationOutcome(ok=False, error=dict(error))
    return rec


# -- the clock-driven part -----------------------------------------------------------------------------------


def _step_time(plan: JobPlan, step: int) -> int:
    return _int(plan.run_start) + math.ceil((step - _int(plan.from_step)) * _float(plan.sec_per_step) - 1e-9)


def _due_step(plan: JobPlan, now: int) -> int:
    done, total, run_start = _int(plan.steps_done), _int(plan.total_steps), _int(plan.run_start)
    if now < run_start:
        return done
    k = _int(plan.from_step) + int((now - run_start) / _float(plan.sec_per_step) + 1e-9)
    k = min(k, total)
    while k > done and _step_time(plan, k) > now:
        k -= 1
    while k < total and _step_time(plan, k + 1) <= now:
        k += 1
    return max(k, done)


def _fail(rec: JobRecord, out: Advance, at: int, error: Mapping[str, Any]) -> None:
    job = rec.job
    job.status = transition(job.status, "fail", job.id)
    job.error = JobError(code=error.get("code"), message=error.get("message"), param=error.get("param"))
    out.events.append(make_event(rec, at, str(error.get("message") or "The job failed."), level="error"))


class _Steps:
    """What every step of one running job shares, read from its record once per advance rather than per step
    (a day of catch-up emits a few hundred thousand step events)."""

    __slots__ = ("total", "spe", "rft", "metrics_every", "eval_every", "epoch_ends", "has_validation")

    def __init__(self, rec: JobRecord) -> None:
        plan = rec.plan
        self.total, self.spe = _int(plan.total_steps), _int(plan.steps_per_epoch)
        self.rft = rec.job.method.type == "reinforcement"
        self.metrics_every, self.eval_every = _int(plan.metrics_every), _int(plan.eval_every)
        self.epoch_ends = frozenset(epoch_checkpoint_steps(plan))
        self.has_validation = bool(rec.job.validation_file)


def _step_records(rec: JobRecord, out: Advance, step: int, at: int, steps: _Steps) -> None:
    job, plan, total = rec.job, rec.plan, steps.total
    if step % steps.metrics_every == 0 or step == total:
        if steps.rft:
            data = reward_metrics_at(plan.seed, step, total, eval_every=steps.eval_every,
                                     grader=job.method.grader(), sec_per_step=_float(plan.sec_per_step))
            msg = reward_message(data)
        else:
            data = metrics_at(plan.seed, step, total, steps_per_epoch=steps.spe, has_validation=steps.has_validation)
            msg = f"Step {step}/{total}: training loss={data['train_loss']:.2f}"
            if "valid_loss" in data:
                msg += f", validation loss={data['valid_loss']:.2f}"
            if "full_valid_loss" in data:
                msg += f", full validation loss={data['full_valid_loss']:.2f}"
        out.events.append(make_event(rec, at, msg, data=data, type="metrics"))
    if steps.rft:  # RFT: a checkpoint at each validation step, the best 3 by valid_reward_mean kept
        due = is_eval_step(step, total, steps.eval_every)
    else:
        due = step % steps.spe == 0 and step in steps.epoch_ends
    if due:
        final = step == total
        name = plan.model_name if final else ckpt_name(rec, step)
        # live: checkpoint models appear with the tuned model at the end of the job (see `_run`)
        add_checkpoint(rec, out, step, at, name, lambda s: _checkpoint_metrics(rec, s), model=False,
                       reward=_rank_reward(rec, step))


def _checkpoint_metrics(rec: JobRecord, step: int) -> dict[str, Any]:
    if rec.job.method.type == "reinforcement":  # the schema's checkpoint metrics have no reward field
        return {"step": step}
    plan = rec.plan
    return cast(dict[str, Any], checkpoint_metrics_at(plan.seed, step, _int(plan.total_steps),
                                                      has_validation=bool(rec.job.validation_file)))


def _rank_reward(rec: JobRecord, step: int) -> float | None:
    """RFT: the valid_reward_mean of the latest validation step at or before `step` (None before the first)."""
    plan = rec.plan
    if rec.job.method.type != "reinforcement":
        return None
    total, every = _int(plan.total_steps), _int(plan.eval_every)
    last = step if is_eval_step(step, total, every) else (step // every) * every
    if last < 1:
        return None
    data = reward_metrics_at(plan.seed, last, total, eval_every=every, grader=rec.job.method.grader(),
                             sec_per_step=_float(plan.sec_per_step))
    return cast(float, data["scores"]["valid_reward_mean"])


def advance(rec: JobRecord, now: int, *, owned: bool = False, timeline_only: bool = False) -> Advance:
    """The job as of `now`, with every event, checkpoint and model record due since the last call.

    `rec` is left as it was, unless `owned`: the caller hands over a record it will not use again (one just read
    from its row), which then becomes the returned one without a deep copy (a copy costs about a tenth of a
    catch-up that polls every minute). `timeline_only`: see `_run` (what `expected_end` asks).
    """
    if not owned:
        rec = rec.model_copy(deep=True)
    out = Advance(record=rec)
    job, plan = rec.job, rec.plan
    while True:
        status = job.status
        if status == "validating_files":
            outcome = plan.outcome
            if outcome is None or now < plan.validate_until:
                out.next_due = plan.validate_until
                break
            if not outcome.ok:
                _fail(rec, out, plan.validate_until, outcome.error or {})
                continue
            job.status = transition(status, "validated", job.id)
            out.events.append(make_event(rec, plan.validate_until, "Files validated, moving job to queued state"))
        elif status == "queued":
            start_at = _int(plan.start_at)
            if now < start_at:
                out.next_due = start_at
                break
            job.status = transition(status, "start", job.id)
            out.events.append(make_event(rec, start_at, "Fine-tuning job started", data=None))
        elif status == "running":
            if not _run(rec, out, now, timeline_only):
                break
        elif status == "paused" and plan.resume_at is not None:  # paused by the system: resumes by itself
            if now < plan.resume_at:
                out.next_due = plan.resume_at
                break
            _resume(rec, out, plan.resume_at)
        else:
            break
    return out


def _run(rec: JobRecord, out: Advance, now: int, timeline_only: bool = False) -> bool:
    """Emit the running phase up to `now`; True when the status changed (the loop continues). `timeline_only`: the
    statuses and their events, without a record per step (for when a job will end: no step's metrics change that)."""
    job, plan = rec.job, rec.plan
    total = _int(plan.total_steps)
    fault = plan.fault
    fault_step = fault.at_step if fault is not None else None
    target = _due_step(plan, now)
    done = _int(plan.steps_done)
    stopping = plan.cap_step is not None or bool(plan.preempt_per_hour)  # pauses the job may take by itself
    if timeline_only and target > done and not stopping:  # straight to the fault's step, or to the target
        if fault is not None and fault_step is not None and done < fault_step <= target:
            plan.steps_done = fault_step - 1
            _fail(rec, out, _step_time(plan, fault_step), fault.model_dump())
            return True
        done = target
    steps = _Steps(rec)
    for step in range(done + 1, target + 1):
        at = _step_time(plan, step)
        if fault is not None and fault_step is not None and step == fault_step:
            plan.steps_done = step - 1
            _fail(rec, out, at, fault.model_dump())
            return True
        _step_records(rec, out, step, at, steps)
        done = step
        stop = stops.stop_after(plan, step) if stopping else None  # Azure: RFT cost cap, Developer preemption
        if stop is not None:
            plan.steps_done = done
            stops.system_pause(rec, out, at, stop)
            return True
    plan.steps_done = done
    if done < total:
        out.next_due = _step_time(plan, done + 1)
        return False
    t_last = _step_time(plan, total)
    created = t_last + throughput.MODEL_CREATED_AFTER_LAST_STEP
    finished = t_last + throughput.FINISHED_AFTER_LAST_STEP
    if not plan.model_emitted:
        if now < created:
            out.next_due = created
            return False
        # emitted lower step first, so the newest-first list shows the higher step first, as recorded live
        for step in reversed(end_of_job_steps(plan)):
            name = ckpt_name(rec, step)
            out.events.append(make_event(rec, created, f"Checkpoint created at step {step} with Snapshot ID: {name}"))
            # live: a checkpoint model's `created`, like the tuned model's, is a few seconds after `finished_at`
            out.models.append({"id": name, "created": created, "step": step, "checkpoint": True})
        out.events.append(make_event(rec, created, f"New fine-tuned model created: {plan.model_name}"))
        job.fine_tuned_model = plan.model_name
        out.models.append({"id": plan.model_name, "created": created, "step": total, "checkpoint": False})
        plan.model_emitted = True
    completed = t_last + throughput.COMPLETED_AFTER_LAST_STEP
    if now < completed:
        out.next_due = completed
        return False
    job.status = transition(job.status, "succeed", job.id)
    job.finished_at = finished
    assert plan.outcome is not None and plan.outcome.tokens_per_epoch is not None
    job.trained_tokens = _int(plan.n_epochs) * plan.outcome.tokens_per_epoch
    out.events.append(make_event(rec, completed, "The job has successfully completed"))
    out.succeeded = True
    return True


def fail_now(rec: JobRecord, now: int, error: Mapping[str, Any]) -> Advance:
    """Fail an active job at `now` with `error` {code, message, param} (the service's last resort for a job it
    cannot advance)."""
    rec = rec.model_copy(deep=True)
    out = Advance(record=rec)
    _fail(rec, out, now, error)
    return out


# -- user actions (pure; the caller has advanced the job to `now` first) ---------------------------------------


def cancel(rec: JobRecord, now: int) -> Advance:
    """Cancel from validating_files, queued, running or paused."""
    rec = rec.model_copy(deep=True)
    job = rec.job
    job.status = transition(job.status, "cancel", job.id)
    job.finished_at = None  # live: about 90 recorded cancelled jobs all carry `finished_at: null`
    event = make_event(rec, now, "Fine tuning process stopping due to job cancellation", level="warn", data=None)
    return Advance(record=rec, events=[event])


TRAINING_FILE_DELETED = {
    "code": "deleted_training_file",
    "param": "training_file",  # the live param is not recorded; every other training-file failure names it
    "message": "The job failed because the training file was deleted",
}


def training_file_deleted(rec: JobRecord, now: int) -> Advance:
    """Fail a validating, queued or running job whose training file was just deleted (live code and text)."""
    return fail_now(rec, now, TRAINING_FILE_DELETED)


def pause(rec: JobRecord, now: int) -> Advance:
    """Pause a running job: snapshot the current step as a checkpoint model, then stop."""
    rec = rec.model_copy(deep=True)
    job, plan = rec.job, rec.plan
    job.status = transition(job.status, "pause", job.id)
    out = Advance(record=rec)
    step, total = _int(plan.steps_done), _int(plan.total_steps)
    has_one = step in {s for s, _, _ in plan.kept or []} or step in (plan.snapshots or [])
    if job.method.type == "reinforcement" and 0 < step:  # every validation step got one (maybe ranked out)
        has_one = has_one or is_eval_step(step, total, _int(plan.eval_every))
    if 0 < step < total and not has_one:
        if plan.snapshots is None:
            plan.snapshots = []
        plan.snapshots.append(step)
        name = ckpt_name(rec, step)
        add_checkpoint(rec, out, step, now, name, lambda s: _checkpoint_metrics(rec, s),
                       reward=_rank_reward(rec, step))
        out.events.append(make_event(rec, now, f"Checkpoint created at step {step} with Snapshot ID: {name}"))
    out.events.append(make_event(rec, now, f"Fine-tuning job paused at step {step}/{total}"))
    plan.paused_at = int(now)
    return out


def resume(rec: JobRecord, now: int) -> Advance:
    """Resume a paused job: back to `queued`, then training continues from the paused step."""
    rec = rec.model_copy(deep=True)
    out = Advance(record=rec)
    _resume(rec, out, now)
    return out


def _resume(rec: JobRecord, out: Advance, at: int) -> None:
    job, plan = rec.job, rec.plan
    job.status = transition(job.status, "resume", job.id)
    plan.round = (plan.round or 0) + 1
    start = int(at) + throughput.queue_seconds(plan.seed, plan.round)
    plan.start_at = plan.run_start = start
    plan.from_step = plan.steps_done
    plan.paused_at = None
    if plan.resume_at is not None:
        plan.resume_at = None
    out.events.append(make_event(rec, at, f"Fine-tuning job resumed from step {plan.steps_done}"))
    out.next_due = start
