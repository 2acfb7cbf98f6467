"""The pure state machine of a fine-tuning job.

    validating_files ─validated→ queued ─start→ running ─succeed→ succeeded
           │ fail                   │            │ fail → failed
           ↓                        │            │ pause → paused ─resume→ queued → running …
         failed        cancel from validating_files, queued, running or paused → cancelled

The transitions are data (`TRANSITIONS`). A job is a JSON dict: the public fields of the live object plus a
private `_sim` plan (seed, timings, step counters). `advance(job, now)` returns the job as it stands at `now`
together with *every* event, checkpoint and tuned-model record due since the last call, in chronological order:
advancing hours emits everything in between at once. No I/O, no clock reads, no global random; ids of events,
checkpoints and model names are derived from the job id, so the same job gives the same world.

The validation outcome needs the dataset (I/O), so the service attaches it with `resolve_plan` or
`fail_validation` once `needs_validation(job, now)` says it is due; `advance` then applies it at its time.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any

from ftsim.simulator.fine_tuning import throughput
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
from ftsim.simulator.fine_tuning.loss_curve import (
    checkpoint_metrics_at,
    is_eval_step,
    metrics_at,
    reward_message,
    reward_metrics_at,
)

__all__ = [
    "ACTIVE",
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

TRANSITIONS: dict[tuple[str, str], str] = {
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
}
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE = frozenset({"validating_files", "queued", "running"})  # statuses that move with the clock
MAX_METRIC_EVENTS = 1000  # above this many steps, a metrics event every ceil(total/1000) steps (+ the last)

_VERB = {"cancel": "cancelled", "pause": "paused", "resume": "resumed"}


@dataclass
class Advance:
    """What one call produced: the new job and the records to store, oldest first."""

    job: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)
    checkpoints: list[dict[str, Any]] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=list)  # tuned-model records: {id, created, step, checkpoint}
    dropped: list[dict[str, Any]] = field(default_factory=list)  # stored checkpoints to delete: {checkpoint_id, model}
    succeeded: bool = False  # the job reached `succeeded` in this call (the caller writes its result file)
    next_due: int | None = None  # when the job next changes by itself; None while paused or terminal


def transition(status: str, action: str, job_id: str = "") -> str:
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


def make_event(job: dict, at: int, message: str, *, level: str = "info", data: Any = _EMPTY, type: str = "message") -> dict:
    """A `fine_tuning.job.event` (data `{}` unless given), its id derived from the job's event counter."""
    sim = job["_sim"]
    sim["seq"] = sim.get("seq", 0) + 1
    return {
        "object": "fine_tuning.job.event",
        "id": dialect.event_id(job["id"], sim["seq"]) or "ftevent-" + derived_id(job["id"], f"event:{sim['seq']}", 24),
        "created_at": int(at),
        "level": level,
        "message": message,
        "data": {} if data is _EMPTY else data,
        "type": type,
    }


def needs_validation(job: dict, now: int) -> bool:
    """True when the job's files are due to be validated and no outcome is attached yet."""
    sim = job["_sim"]
    return job["status"] == "validating_files" and sim.get("outcome") is None and now >= sim["validate_until"]


# -- attaching the validation outcome (pure) ---------------------------------------------------------------


def _resolved(value: Any, auto: Any) -> Any:
    return auto if value in (None, "auto") else value


def resolve_plan(
    job: dict,
    *,
    n_examples: int,
    tokens_per_epoch: int,
    auto_epochs: int,
    auto_batch: int,
    lr_default: float,
    tps: int,
    n_validation: int = 0,
) -> dict:
    """Attach a successful validation: resolve `auto` hyperparameters (mirrored in method) and plan the steps.

    RFT: the core training loop lasts the planner's expected duration (`throughput.rft_loop_seconds`).
    """
    job = copy.deepcopy(job)
    sim = job["_sim"]
    kind = job["method"]["type"]
    hp = job["method"][kind].setdefault("hyperparameters", {})
    hp["n_epochs"] = n_epochs = int(_resolved(hp.get("n_epochs"), auto_epochs))
    hp["batch_size"] = batch = int(_resolved(hp.get("batch_size"), auto_batch))
    hp["learning_rate_multiplier"] = _resolved(hp.get("learning_rate_multiplier"), lr_default)
    if kind == "dpo":
        hp["beta"] = _resolved(hp.get("beta"), 0.1)
    if job.get("hyperparameters") is not None:
        job["hyperparameters"] = {
            "n_epochs": n_epochs,
            "batch_size": batch,
            "learning_rate_multiplier": hp["learning_rate_multiplier"],
        }
    steps_per_epoch = math.ceil(n_examples / batch)
    total = n_epochs * steps_per_epoch
    if kind == "reinforcement":
        loop = throughput.rft_loop_seconds(hp, n_examples=n_examples, n_validation=n_validation,
                                           grader=job["method"][kind].get("grader"))
        per_step = loop / total
    else:
        per_step = throughput.seconds_per_step(
            method=kind, tokens_per_step=batch * tokens_per_epoch / max(n_examples, 1), tps=tps)
    start = sim["validate_until"] + throughput.queue_seconds(sim["seed"], 0)
    eval_interval = hp.get("eval_interval")
    sim.update(
        outcome={"ok": True, "n_examples": n_examples, "tokens_per_epoch": tokens_per_epoch,
                 "n_validation": n_validation},
        n_epochs=n_epochs,
        steps_per_epoch=steps_per_epoch,
        total_steps=total,
        sec_per_step=per_step,
        start_at=start,
        run_start=start,
        from_step=0,
        steps_done=0,
        metrics_every=max(1, math.ceil(total / MAX_METRIC_EVENTS)),
        eval_every=eval_interval if isinstance(eval_interval, int) else max(1, total // 10),
    )
    return job


def fail_validation(job: dict, error: dict) -> dict:
    """Attach a failed validation: `error` is {code, message, param}; the job fails at its validation time."""
    job = copy.deepcopy(job)
    job["_sim"]["outcome"] = {"ok": False, "error": dict(error)}
    return job


# -- the clock-driven part -----------------------------------------------------------------------------------


def _step_time(sim: dict, step: int) -> int:
    return sim["run_start"] + math.ceil((step - sim["from_step"]) * sim["sec_per_step"] - 1e-9)


def _due_step(sim: dict, now: int) -> int:
    if now < sim["run_start"]:
        return sim["steps_done"]
    k = sim["from_step"] + int((now - sim["run_start"]) / sim["sec_per_step"] + 1e-9)
    k = min(k, sim["total_steps"])
    while k > sim["steps_done"] and _step_time(sim, k) > now:
        k -= 1
    while k < sim["total_steps"] and _step_time(sim, k + 1) <= now:
        k += 1
    return max(k, sim["steps_done"])


def _fail(job: dict, out: Advance, at: int, error: dict) -> None:
    job["status"] = transition(job["status"], "fail", job["id"])
    job["error"] = {"code": error.get("code"), "message": error.get("message"), "param": error.get("param")}
    out.events.append(make_event(job, at, str(error.get("message") or "The job failed."), level="error"))


def _step_records(job: dict, out: Advance, step: int, at: int) -> None:
    sim = job["_sim"]
    total, spe = sim["total_steps"], sim["steps_per_epoch"]
    is_rft = job["method"]["type"] == "reinforcement"
    if step % sim["metrics_every"] == 0 or step == total:
        if is_rft:
            data = reward_metrics_at(sim["seed"], step, total, eval_every=sim["eval_every"],
                                     grader=job["method"]["reinforcement"].get("grader"),
                                     sec_per_step=sim["sec_per_step"])
            msg = reward_message(data)
        else:
            data = _metrics(job, step)
            msg = f"Step {step}/{total}: training loss={data['train_loss']:.2f}"
            if "valid_loss" in data:
                msg += f", validation loss={data['valid_loss']:.2f}"
            if "full_valid_loss" in data:
                msg += f", full validation loss={data['full_valid_loss']:.2f}"
        out.events.append(make_event(job, at, msg, data=data, type="metrics"))
    if is_rft:  # RFT: a checkpoint at each validation step, the best 3 by valid_reward_mean kept
        due = is_eval_step(step, total, sim["eval_every"])
    else:
        due = step % spe == 0 and step in epoch_checkpoint_steps(sim)
    if due:
        final = step == total
        name = sim["model_name"] if final else ckpt_name(job, step)
        # live: checkpoint models appear with the tuned model at the end of the job (see `_run`)
        add_checkpoint(job, out, step, at, name, lambda s: _checkpoint_metrics(job, s), model=False,
                       reward=_rank_reward(job, step))


def _metrics(job: dict, step: int) -> dict:
    sim = job["_sim"]
    return metrics_at(sim["seed"], step, sim["total_steps"], steps_per_epoch=sim["steps_per_epoch"],
                      has_validation=bool(job.get("validation_file")))


def _checkpoint_metrics(job: dict, step: int) -> dict:
    if job["method"]["type"] == "reinforcement":  # the schema's checkpoint metrics have no reward field
        return {"step": step}
    sim = job["_sim"]
    return checkpoint_metrics_at(sim["seed"], step, sim["total_steps"], has_validation=bool(job.get("validation_file")))


def _rank_reward(job: dict, step: int) -> float | None:
    """RFT: the valid_reward_mean of the latest validation step at or before `step` (None before the first)."""
    sim = job["_sim"]
    if job["method"]["type"] != "reinforcement":
        return None
    total, every = sim["total_steps"], sim["eval_every"]
    last = step if is_eval_step(step, total, every) else (step // every) * every
    if last < 1:
        return None
    data = reward_metrics_at(sim["seed"], last, total, eval_every=every,
                             grader=job["method"]["reinforcement"].get("grader"), sec_per_step=sim["sec_per_step"])
    return data["scores"]["valid_reward_mean"]


def advance(job: dict, now: int) -> Advance:
    """The job as of `now`, with every event, checkpoint and model record due since the last call."""
    job = copy.deepcopy(job)
    out = Advance(job=job)
    sim = job["_sim"]
    while True:
        status = job["status"]
        if status == "validating_files":
            outcome = sim.get("outcome")
            if outcome is None or now < sim["validate_until"]:
                out.next_due = sim["validate_until"]
                break
            if not outcome["ok"]:
                _fail(job, out, sim["validate_until"], outcome["error"])
                continue
            job["status"] = transition(status, "validated", job["id"])
            out.events.append(make_event(job, sim["validate_until"], "Files validated, moving job to queued state"))
        elif status == "queued":
            if now < sim["start_at"]:
                out.next_due = sim["start_at"]
                break
            job["status"] = transition(status, "start", job["id"])
            out.events.append(make_event(job, sim["start_at"], "Fine-tuning job started", data=None))
        elif status == "running":
            if not _run(job, out, now):
                break
        else:
            break
    out.job = job
    return out


def _run(job: dict, out: Advance, now: int) -> bool:
    """Emit the running phase up to `now`; True when the status changed (the loop continues)."""
    sim = job["_sim"]
    total = sim["total_steps"]
    fault = sim.get("fault") or {}
    fault_step = fault.get("at_step")
    target = _due_step(sim, now)
    for step in range(sim["steps_done"] + 1, target + 1):
        at = _step_time(sim, step)
        if fault_step is not None and step == fault_step:
            sim["steps_done"] = step - 1
            _fail(job, out, at, fault)
            return True
        _step_records(job, out, step, at)
        sim["steps_done"] = step
    if sim["steps_done"] < total:
        out.next_due = _step_time(sim, sim["steps_done"] + 1)
        return False
    t_last = _step_time(sim, total)
    created = t_last + throughput.MODEL_CREATED_AFTER_LAST_STEP
    finished = t_last + throughput.FINISHED_AFTER_LAST_STEP
    if not sim.get("model_emitted"):
        if now < created:
            out.next_due = created
            return False
        # emitted lower step first, so the newest-first list shows the higher step first, as recorded live
        for step in reversed(end_of_job_steps(sim)):
            name = ckpt_name(job, step)
            out.events.append(make_event(job, created, f"Checkpoint created at step {step} with Snapshot ID: {name}"))
            # live: a checkpoint model's `created`, like the tuned model's, is a few seconds after `finished_at`
            out.models.append({"id": name, "created": created, "step": step, "checkpoint": True})
        out.events.append(make_event(job, created, f"New fine-tuned model created: {sim['model_name']}"))
        job["fine_tuned_model"] = sim["model_name"]
        out.models.append({"id": sim["model_name"], "created": created, "step": total, "checkpoint": False})
        sim["model_emitted"] = True
    completed = t_last + throughput.COMPLETED_AFTER_LAST_STEP
    if now < completed:
        out.next_due = completed
        return False
    job["status"] = transition(job["status"], "succeed", job["id"])
    job["finished_at"] = finished
    job["trained_tokens"] = sim["n_epochs"] * sim["outcome"]["tokens_per_epoch"]
    out.events.append(make_event(job, completed, "The job has successfully completed"))
    out.succeeded = True
    return True


def fail_now(job: dict, now: int, error: dict) -> Advance:
    """Fail an active job at `now` with `error` {code, message, param} (the service's last resort for a job it
    cannot advance)."""
    job = copy.deepcopy(job)
    out = Advance(job=job)
    _fail(job, out, now, error)
    return out


# -- user actions (pure; the caller has advanced the job to `now` first) ---------------------------------------


def cancel(job: dict, now: int) -> Advance:
    """Cancel from validating_files, queued, running or paused."""
    job = copy.deepcopy(job)
    job["status"] = transition(job["status"], "cancel", job["id"])
    job["finished_at"] = None  # live: about 90 recorded cancelled jobs all carry `finished_at: null`
    event = make_event(job, now, "Fine tuning process stopping due to job cancellation", level="warn", data=None)
    return Advance(job=job, events=[event])


TRAINING_FILE_DELETED = {
    "code": "deleted_training_file",
    "param": "training_file",  # the live param is not recorded; every other training-file failure names it
    "message": "The job failed because the training file was deleted",
}


def training_file_deleted(job: dict, now: int) -> Advance:
    """Fail a validating, queued or running job whose training file was just deleted (live code and text)."""
    job = copy.deepcopy(job)
    out = Advance(job=job)
    _fail(job, out, now, TRAINING_FILE_DELETED)
    return out


def pause(job: dict, now: int) -> Advance:
    """Pause a running job: snapshot the current step as a checkpoint model, then stop."""
    job = copy.deepcopy(job)
    job["status"] = transition(job["status"], "pause", job["id"])
    sim = job["_sim"]
    out = Advance(job=job)
    step = sim["steps_done"]
    has_one = step in {s for s, _, _ in sim.get("kept", [])} or step in sim.get("snapshots", [])
    if job["method"]["type"] == "reinforcement" and 0 < step:  # every validation step got one (maybe ranked out)
        has_one = has_one or is_eval_step(step, sim["total_steps"], sim["eval_every"])
    if 0 < step < sim["total_steps"] and not has_one:
        sim.setdefault("snapshots", []).append(step)
        name = ckpt_name(job, step)
        add_checkpoint(job, out, step, now, name, lambda s: _checkpoint_metrics(job, s),
                       reward=_rank_reward(job, step))
        out.events.append(make_event(job, now, f"Checkpoint created at step {step} with Snapshot ID: {name}"))
    out.events.append(make_event(job, now, f"Fine-tuning job paused at step {step}/{sim['total_steps']}"))
    sim["paused_at"] = int(now)
    return out


def resume(job: dict, now: int) -> Advance:
    """Resume a paused job: back to `queued`, then training continues from the paused step."""
    job = copy.deepcopy(job)
    job["status"] = transition(job["status"], "resume", job["id"])
    sim = job["_sim"]
    sim["round"] = sim.get("round", 0) + 1
    start = int(now) + throughput.queue_seconds(sim["seed"], sim["round"])
    sim.update(start_at=start, run_start=start, from_step=sim["steps_done"], paused_at=None)
    event = make_event(job, now, f"Fine-tuning job resumed from step {sim['steps_done']}")
    return Advance(job=job, events=[event], next_due=start)
