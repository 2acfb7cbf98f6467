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
import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable

from pydantic import ValidationError

from ftsim.pricing.costs.hyperparameters import auto_batch_size, auto_n_epochs
from ftsim.simulator.fine_tuning import params as job_params
from ftsim.simulator.fine_tuning import lifecycle
from ftsim.simulator.fine_tuning import throughput
from ftsim.simulator.fine_tuning import wind_down
from ftsim.simulator.fine_tuning import azure as azure_jobs
from ftsim.simulator.core import dialect
from ftsim.simulator.core.errors import BadRequestError, NotFoundError, RateLimitError, ServiceUnavailableError
from ftsim.simulator.core.store import StorageFault
from ftsim.simulator.fine_tuning.types import FineTuningJob, InjectedFault, JobPlan, JobRecord
from ftsim.simulator.fine_tuning.validation import fault_spec, validate_files
from ftsim.simulator.fine_tuning.loss_curve import results_csv
from ftsim.simulator.core.pagination import check_limit, list_envelope
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["FineTuningJobs", "not_found"]

_log = logging.getLogger("ftsim.jobs")
_BATCH = 64  # jobs per catch-up transaction: one commit for many, the backend lock released between batches
_BATCH_SECONDS = 0.05  # scanned outcomes wait at most about this long for their commit
_LARGE_SCAN = 8 * 1024 * 1024  # a job's files of this many bytes or more: commit what is scanned before them


def _worked_on(key: tuple[str, str], tenant_key: str | None, validating: Any) -> bool:
    """Whether a catch-up for `tenant_key` (None: for nobody in particular) works on the due job `key`: every job,
    but other tenants' jobs waiting for their files' scan (see `FineTuningJobs.sync`)."""
    return tenant_key is None or key[0] == tenant_key or key not in validating


def not_found(job_id: str) -> NotFoundError:
    """The 404 for an unknown (or another tenant's) job: the live body, word for word."""
    return NotFoundError(f"Could not find fine tune: {job_id}", param="fine_tune_id", code="fine_tune_not_found")


def _model_not_available(model: str) -> BadRequestError:
    return BadRequestError(f"Model {model} is not available for fine-tuning or does not exist.",
                           code="model_not_available")


class FineTuningJobs:
    """The jobs service; keeps the due time of every moving job in memory (rebuilt from the store).

    The schedule (`_due`) only ever changes after the transaction that wrote the job's row commits
    (`Store.after_commit`), so a request that fails and rolls back leaves it as the rows say.
    """

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._due: dict[tuple[str, str], int] = {}
        self._busy: set[tuple[str, str]] = set()  # jobs a catch-up is working on (their files being scanned)
        self._validating: set[tuple[str, str]] = set()  # scheduled jobs still in validating_files
        self._claims = threading.Lock()
        self._rebuild()

    # -- bookkeeping ------------------------------------------------------------------------------------------

    def _rebuild(self) -> None:
        self._due.clear()
        self._validating.clear()
        for (tenant_key, job_id), (due, status) in self._moving_rows().items():
            self._due[(tenant_key, job_id)] = due
            if status == "validating_files":
                self._validating.add((tenant_key, job_id))

    def _moving_rows(self) -> dict[tuple[str, str], tuple[int, str]]:
        """(tenant key, job id) -> (next change, status) of every committed job that moves with the clock.

        A row whose plan does not load as a `JobPlan` is left out (logged): advancing it could only fail."""
        rows: dict[tuple[str, str], tuple[int, str]] = {}
        for tenant_key, row in self.backend.store.scan("job"):
            if row.get("status") not in lifecycle.SCHEDULED:  # a paused job only when it resumes by itself
                continue
            try:
                due = JobPlan.from_row(row).next_due
            except (KeyError, TypeError, ValidationError):
                _log.warning("fine-tuning job %s has an unreadable plan; it is not scheduled", row.get("id"))
                continue
            if due is not None:
                rows[(tenant_key, row["id"])] = (due, row["status"])
        return rows

    def schedule_from_rows(self) -> dict[tuple[str, str], int]:
        """The schedule as the committed rows say it: (tenant key, job id) -> when the job next changes."""
        return {key: due for key, (due, _) in self._moving_rows().items()}

    def schedule(self) -> dict[tuple[str, str], int]:
        """A copy of the in-memory schedule (what `schedule_from_rows` must equal once no catch-up is under way)."""
        return dict(self._due)

    def reset(self) -> None:
        """Forget the in-memory schedule (the store was wiped)."""
        self._rebuild()

    def _set_due(self, key: tuple[str, str], when: int | None, validating: bool = False) -> None:
        if when is None:
            self._due.pop(key, None)
        else:
            self._due[key] = when
        if validating and when is not None:
            self._validating.add(key)
        else:
            self._validating.discard(key)

    def _row(self, tenant: Tenant, job_id: str) -> dict[str, Any]:
        row = self.backend.store.get("job", tenant.key, job_id) if isinstance(job_id, str) else None
        if row is None:
            raise not_found(job_id)
        return row

    def _record(self, tenant: Tenant, job_id: str) -> JobRecord:
        return JobRecord.from_row(self._row(tenant, job_id))

    @staticmethod
    def _tenant_of(rec: JobRecord) -> Tenant:
        t = rec.plan.tenant
        return Tenant(org_id=t[0], org_slug=t[1], project_id=t[2])

    def _apply(self, tenant_key: str, adv: lifecycle.Advance) -> JobRecord:
        """Store what an advance produced and reschedule the job (in memory once the caller's transaction commits)."""
        store, rec = self.backend.store, adv.record
        job, plan = rec.job, rec.plan
        azure_jobs.report_billed_hours(adv)  # Azure: "Training hours billed" events (simulator/fine_tuning/azure.py)
        store.put_many("event", tenant_key, adv.events, parent=job.id)  # in order: listings go by insertion
        store.put_many("checkpoint", tenant_key, adv.checkpoints, parent=job.id)
        for model in adv.models:
            store.put("model", tenant_key, model["id"], {
                "id": model["id"], "object": "model", "created": model["created"], "owned_by": self._tenant_of(rec).owner,
                "fine_tuning_job_id": job.id, "base_model": plan.snapshot, "training_file": job.training_file,
                "validation_file": job.validation_file, "method": job.method.type,
                "checkpoint": model["checkpoint"], "step_number": model["step"], "project_id": plan.tenant[2],
            })
        for gone in adv.dropped:  # beyond the 3 kept checkpoints (reference §3.3), with what was granted on them
            store.delete("checkpoint", tenant_key, gone["checkpoint_id"])
            if gone["model"] is None:  # the final checkpoint's record only: the job's tuned model stays
                continue
            store.delete("model", tenant_key, gone["model"])
            store.delete_children("permission", tenant_key, gone["model"])
        if adv.succeeded:
            job.result_files = [self._result_file(rec).id]
        plan.next_due = due = adv.next_due if job.status in lifecycle.SCHEDULED else None
        # to_row checks the plan: the stored plan is always a valid JobPlan (else this job fails alone)
        store.put("job", tenant_key, job.id, rec.to_row())
        key, validating = (tenant_key, job.id), job.status == "validating_files"
        store.after_commit(lambda: self._set_due(key, due, validating))
        return rec

    def _result_file(self, rec: JobRecord) -> Any:
        plan, job = rec.plan, rec.job
        assert plan.total_steps is not None and plan.steps_per_epoch is not None  # a succeeded job was planned
        text = results_csv(plan.seed, plan.total_steps, steps_per_epoch=plan.steps_per_epoch,
                           has_validation=bool(job.validation_file))
        return self.backend.files.create_bytes(self._tenant_of(rec), filename="step_metrics.csv",
                                               purpose="fine-tune-results", content=base64.b64encode(text.encode()),
                                               created_at=job.finished_at,  # live: the finish time
                                               file_id=dialect.result_file_id(job.id))

    # -- catch-up ---------------------------------------------------------------------------------------------

    def is_due(self, now: int, tenant_key: str | None = None) -> bool:
        """Whether some job's next change is due at `now` (the in-memory schedule: no SQLite); for `tenant_key`'s
        catch-up, another tenant's job due for its files' scan does not count (`sync` leaves it to its owner)."""
        due, busy = self._due, self._busy
        if min(list(due.values()), default=now + 1) > now:  # the usual case: one pass in C (every request asks)
            return False
        validating = self._validating
        return any(when <= now and key not in busy and _worked_on(key, tenant_key, validating)
                   for key, when in list(due.items()))

    def record(self, tenant_key: str, job_id: str) -> JobRecord | None:
        """The committed job, typed: its public object and its private plan apart (None if unknown)."""
        row = self.backend.store.get("job", tenant_key, job_id)
        return JobRecord.from_row(row) if row is not None else None

    def next_change(self, tenant_key: str, job_id: str) -> int | None:
        """When the job next changes by itself (None: paused by the user, terminal or unknown), from its committed row."""
        rec = self.record(tenant_key, job_id)
        if rec is None or rec.job.status not in lifecycle.SCHEDULED:
            return None
        return rec.plan.next_due

    def expected_end(self, tenant_key: str, job_id: str) -> int | None:
        """When the job stops changing by itself if nothing interferes: the second it becomes terminal, or pauses
        with nothing to resume it (Azure's RFT cost cap). Known once its files are validated and while it moves with
        the clock (a job the system paused resumes by itself, and counts); None otherwise (validation pending or
        failed, paused by the user, terminal, unknown)."""
        rec = self.record(tenant_key, job_id)
        if rec is None or rec.job.status not in lifecycle.SCHEDULED:
            return None
        plan = rec.plan
        if plan.outcome is None or not plan.outcome.ok:
            return None
        out = lifecycle.advance(rec, 2**40, owned=True, timeline_only=True)  # the rest of its life, not stored
        after = out.record
        settled = after.job.status in lifecycle.TERMINAL or (after.job.status == "paused" and after.plan.resume_at is None)
        if not settled or not out.events:
            return None
        return max(e["created_at"] for e in out.events)

    def settles_at(self, tenant_key: str, job_id: str) -> int | None:
        """Where to move the clock to see the job settle: its `expected_end` when known, else its next change (None
        when it will not move by itself). What `run_until_complete` and the console's "run every job" jump to."""
        return self.expected_end(tenant_key, job_id) or self.next_change(tenant_key, job_id)

    def sync(self, now: int, tenant_key: str | None = None) -> None:
        """Advance every job whose next change is due, emitting everything up to `now`; for `tenant_key`'s request,
        every job but other tenants' jobs due for their files' scan.

        A request catches up its own tenant's due scans and every tenant's cheap steps; another tenant's scan is
        left to that tenant's next request (or a catch-up for nobody in particular: the control plane's clock
        moves, the kit's `advance`), so that a request never waits on a scan of files it does not own (issue 13:
        a poll used to scan the 500 MB file of whichever tenant's validation fell due first). The choice, over a
        background scanner: a validation's outcome depends on the job's row, its files and the fault rules only,
        never on when it is worked out (its events are dated by its plan), so leaving it to its owner keeps the
        world the same whoever's requests come first, and adds no thread to own, stop or wait for in tests; a
        scanner would make what a poll sees depend on wall time.

        A job is claimed while worked on (one another thread works on is skipped, not waited for). Jobs past
        validation advance first, in transactions of `_BATCH` jobs with the backend lock released between them,
        each job in a savepoint: one whose advance raises fails alone (see `_advance_one`). Then the files of jobs
        due for validation are scanned one job at a time, outside the lock and any transaction, and their outcomes
        committed in batches (at once before a large scan, so that nobody waits on it). Must not run inside a
        transaction: its work would share the caller's fate.
        """
        faults = getattr(self.backend, "faults", None)
        if tenant_key is not None and faults is not None and faults.shared_with_others(tenant_key):
            # A job rule with uses left that other tenants' jobs may take: their validations due before this
            # tenant's are done first, as any catch-up would do them, or the rule would go to whichever tenant polled
            # first (the same requests gave another world). The price, waiting on other tenants' scans, is paid only
            # while such a rule (test-time configuration) is set.
            tenant_key = None
        validating = self._validating
        # In the order the jobs fell due (then by key), as a clock moved second by second would reach them: a
        # one-shot fault rule goes to the job validated first, which used to be the first by key when one big move
        # made several jobs due at once (another job failed than after many small moves of the same total).
        due = [key for when, key in sorted((when, key) for key, when in list(self._due.items())
                                           if when <= now and _worked_on(key, tenant_key, validating))]
        self._advance_batches([key for key in due if key not in validating], now)
        unavailable: ServiceUnavailableError | None = None
        store = self.backend.store
        pending: list[tuple[tuple[str, str], tuple[dict[str, Any], JobRecord] | None, BaseException | None]] = []
        started = time.monotonic()

        def flush() -> None:
            try:
                if pending:
                    with self.backend.lock, store.transaction():
                        for key, scanned, error in pending:
                            self._advance_one(key, now, scanned, error)
            finally:
                for key, _, _ in pending:  # a fault rule's use not committed with its job's outcome is given back
                    self._fault_rule(key[1], settle=False)
                self._release([key for key, _, _ in pending])
                pending.clear()

        try:
            for key in due:
                if key not in validating or not self._claim([key]):
                    continue
                row = store.get("job", *key)
                scanned: tuple[dict[str, Any], JobRecord] | None = None
                error: BaseException | None = None
                rec: JobRecord | None = None
                try:
                    rec = JobRecord.from_row(row) if row is not None else None
                except (KeyError, TypeError, ValidationError) as exc:  # failed alone in _advance_one
                    error = exc
                files_bytes = rec.plan.files_bytes if rec is not None else None
                large = files_bytes is None or files_bytes >= _LARGE_SCAN  # unknown (older rows): large
                if pending and (large or len(pending) >= _BATCH or time.monotonic() - started > _BATCH_SECONDS):
                    flush()
                    started = time.monotonic()
                if row is not None and rec is not None and lifecycle.needs_validation(rec, now):
                    try:
                        scanned = (row, self._validate(rec))  # the scan: no lock, no transaction
                    except ServiceUnavailableError as exc:  # a broken install (tokenizer): the job stays in validation
                        unavailable = exc
                        self._fault_rule(key[1], settle=False)
                        self._release([key])
                        continue
                    except Exception as exc:  # noqa: BLE001 - failed alone in _advance_one
                        error = exc
                pending.append((key, scanned, error))
        finally:
            flush()
        if unavailable is not None:
            raise unavailable

    def _claim(self, keys: list[tuple[str, str]]) -> list[tuple[str, str]]:
        with self._claims:
            claimed = [key for key in keys if key not in self._busy]
            self._busy.update(claimed)
        return claimed

    def _release(self, keys: list[tuple[str, str]]) -> None:
        with self._claims:
            self._busy.difference_update(keys)

    def _advance_batches(self, keys: list[tuple[str, str]], now: int) -> None:
        store = self.backend.store
        for start in range(0, len(keys), _BATCH):
            claimed = self._claim(keys[start:start + _BATCH])
            try:
                if claimed:
                    with self.backend.lock, store.transaction():
                        for key in claimed:
                            self._advance_one(key, now, None, None)
            finally:
                self._release(claimed)

    def _advance_one(self, key: tuple[str, str], now: int, scanned: tuple[dict[str, Any], JobRecord] | None,
                     error: BaseException | None) -> None:
        """Advance one claimed job in a savepoint of the open transaction; if that raises, fail it alone."""
        store, (tenant_key, job_id) = self.backend.store, key
        if error is None:
            try:
                with store.savepoint():
                    row = store.get("job", tenant_key, job_id)
                    if row is None or row["status"] not in lifecycle.SCHEDULED:
                        store.after_commit(lambda: self._set_due(key, None))
                        return
                    cur = JobRecord.from_row(row)
                    if lifecycle.needs_validation(cur, now):
                        if scanned is None or row != scanned[0]:
                            return  # changed while its files were scanned: the next catch-up starts again
                        cur = scanned[1]
                        store.after_commit(lambda: self._fault_rule(job_id, settle=True))
                    self._apply(tenant_key, lifecycle.advance(cur, now, owned=True))  # cur: read or scanned for this call
                    return
            except StorageFault:  # the store's fault, not the job's: the catch-up stops (503), the job is retried
                raise
            except Exception as exc:  # noqa: BLE001 - one job's defect must not reach anyone's request
                error = exc
        _log.error("fine-tuning job %s could not be advanced; it is marked failed", job_id,
                   exc_info=(type(error), error, error.__traceback__))
        message = (f"The job failed due to an internal error: the simulator could not advance it "
                   f"({type(error).__name__}). The server log has the details.")
        try:
            with store.savepoint():
                row = store.get("job", tenant_key, job_id)
                if row is None or row["status"] not in lifecycle.SCHEDULED:  # a job paused by the system too
                    store.after_commit(lambda: self._set_due(key, None))
                    return
                self._apply(tenant_key, lifecycle.fail_now(JobRecord.from_row(row), now, {"code": "internal_error", "param": None,
                                                                      "message": message}))
        except StorageFault:
            raise
        except Exception:  # noqa: BLE001
            _log.exception("fine-tuning job %s could not be marked failed either; it is no longer scheduled", job_id)
            self._unschedule_row(key)

    def _fault_rule(self, job_id: str, *, settle: bool) -> None:
        """A fault rule's use granted to the job at validation: spent for good once the job's outcome committed
        (`settle`), else given back (the outcome was rolled back or dropped, to be worked out again)."""
        faults = getattr(self.backend, "faults", None)
        hook = getattr(faults, "settle" if settle else "refund", None)
        if hook is not None:
            hook(job_id)

    def _unschedule_row(self, key: tuple[str, str]) -> None:
        """Last resort for a job that can be neither advanced nor failed: its row loses its due time too, so that
        the schedule still matches the rows (and a restart does not pick the job up again). The row is changed
        as stored (`JobPlan.unschedule_row`), not through `JobRecord`, since loading it may be what fails."""
        store = self.backend.store
        try:
            with store.savepoint():
                row = store.get("job", *key)
                if row is not None and JobPlan.unschedule_row(row):
                    store.put("job", key[0], key[1], row)
        except Exception:  # noqa: BLE001 - the store refuses: the schedule below still forgets the job
            _log.exception("fine-tuning job %s: its row could not be unscheduled", key[1])
        store.after_commit(lambda: self._set_due(key, None))

    def _validate(self, rec: JobRecord) -> JobRecord:
        """Attach the validation outcome (scan the files; consult injected faults). `rec` is handed over: a
        record read for this call, which the result may be (it is not copied)."""
        plan, job, tenant = rec.plan, rec.job, self._tenant_of(rec)
        faults = getattr(self.backend, "faults", None)
        # reads the job, never changes it; the rules as they stood at the job's validation time
        fault = fault_spec(faults.job_failure(tenant, job, validated_at=plan.validate_until) if faults else None)
        if fault is not None and fault["at_step"] is None:
            return lifecycle.fail_validation(rec, fault)
        entry = self.backend.catalog.resolve(plan.snapshot)
        files = self.backend.files

        def path_of(file_id: str) -> Any:
            try:
                return files.content_path(tenant, file_id)
            except NotFoundError:
                return None

        validation = (job.validation_file, path_of(job.validation_file)) if job.validation_file else None
        result = validate_files(method=job.method.type, entry=entry,
                                training=(job.training_file, path_of(job.training_file)), validation=validation)
        if result.error is not None:
            return lifecycle.fail_validation(rec, result.error)
        n = result.n_examples
        rec = lifecycle.resolve_plan(
            rec, n_examples=n, tokens_per_epoch=result.tokens_per_epoch, auto_epochs=auto_n_epochs(n),
            auto_batch=auto_batch_size(n), lr_default=_lr_default(entry, self.backend.catalog),
            tps=throughput.tokens_per_second(plan.snapshot, entry), n_validation=result.n_validation, owned=True,
        )
        azure_jobs.plan_stops(self.backend, tenant, rec)  # Azure: the RFT cost cap, Developer preemption
        if fault is not None:
            total = rec.plan.total_steps
            assert total is not None  # resolve_plan planned the steps
            rec.plan.fault = InjectedFault.model_validate({**fault, "at_step": max(1, min(fault["at_step"], total))})
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
        on_create: Callable[[str], None] | None = None,
    ) -> FineTuningJob:
        """Create a job in `validating_files` (synchronous checks only; the files are validated later).

        `on_create(job_id)` runs in the job's own transaction (Azure keeps its training type that way)."""
        suffix = job_params.check_suffix(suffix)
        seed = job_params.check_seed(seed)
        metadata = job_params.check_metadata(metadata)
        norm_method = job_params.normalize_method(method, hyperparameters)
        job_params.normalize_integrations(integrations, "")
        now = self.backend.sync(tenant)  # its own step and transactions: this request failing cannot undo it
        with self.backend.lock, self.backend.store.transaction():
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
            if kind == "reinforcement":
                self._check_grader(norm_method["reinforcement"]["grader"])
            warning = None if azure else self._check_lifecycle(entry, now, model)
            self._check_concurrency(tenant, snapshot)
            job_id = dialect.new_job_id(self.backend, tenant)  # Azure: 32 hex
            if on_create is not None:
                on_create(job_id)
            if seed is None:
                seed = int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big") & 0x7FFFFFFF
            public = {
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
            }
            plan = JobPlan(
                seed=seed, snapshot=snapshot, org_slug=tenant.org_slug,
                tenant=[tenant.org_id, tenant.org_slug, tenant.project_id],
                model_name=lifecycle.model_name(snapshot, tenant.org_slug, suffix, job_id),
                validate_until=now + throughput.validation_seconds(files_bytes, seed),
                files_bytes=files_bytes, outcome=None, seq=0,
            )
            rec = JobRecord(job=FineTuningJob.model_validate(public), plan=plan)
            events = [lifecycle.make_event(rec, now, f"Created fine-tuning job: {job_id}")]
            text = f"Validating training file: {training_file}"
            if validation_file is not None:
                text += f" and validation file: {validation_file}"
            events.append(lifecycle.make_event(rec, now, text))
            if warning:
                events.append(lifecycle.make_event(rec, now, warning, level="warn"))
            if blocked:
                events.append(lifecycle.make_event(rec, now, blocked, level="warn"))
            adv = lifecycle.Advance(record=rec, events=events, next_due=plan.validate_until)
            return self._apply(tenant.key, adv).job

    def _check_grader(self, grader: Any) -> None:
        """The grader as /v1/fine_tuning/alpha/graders/validate checks it, the 400 naming the job's parameter."""
        try:
            self.backend.graders.check(grader)
        except BadRequestError as exc:
            raise BadRequestError(exc.message, param="method.reinforcement.grader") from None

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
        running = self.backend.store.count_where("job", tenant.key, equal=(JobPlan.SNAPSHOT_PATH, snapshot),
                                                 not_in=("$.status", sorted(lifecycle.TERMINAL)))
        if running >= limit:
            # Azure counts training jobs per resource, not per organization (Microsoft's quotas and limits page:
            # "Max simultaneous running training jobs per resource"); only the word differs here, the limit stays
            # the server's setting.
            scope = "resource" if dialect.is_azure(tenant) else "organization"
            raise RateLimitError(
                f"You can only have {limit} simultaneous fine-tuning jobs for {snapshot} per {scope}. "
                "Wait for a running job to finish, or cancel one, then try again.",
                headers={"x-should-retry": "false"},
            )

    # -- reads ------------------------------------------------------------------------------------------------

    def retrieve(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """One job (404 if unknown or another tenant's): the public job alone (its plan is not loaded, a poll being
        the hottest request)."""
        return FineTuningJob.from_record(self._row(tenant, job_id))

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
        self._row(tenant, job_id)
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
        self._row(tenant, job_id)
        size = check_limit(limit, default=10)
        items, more = self.backend.store.page("checkpoint", tenant.key, parent=job_id, after=after, limit=size)
        return list_envelope(items, more, ids=True)

    # -- actions ----------------------------------------------------------------------------------------------

    def _act(self, tenant: Tenant, job_id: str, action: Any) -> FineTuningJob:
        now = self.backend.sync(tenant)  # its own step and transactions: this request failing cannot undo it
        with self.backend.lock, self.backend.store.transaction():
            rec = self._caught_up(tenant.key, self._record(tenant, job_id), now)
            return self._apply(tenant.key, action(rec, now)).job

    def _caught_up(self, tenant_key: str, rec: JobRecord, now: int) -> JobRecord:
        """The job as of `now` (inside the caller's transaction): one the catch-up has not reached yet is advanced
        first, unless its files still wait for their scan (the catch-up's own step does that, outside the lock)."""
        due = rec.plan.next_due
        if rec.job.status in lifecycle.SCHEDULED and due is not None and due <= now \
                and not lifecycle.needs_validation(rec, now):
            return self._apply(tenant_key, lifecycle.advance(rec, now))
        return rec

    def cancel(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Cancel a job that is not terminal (400 otherwise)."""
        return self._act(tenant, job_id, lifecycle.cancel)

    def pause(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Pause a running job (400 otherwise); its current step becomes a checkpoint model."""
        return self._act(tenant, job_id, lifecycle.pause)

    def resume(self, tenant: Tenant, job_id: str) -> FineTuningJob:
        """Resume a paused job: back to `queued`, then training continues where it stopped."""
        return self._act(tenant, job_id, lifecycle.resume)

    def step_rule_added(self, job_id: str, tenant_keys: frozenset[str] | None) -> None:
        """A step fault rule naming `job_id` was just added (`Faults.add`; `tenant_keys`: the tenants of its api_key,
        None for every tenant). A job still validating reads it at validation like any rule; a job past validation
        that can still train a step (queued, running, paused) takes it now: caught up to the present, it fails at
        step N on the simulated clock. A terminal job, or one whose last step is done, leaves the rule unconsumed."""
        key = self._find(job_id, tenant_keys)
        if key is None:
            return
        now = self.backend.sync()  # its own step and transactions, as for the user's actions
        try:
            self._attach_step_rule(key, now)
        finally:
            self._fault_rule(job_id, settle=False)  # a use fired but not committed with the job goes back

    def _attach_step_rule(self, key: tuple[str, str], now: int) -> None:
        faults = self.backend.faults
        job_id = key[1]
        with self.backend.lock, self.backend.store.transaction():
            row = self.backend.store.get("job", *key)
            if row is None or row["status"] not in ("queued", "running", "paused"):
                return
            try:
                rec = JobRecord.from_row(row)
            except (KeyError, TypeError, ValidationError):  # an unreadable plan: the catch-up fails that job alone
                return
            rec = self._caught_up(key[0], rec, now)
            plan = rec.plan
            if rec.job.status not in ("queued", "running", "paused") or plan.total_steps is None \
                    or plan.steps_done is None or plan.steps_done >= plan.total_steps:
                return
            failure = faults.job_failure(self._tenant_of(rec), rec.job.model_copy(deep=True), started=True)
            if failure is None or failure.step is None:
                return
            # Steps up to `steps_done` are history (their events are stored): a step N already past fails the job
            # at its next step instead, the first one still to come; past the last step, at the last step (as
            # `_validate` clamps a rule's step).
            at_step = min(max(failure.step, plan.steps_done + 1), plan.total_steps)
            if plan.fault is not None and plan.fault.at_step is not None:
                at_step = min(at_step, plan.fault.at_step)  # a failure planned earlier still comes first
                if at_step == plan.fault.at_step:
                    return
            plan.fault = InjectedFault(at_step=at_step, code=failure.code, message=failure.message,
                                       param=failure.param)
            self._apply(key[0], lifecycle.Advance(record=rec, next_due=plan.next_due))
            self.backend.store.after_commit(lambda: self._fault_rule(job_id, settle=True))

    def _find(self, job_id: str, tenant_keys: frozenset[str] | None) -> tuple[str, str] | None:
        """(tenant key, job id) of a stored job, among `tenant_keys` (every tenant when None)."""
        store = self.backend.store
        if tenant_keys is not None:
            return next(((k, job_id) for k in sorted(tenant_keys) if store.exists("job", k, job_id)), None)
        moving = next((key for key in list(self._due) if key[1] == job_id), None)
        if moving is not None:
            return moving
        found = store.locate("job", job_id)  # not moving by itself: paused, terminal or unknown
        return (found[0], job_id) if found is not None else None

    def training_file_deleted(self, tenant: Tenant, file_id: str, now: int) -> None:
        """Fail the tenant's moving jobs that train on `file_id` (called in the deletion's transaction, once
        `Backend.sync()` ran: a catch-up cannot run inside a transaction). A job the catch-up has not reached yet
        (the clock moved on since) is caught up to `now` first, so one that finished before stays finished.

        A paused job is left as it is: the sources do not say what happens to it."""
        with self.backend.lock, self.backend.store.transaction():
            for _, row in list(self.backend.store.scan("job", tenant.key)):
                if row["status"] in lifecycle.ACTIVE and row["training_file"] == file_id:
                    rec = self._caught_up(tenant.key, JobRecord.from_row(row), now)
                    if rec.job.status in lifecycle.ACTIVE:
                        self._apply(tenant.key, lifecycle.training_file_deleted(rec, now))

    # -- cost -------------------------------------------------------------------------------------------------

    def estimated_cost(self, tenant: Tenant, job_id: str) -> dict[str, Any]:
        """What the job costs (or will cost) at list prices, from the planner's own functions."""
        from ftsim.simulator.fine_tuning.cost import job_cost

        return job_cost(self._record(tenant, job_id), self.backend.catalog)


def _lr_default(entry: Any, catalog: Any) -> float:
    value = getattr(entry, "lr_multiplier", None) or getattr(catalog, "default_lr_multiplier", None) or 2.0
    return float(value)  # live: auto resolves to a float (`2.0`), never an integer
