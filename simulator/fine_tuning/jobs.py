"""The fine-tuning jobs service: create, list, retrieve, cancel, pause, resume, events, checkpoints, catch-up.

Synchronous 400s only for what the live API refuses at once: bad parameters (dotted `param`), an unknown training
or validation file or one of the wrong purpose (`invalid training_file: <id>`, checked before the model), an
unknown, alias or non-fine-tunable model (`model_not_available`), a method the model does not offer, an RFT job
without a grader or a validation file. Format problems surface later as a `failed` job (asynchronous validation).

Simultaneous jobs: at most `config.max_concurrent_jobs_per_model` non-terminal jobs per tenant and base model;
one more is refused with 429 `rate_limit_exceeded` (the live "you can only have 3 simultaneous runs"), sent with
`x-should-retry: false` because the SDK's retries within seconds cannot succeed.

Retired models (catalog `training_until` before the simulated date): config.lifecycle `warn` runs the job with a
warn event, `enforce` refuses it like the live API, `ignore` says nothing.
"""

from __future__ import annotations

import base64
import builtins
import datetime as dt
import hashlib
from typing import TYPE_CHECKING, Any

from ftsim.pricing.costs.hyperparameters import auto_batch_size, auto_n_epochs
from ftsim.simulator.fine_tuning import params as job_params
from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.fine_tuning import throughput
from ftsim.simulator.fine_tuning import wind_down
from ftsim.simulator.core import dialect
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, RateLimitError
from ftsim.simulator.fine_tuning.types import FineTuningJob
from ftsim.simulator.fine_tuning.validation import fault_spec, validate_files
from ftsim.simulator.fine_tuning.loss_curve import results_csv
from ftsim.simulator.core.pagination import check_limit, list_envelope
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["FineTuningJobs", "not_found"]


def not_found(job_id: str) -> NotFoundError:
    """The 404 for an unknown (or another tenant's) job: the live body, word for word."""
    return NotFoundError(f"Could not find fine tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")


def _model_not_available(model: str) -> BadRequestError:
    return BadRequestError(f"Model {model} is not available for fine-tuning or does not exist.",
                           code="model_not_available")


class FineTuningJobs:
    """The jobs service; keeps the due time of every moving job in memory (rebuilt from the store)."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._due: dict[tuple[str, str], int] = {}
        self._rebuild()

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        self._due.clear()
        for tenant_key, rec in self.backend.store.scan("job"):
            due = rec.get("_sim", {}).get("next_due")
            if rec["status"] in lifecycle.ACTIVE and due is not None:
                self._due[(tenant_key, rec["id"])] = due

    def reset(self) -> None:
        """Forget the in-memory schedule (the store was wiped)."""
        self._rebuild()

    def _record(self, tenant: Tenant, job_id: str) -> dict[str, Any]:
        rec = self.backend.store.get("job", tenant.key, job_id) if isinstance(job_id, str) else None
        if rec is None:
            raise not_found(job_id)
        return rec

    @staticmethod
    def _tenant_of(rec: dict[str, Any]) -> Tenant:
        t = rec["_sim"]["tenant"]
        return Tenant(org_id=t[0], org_slug=t[1], project_id=t[2])

    def _apply(self, tenant_key: str, adv: lifecycle.Advance) -> dict[str, Any]:
        """Store what an advance produced and reschedule the job."""
        store, job = self.backend.store, adv.job
        for event in adv.events:
            store.put("event", tenant_key, event["id"], event, parent=job["id"])
        for ckpt in adv.checkpoints:
            store.put("checkpoint", tenant_key, ckpt["id"], ckpt, parent=job["id"])
        sim = job["_sim"]
        for model in adv.models:
            store.put("model", tenant_key, model["id"], {
                "id": model["id"], "object": "model", "created": model["created"], "owned_by": self._tenant_of(job).owner,
                "fine_tuning_job_id": job["id"], "base_model": sim["snapshot"], "training_file": job["training_file"],
                "validation_file": job.get("validation_file"), "method": job["method"]["type"],
                "checkpoint": model["checkpoint"], "step_number": model["step"], "project_id": sim["tenant"][2],
            })
        for gone in adv.dropped:  # beyond the 3 kept checkpoints (reference §3.3), with what was granted on them
            store.delete("checkpoint", tenant_key, gone["checkpoint_id"])
            if gone["model"] is None:  # the final checkpoint's record only: the job's tuned model stays
                continue
            store.delete("model", tenant_key, gone["model"])
            store.delete_children("permission", tenant_key, gone["model"])
        if adv.succeeded:
            job["result_files"] = [self._result_file(job).id]
        sim["next_due"] = adv.next_due if job["status"] in lifecycle.ACTIVE else None
        key = (tenant_key, job["id"])
        if sim["next_due"] is None:
            self._due.pop(key, None)
        else:
            self._due[key] = sim["next_due"]
        store.put("job", tenant_key, job["id"], job)
        return job

    def _result_file(self, job: dict[str, Any]) -> Any:
        sim = job["_sim"]
        text = results_csv(sim["seed"], sim["total_steps"], steps_per_epoch=sim["steps_per_epoch"],
                           has_validation=bool(job.get("validation_file")))
        return self.backend.files.create_bytes(self._tenant_of(job), filename="step_metrics.csv",
                                               purpose="fine-tune-results", content=base64.b64encode(text.encode()),
                                               created_at=job["finished_at"])  # live: the finish time

    # -- catch-up ---------------------------------------------------------------------------------------------

    def is_due(self, now: int) -> bool:
        """Whether some job's next change is due at `now` (the in-memory schedule: no SQLite)."""
        return bool(self._due) and min(self._due.values()) <= now

    def sync(self, now: int) -> None:
        """Advance every job whose next change is due, emitting everything up to `now`."""
        due = sorted(key for key, when in self._due.items() if when <= now)
        if not due:
            return
        with self.backend.lock, self.backend.store.transaction():
            for tenant_key, job_id in due:
                rec = self.backend.store.get("job", tenant_key, job_id)
                if rec is None:
                    self._due.pop((tenant_key, job_id), None)
                    continue
                self._step(tenant_key, rec, now)

    def _step(self, tenant_key: str, rec: dict[str, Any], now: int) -> dict[str, Any]:
        if lifecycle.needs_validation(rec, now):
            rec = self._validate(rec)
        return self._apply(tenant_key, lifecycle.advance(rec, now))

    def _validate(self, rec: dict[str, Any]) -> dict[str, Any]:
        """Attach the validation outcome (scan the files; consult injected faults)."""
        sim, tenant = rec["_sim"], self._tenant_of(rec)
        faults = getattr(self.backend, "faults", None)
        fault = fault_spec(faults.job_failure(tenant, FineTuningJob.from_record(rec)) if faults else None)
        if fault is not None and fault["at_step"] is None:
            return lifecycle.fail_validation(rec, fault)
        entry = self.backend.catalog.resolve(sim["snapshot"])
        files = self.backend.files

        def path_of(file_id: str) -> Any:
            try:
                return files.content_path(tenant, file_id)
            except NotFoundError:
                return None

        validation = (rec["validation_file"], path_of(rec["validation_file"])) if rec.get("validation_file") else None
        result = validate_files(method=rec["method"]["type"], entry=entry,
                                training=(rec["training_file"], path_of(rec["training_file"])), validation=validation)
        if result.error is not None:
            return lifecycle.fail_validation(rec, result.error)
        n = result.n_examples
        rec = lifecycle.resolve_plan(
            rec, n_examples=n, tokens_per_epoch=result.tokens_per_epoch, auto_epochs=auto_n_epochs(n),
            auto_batch=auto_batch_size(n), lr_default=_lr_default(entry, self.backend.catalog),
            tps=throughput.tokens_per_second(sim["snapshot"], entry), n_validation=result.n_validation,
        )
        if fault is not None:
            rec["_sim"]["fault"] = {**fault, "at_step": max(1, min(fault["at_step"], rec["_sim"]["total_steps"]))}
        return rec

    # -- create -----------------------------------------------------------------------------------------------

    def create(
        self,
        tenant: Tenant,
        *,
        model: str,
        training_file: str,
        validation_file: str | None = None,
        method: Any = None,
        hyperparameters: Any = None,
        suffix: Any = None,
        seed: Any = None,
        metadata: Any = None,
        integrations: Any = None,
    ) -> FineTuningJob:
        """Create a job in `validating_files` (synchronous checks only; the files are validated later)."""
        suffix = job_params.check_suffix(suffix)
        seed = job_params.check_seed(seed)
        metadata = job_params.check_metadata(metadata)
        norm_method = job_params.normalize_method(method, hyperparameters)
        job_params.normalize_integrations(integrations, "")
        with self.backend.lock, self.backend.store.transaction():
            now = self.backend.sync()
            # the organization's right to train is checked before its files and model (a choice: live order unknown)
            azure = dialect.is_azure(tenant)  # Azure's own checks ran at its door (simulator/fine_tuning/azure.py)
            blocked = None if azure else self._check_wind_down(tenant, now)
            files_bytes = self._check_file(tenant, training_file, "training_file")
            if validation_file is not None:
                files_bytes += self._check_file(tenant, validation_file, "validation_file")
            snapshot, entry = self._check_model(tenant, model)
            kind = norm_method["type"]
            if not entry.allows(kind):
                raise BadRequestError(f"Fine-tuning method '{kind}' is not available for model {model}.",
                                      param="method.type")
            if kind == "reinforcement" and validation_file is None:
                raise BadRequestError("A validation_file is required for reinforcement fine-tuning jobs.",
                                      param="validation_file")
            warning = None if azure else self._check_lifecycle(entry, now, model)
            self._check_concurrency(tenant, snapshot)
            job_id = dialect.new_job_id(self.backend, tenant)  # Azure: 32 hex
            if seed is None:
                seed = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big") & 0x7FFFFFFF
            rec = {
                "object": "fine_tuning.job", "id": job_id, "model": model if model.startswith("ft:") else snapshot,
                "created_at": now,
                "finished_at": None, "fine_tuned_model": None, "organization_id": tenant.org_id,
                "result_files": [], "status": "validating_files", "validation_file": validation_file,
                "training_file": training_file, "hyperparameters": job_params.top_level_hyperparameters(norm_method),
                "trained_tokens": None, "error": {}, "user_provided_suffix": suffix, "seed": seed,
                "estimated_finish": None, "integrations": job_params.normalize_integrations(integrations, job_id),
                "metadata": metadata, "usage_metrics": None, "shared_with_openai": False,
                "eval_id": "eval_" + lifecycle.derived_id(job_id, "eval", 32) if kind == "reinforcement" else None,
                "method": norm_method,
                "_sim": {
                    "seed": seed, "snapshot": snapshot, "org_slug": tenant.org_slug,
                    "tenant": [tenant.org_id, tenant.org_slug, tenant.project_id],
                    "model_name": lifecycle.model_name(snapshot, tenant.org_slug, suffix, job_id),
                    "validate_until": now + throughput.validation_seconds(files_bytes, seed),
                    "outcome": None, "seq": 0,
                },
            }
            events = [lifecycle.make_event(rec, now, f"Created fine-tuning job: {job_id}")]
            text = f"Validating training file: {training_file}"
            if validation_file is not None:
                text += f" and validation file: {validation_file}"
            events.append(lifecycle.make_event(rec, now, text))
            if warning:
                events.append(lifecycle.make_event(rec, now, warning, level="warn"))
            if blocked:
                events.append(lifecycle.make_event(rec, now, blocked, level="warn"))
            adv = lifecycle.Advance(job=rec, events=events, next_due=rec["_sim"]["validate_until"])
            return FineTuningJob.from_record(self._apply(tenant.key, adv))

    def _check_file(self, tenant: Tenant, file_id: Any, param: str) -> int:
        data = self.backend.store.get("file", tenant.key, file_id) if isinstance(file_id, str) else None
        if data is None or data.get("purpose") != "fine-tune":
            raise BadRequestError(f"invalid {param}: {file_id}", param=param)
        return int(data.get("bytes") or 0)

    def _check_model(self, tenant: Tenant, model: Any) -> tuple[str, Any]:
        """(base snapshot, catalog entry) of a fine-tunable snapshot or one of the tenant's tuned models."""
        if not isinstance(model, str) or not model:
            raise _model_not_available(str(model))
        if model.startswith("ft:"):
            tuned = self.backend.store.get("model", tenant.key, model)
            entry = self.backend.catalog.get(tuned["base_model"]) if tuned else None
            if entry is None or not entry.is_fine_tunable:
                raise _model_not_available(model)
            return entry.snapshot, entry
        entry = self.backend.catalog.get(model)
        accepted = entry is not None and (entry.snapshot == model or model in entry.fine_tuning_aliases)
        if entry is None or not entry.is_fine_tunable or not accepted:
            raise _model_not_available(model)
        return entry.snapshot, entry

    def _check_wind_down(self, tenant: Tenant, now: int) -> str | None:
        """403 `training_not_available` under enforce when the organization is blocked; the warning under warn."""
        policy = self.backend.config.lifecycle
        if policy == "ignore":
            return None
        today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
        fine_tuned, last, active = wind_down.organization_state(self.backend, tenant)
        reason = wind_down.blocked_reason(self.backend.catalog.wind_down, today, fine_tuned=fine_tuned,
                                          last_inference=last, active=active)
        if reason is None:
            return None
        if policy == "enforce":
            raise wind_down.training_not_available()
        return f"The live API refuses this job with 403 training_not_available: {reason}."

    def _check_lifecycle(self, entry: Any, now: int, model: str) -> str | None:
        policy = self.backend.config.lifecycle
        today = dt.datetime.fromtimestamp(now, dt.timezone.utc).date()
        if policy == "ignore" or entry.training_open(today):
            return None
        if policy == "enforce":
            raise _model_not_available(model)
        return (f"{entry.snapshot} stopped accepting new fine-tuning jobs on {entry.training_until.isoformat()}: "
                f"the live API refuses this job with 400 model_not_available.")

    def _check_concurrency(self, tenant: Tenant, snapshot: str) -> None:
        limit = self.backend.config.max_concurrent_jobs_per_model
        running = sum(1 for _, rec in self.backend.store.scan("job", tenant.key)
                      if rec["status"] not in lifecycle.TERMINAL and rec["_sim"]["snapshot"] == snapshot)
        if running >= limit:
            raise RateLimitError(
                f"You can only have {limit} simultaneous fine-tuning jobs for {snapshot} per organization. "
                "Wait for a running job to finish, or cancel one, then try again.",
                headers={"x-should-retry": "false"},
            )

    # -- reads ------------------------------------------------------------------------------------------------

    def retrieve(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """One job (404 if unknown or another tenant's)."""
        return FineTuningJob.from_record(self._record(tenant, job_id))

    def list(self, tenant: Tenant, *, after: str | None = None, limit: int | None = None,
             metadata: dict[str, str] | None = None, metadata_null: bool = False) -> dict[str, Any]:
        """Jobs newest first; `metadata` keeps jobs whose metadata holds every pair, `metadata_null` those with none."""
        size = check_limit(limit, default=20)

        def where(rec: dict[str, Any]) -> bool:
            meta = rec.get("metadata")
            if metadata_null:
                return meta is None
            return all((meta or {}).get(k) == v for k, v in (metadata or {}).items())

        filtering = metadata_null or bool(metadata)
        items, more = self.backend.store.page("job", tenant.key, after=after, limit=size,
                                              where=where if filtering else None)
        return list_envelope([FineTuningJob.from_record(r) for r in items], more, ids=False)

    def list_events(self, tenant: Tenant, job_id: str, *, after: str | None = None,
                    limit: int | None = None) -> dict[str, Any]:
        """A job's events, newest first."""
        self._record(tenant, job_id)
        size = check_limit(limit, default=20)
        items, more = self.backend.store.page("event", tenant.key, parent=job_id, after=after, limit=size)
        return list_envelope(items, more, ids=False)

    def list_events_text(self, tenant: Tenant, job_id: str, *, after: str | None = None,
                         limit: int | None = None) -> tuple[builtins.list[str], bool]:  # `list` is a method here
        """`list_events`' page as the events' stored JSON text, undecoded; (texts, has_more)."""
        if not isinstance(job_id, str) or not self.backend.store.exists("job", tenant.key, job_id):
            raise not_found(job_id)
        size = check_limit(limit, default=20)
        return self.backend.store.page_text("event", tenant.key, parent=job_id, after=after, limit=size)

    def list_checkpoints(self, tenant: Tenant, job_id: str, *, after: str | None = None,
                         limit: int | None = None) -> dict[str, Any]:
        """A job's checkpoints, newest first, with first_id/last_id."""
        self._record(tenant, job_id)
        size = check_limit(limit, default=10)
        items, more = self.backend.store.page("checkpoint", tenant.key, parent=job_id, after=after, limit=size)
        return list_envelope(items, more, ids=True)

    # -- actions ----------------------------------------------------------------------------------------------

    def _act(self, tenant: Tenant, job_id: str, action: Any) -> FineTuningJob:
        with self.backend.lock, self.backend.store.transaction():
            now = self.backend.sync()
            rec = self._record(tenant, job_id)
            return FineTuningJob.from_record(self._apply(tenant.key, action(rec, now)))

    def cancel(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Cancel a job that is not terminal (400 otherwise)."""
        return self._act(tenant, job_id, lifecycle.cancel)

    def pause(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Pause a running job (400 otherwise); its current step becomes a checkpoint model."""
        return self._act(tenant, job_id, lifecycle.pause)

    def resume(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Resume a paused job: back to `queued`, then training continues where it stopped."""
        return self._act(tenant, job_id, lifecycle.resume)

    def training_file_deleted(self, tenant: Tenant, file_id: str) -> None:
        """Fail the tenant's moving jobs that train on `file_id` (called when the file is deleted).

        A paused job is left as it is: the sources do not say what happens to it."""
        with self.backend.lock, self.backend.store.transaction():
            now = self.backend.sync()
            for _, rec in list(self.backend.store.scan("job", tenant.key)):
                if rec["status"] in lifecycle.ACTIVE and rec["training_file"] == file_id:
                    self._apply(tenant.key, lifecycle.training_file_deleted(rec, now))

    # -- cost -------------------------------------------------------------------------------------------------

    def estimated_cost(self, tenant: Tenant, job_id: str) -> dict[str, Any]:
        """What the job costs (or will cost) at list prices, from the planner's own functions."""
        from ftsim.simulator.fine_tuning.cost import job_cost

        return job_cost(self._record(tenant, job_id), self.backend.catalog)


def _lr_default(entry: Any, catalog: Any) -> float:
    value = getattr(entry, "lr_multiplier", None) or getattr(catalog, "default_lr_multiplier", None) or 2.0
    return float(value)  # live: auto resolves to a float (`2.0`), never an integer
