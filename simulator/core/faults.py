"""Fault injection: rules that make requests fail or slow down, and jobs fail, on purpose (issue 4).

Three kinds of rule, each held by one backend (no global state) and evaluated in creation order:

- ``error``: matching requests (method + glob on the path, e.g. ``/v1/fine_tuning/jobs*``) answer ``status``
  (429, 500, 503, ...) with OpenAI's error envelope instead of reaching the API. A 429 carries ``code:
  rate_limit_exceeded`` and the ``x-ratelimit-*`` headers; every injected error carries ``retry-after-ms``
  (default 1 ms, so the SDK's own retries wait one millisecond instead of its 0.5 s backoff; ``retry-after``
  in whole seconds is added only when the delay is at least one second) and, when asked, ``x-should-retry``.
- ``latency``: matching requests are delayed by ``latency_ms`` of real time (the simulated clock does not move).
- ``job``: a job created while the rule is active fails at validation or at training step N with the given
  code and message. The jobs service asks ``job_failure(tenant, job)`` once per job, when the job's files are
  validated (so a rule added after the job was created, but before its validation, still applies; one added
  after its validation time on the simulated clock does not, even before a request has worked that validation
  out). A step rule that names a job (``job_id``) added once that job is past validation (queued, running or paused) takes effect
  at once: the job fails at step N on the simulated clock, or at its next step when N is already past.

A rule with ``api_key`` is scoped to that key's tenants (its OpenAI organization and its Azure account): it matches
only those tenants' requests (Bearer or ``api-key``) and jobs, so tests sharing one server do not fault each other.
Listed rules show the key masked; ``GET /_sim/faults?api_key=KEY`` lists the rules scoped to KEY's tenant.

Each rule fires ``times`` times (1 = one-shot, None = until deleted); with ``probability`` < 1 each matching
request draws from the rule's own random generator, seeded from ``seed`` (default: the backend's seed) and the
rule id, so the same request sequence gives the same faults. A draw that does not fire consumes nothing. A job
rule draws once per job instead, from the seed, the rule id and the job id: whether a job fails does not depend on
which other jobs (other tenants' too) were validated before it.

A job rule's use is spent only with the job it fails: when the transaction that stores the job's planned failure
rolls back (a storage fault), or the catch-up drops that outcome, the rule gets its use back (`refund`).

Rules are kept in memory only: they are test-time configuration, not state of the simulated world. They do
not survive a restart, and ``backend.reset()`` (``POST /_sim/reset``) clears them. Requests under ``/_sim``
are never faulted, so the control plane always works.
"""

from __future__ import annotations

import fnmatch
import math
import random
import threading
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ftsim.simulator.core.errors import BadRequestError, NotFoundError
from ftsim.simulator.core.tenancy import azure_tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend
    from ftsim.simulator.core.tenancy import Tenant

__all__ = ["FaultSpec", "Fault", "JobFailure", "RequestFault", "Faults", "PRESETS"]

_DEFAULT_MESSAGES = {
    429: "Rate limit reached for requests (injected by ftsim). Please try again in {delay}.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}
_QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing details. For more information "
                  "on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.")
_JOB_DEFAULTS = {
    "validation": ("invalid_training_file", "The job failed due to an invalid training file. (injected by ftsim)"),
    "step": ("server_error", "The job failed due to an internal error. (injected by ftsim)"),
}


class FaultSpec(BaseModel):
    """What a rule does and when it fires (the body of POST /_sim/faults)."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["error", "latency", "job"] = "error"
    method: str = Field("*", description="HTTP method to match, or '*'")
    path: str = Field("/v1/*", description="glob on the request path, e.g. /v1/fine_tuning/jobs*")
    status: int = Field(429, ge=400, le=599)
    code: Optional[str] = None
    message: Optional[str] = None
    type: Optional[str] = None
    retry_after_ms: int = Field(1, ge=0, le=3_600_000)
    should_retry: Optional[bool] = None
    limit_requests: int = Field(500, ge=1)
    limit_tokens: int = Field(200_000, ge=1)
    latency_ms: int = Field(0, ge=0, le=600_000)
    stage: Literal["validation", "step"] = "validation"
    step: int = Field(1, ge=1)
    model: Optional[str] = Field(None, description="job rules: only jobs on this base model")
    suffix: Optional[str] = Field(None, description="job rules: only jobs with this suffix")
    job_id: Optional[str] = Field(None, description="job rules: only this job")
    api_key: Optional[str] = Field(None, min_length=1, description="only this API key's tenant: its requests and jobs")
    times: Optional[int] = Field(1, ge=1, description="how many times it fires; null = until deleted")
    probability: float = Field(1.0, ge=0.0, le=1.0)
    seed: Optional[int] = None

    @model_validator(mode="after")
    def _check(self) -> "FaultSpec":
        if self.kind == "latency" and self.latency_ms == 0:
            raise ValueError("a latency rule needs latency_ms > 0")
        return self


class Fault(FaultSpec):
    """A rule as stored and listed: the spec plus id, counters and creation time."""

    model_config = ConfigDict(extra="forbid")

    object: Literal["sim.fault"] = "sim.fault"
    id: str
    created_at: int
    hits: int = 0
    remaining: Optional[int] = None


class JobFailure(NamedTuple):
    """How a job must fail: at validation, or when training reaches `step`."""

    stage: str  # "validation" | "step"
    step: Optional[int]
    code: str
    message: str

    @property
    def param(self) -> Optional[str]:
        """The error's `param`: training_file for validation failures."""
        return "training_file" if self.stage == "validation" else None

    def error(self) -> dict[str, Any]:
        """The job's `error` object: {code, message, param}."""
        return {"code": self.code, "message": self.message, "param": self.param}


class RequestFault(NamedTuple):
    """What the fault middleware must do with one request."""

    latency_ms: int
    status: Optional[int]
    headers: dict[str, str]
    body: Optional[dict[str, Any]]


PRESETS: dict[str, dict[str, Any]] = {
    "rate_limited_once": {"kind": "error", "status": 429, "times": 1},
    "rate_limited": {"kind": "error", "status": 429, "times": None},
    "flaky_5xx": {"kind": "error", "status": 503, "times": None, "probability": 0.3},
    "server_error_once": {"kind": "error", "status": 500, "times": 1},
    "slow": {"kind": "latency", "latency_ms": 50, "times": None},
    # the live body when an organization's credit runs out (behaviour reference 7); it lasts until deleted
    "insufficient_quota": {"kind": "error", "status": 429, "times": None, "type": "insufficient_quota",
                           "code": "insufficient_quota", "message": _QUOTA_MESSAGE},
    "job_fails_validation": {"kind": "job", "stage": "validation", "times": 1},
    "job_fails_midway": {"kind": "job", "stage": "step", "step": 3, "times": 1},
}


def _duration(ms: int) -> str:
    """OpenAI's reset duration format: 12ms, 1s, 6m0s."""
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:g}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest}s"


def _masked(key: str) -> str:
    return key[:8] + "*" * 8 + key[-4:] if len(key) > 12 else "*" * len(key)


class _Rule:
    """A live rule: its spec (the key shown masked), counters, seeded generator and the tenant it is scoped to."""

    def __init__(self, fault: Fault, seed: int, tenant_keys: Optional[frozenset[str]] = None) -> None:
        self.fault = fault
        self.seed = seed
        self.rng = random.Random(f"{seed}:{fault.id}")
        # the tenants of the rule's api_key: its OpenAI organization and its Azure account; None = every tenant
        self.tenant_keys = tenant_keys

    def fires(self, job_id: Optional[str] = None) -> bool:
        """Draw (when probabilistic) and consume one use if it fires. A job rule (`job_id`) draws once per job, from
        the rule's seed, its id and the job's id: the same job gets the same draw however many other jobs (other
        tenants' among them) drew before it, and again after a validation whose outcome was rolled back."""
        f = self.fault
        if f.remaining == 0:
            return False
        if f.probability < 1.0:
            draw = self.rng.random() if job_id is None else random.Random(f"{self.seed}:{f.id}:{job_id}").random()
            if not draw < f.probability:
                return False
        f.hits += 1
        if f.remaining is not None:
            f.remaining -= 1
        return True


class Faults:
    """The fault rules of one backend."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend
        self._lock = threading.Lock()
        self._rules: list[_Rule] = []
        self._counter = 0
        # job id -> the rule whose use `job_failure` granted it, until the job's outcome commits (`settle`) or
        # is given up (`refund`): a use is spent only when the failure it planned is committed
        self._granted: dict[str, str] = {}

    # -- management ---------------------------------------------------------------------------------

    def add(self, preset: str | None = None, **spec: Any) -> Fault:
        """Create a rule from keyword fields (see FaultSpec), optionally starting from a named preset."""
        fields: dict[str, Any] = {}
        if preset is not None:
            if preset not in PRESETS:
                raise BadRequestError(f"Unknown fault preset '{preset}'; one of {sorted(PRESETS)}.", param="preset")
            fields.update(PRESETS[preset])
        fields.update({k: v for k, v in spec.items()})
        try:
            parsed = FaultSpec.model_validate(fields)
        except ValueError as exc:
            raise BadRequestError(f"Invalid fault: {_first_error(exc)}", param="fault") from None
        tenant_keys = self._tenants_of(parsed.api_key) if parsed.api_key is not None else None
        shown = parsed.model_dump() | {"api_key": _masked(parsed.api_key) if parsed.api_key is not None else None}
        with self._lock:
            self._counter += 1
            fault = Fault(
                **shown,
                id=f"fault_{self._counter}",
                created_at=self.backend.now(),
                remaining=parsed.times,
            )
            seed = parsed.seed if parsed.seed is not None else getattr(self.backend.config, "seed", 0)
            self._rules.append(_Rule(fault, seed, tenant_keys))
        if parsed.kind == "job" and parsed.stage == "step" and parsed.job_id is not None:
            # The named job may already be past validation, where rules are otherwise read: the jobs service
            # attaches the rule to it now (consuming it) if it can still fail at a step.
            jobs = getattr(self.backend, "jobs", None)
            if jobs is not None:
                jobs.step_rule_added(parsed.job_id, tenant_keys)
            with self._lock:
                return fault.model_copy()
        return fault.model_copy()

    def _tenants_of(self, api_key: str) -> frozenset[str]:
        """The tenants one key names: an OpenAI organization (Bearer) and an Azure account (`api-key`)."""
        keys = {self.backend.tenant(api_key).key}
        azure = azure_tenant(self.backend.tenancy, api_key)
        if azure is not None:
            keys.add(azure.key)
        return frozenset(keys)

    def list(self, *, api_key: Optional[str] = None, kind: Optional[str] = None,
             owned_by: Optional[str] = None) -> list[Fault]:
        """Every rule, oldest first (exhausted ones show remaining=0); only those scoped to `api_key`'s tenant
        and of `kind` when given.

        `owned_by` (a key): only the rules whose every tenant is one of that key's (its OpenAI organization, its
        Azure account), what the console shows and deletes for that key. A rule of another key of the same
        organization also scopes that key's Azure account, which is not this key's: it is left out (listing it
        would show, say, the id of a job of that Azure account, and deleting it would change that account)."""
        tenant_key = self.backend.tenant(api_key).key if api_key is not None else None
        within = self._tenants_of(owned_by) if owned_by is not None else None
        with self._lock:
            return [
                r.fault.model_copy() for r in self._rules
                if (tenant_key is None or tenant_key in (r.tenant_keys or ()))
                and (within is None or (r.tenant_keys is not None and r.tenant_keys <= within))
                and (kind is None or r.fault.kind == kind)
            ]

    def get(self, fault_id: str) -> Fault:
        """One rule (404 if unknown)."""
        with self._lock:
            for rule in self._rules:
                if rule.fault.id == fault_id:
                    return rule.fault.model_copy()
        raise NotFoundError(f"No such fault: {fault_id}", param="fault_id")

    def delete(self, fault_id: str) -> bool:
        """Remove one rule (404 if unknown)."""
        with self._lock:
            for i, rule in enumerate(self._rules):
                if rule.fault.id == fault_id:
                    del self._rules[i]
                    return True
        raise NotFoundError(f"No such fault: {fault_id}", param="fault_id")

    def clear(self) -> int:
        """Remove every rule; returns how many there were."""
        with self._lock:
            n = len(self._rules)
            self._rules.clear()
        return n

    def reset(self) -> None:
        """Backend reset: no rules, ids start again at fault_1."""
        with self._lock:
            self._rules.clear()
            self._counter = 0
            self._granted.clear()

    # -- evaluation ---------------------------------------------------------------------------------

    def on_request(self, method: str, path: str, api_key: Optional[str] = None,
                   tenant_key: Optional[str] = None) -> RequestFault | None:
        """The latency and/or error to inject for one request (consuming the rules that fire), or None.

        `api_key`: the request's Bearer key (None without one); rules scoped to a tenant match only its keys.
        `tenant_key`: the request's tenant when the caller already knows it (an Azure request: its account, which
        the key resolved as an OpenAI Bearer key is not).
        """
        if path.startswith("/_sim"):
            return None
        latency = 0
        chosen: Fault | None = None
        with self._lock:
            for rule in self._rules:
                f = rule.fault
                if f.kind == "job" or not _matches(f, method, path):
                    continue
                if rule.tenant_keys is not None:
                    if api_key is None:
                        continue
                    if tenant_key is None:  # an OpenAI request: its Bearer key's organization
                        tenant_key = self.backend.tenant(api_key).key
                    if tenant_key not in rule.tenant_keys:
                        continue
                if f.kind == "latency":
                    if rule.fires():
                        latency += f.latency_ms
                elif chosen is None and rule.fires():
                    chosen = f.model_copy()
        if chosen is None:
            return RequestFault(latency, None, {}, None) if latency else None
        headers, body = _error_response(chosen)
        return RequestFault(latency, chosen.status, headers, body)

    def job_failure(self, tenant: "Tenant", job: Any, *, started: bool = False,
                    validated_at: int | None = None) -> JobFailure | None:
        """How a newly created job must fail, or None; call once per job (it consumes the rule's use, which the
        caller gives back with `refund(job id)` if the job's outcome is not committed, or keeps with `settle`).

        `started`: the job is past validation (a step rule naming it was just added): only step rules that name
        the job apply, a rule that names no job being kept for the jobs validated after it.

        `validated_at`: the simulated second the job's files are validated at (its plan's `validate_until`); a rule
        added after it does not apply, though the catch-up that works the validation out comes later (another
        tenant's request leaves it to the job's owner): the job met the rules of its validation time, whoever
        polled first."""
        model = _field(job, "model")
        suffix = _field(job, "user_provided_suffix") or _field(job, "suffix")
        with self._lock:
            for rule in self._rules:
                f = rule.fault
                if f.kind != "job":
                    continue
                if started and (f.stage != "step" or f.job_id is None):
                    continue
                if validated_at is not None and f.created_at > validated_at:
                    continue
                if rule.tenant_keys is not None and tenant.key not in rule.tenant_keys:
                    continue
                if f.model is not None and f.model != model and not str(model or "").startswith(f.model + "-"):
                    continue
                if f.suffix is not None and f.suffix != suffix:
                    continue
                if f.job_id is not None and f.job_id != _field(job, "id"):
                    continue
                job_id = _field(job, "id")
                if rule.fires(job_id if isinstance(job_id, str) else None):
                    if isinstance(job_id, str):
                        self._granted[job_id] = f.id
                    code, message = _JOB_DEFAULTS[f.stage]
                    return JobFailure(
                        stage=f.stage,
                        step=f.step if f.stage == "step" else None,
                        code=f.code or code,
                        message=f.message or message,
                    )
        return None


    def shared_with_others(self, tenant_key: str) -> bool:
        """Whether a job rule with uses left could go to a job of another tenant than `tenant_key`: then which job
        gets a use depends on the order the jobs are validated in (`FineTuningJobs.sync`)."""
        with self._lock:
            return any(r.fault.kind == "job" and r.fault.job_id is None and r.fault.remaining not in (None, 0)
                       and (r.tenant_keys is None or bool(r.tenant_keys - {tenant_key})) for r in self._rules)

    def settle(self, job_id: str) -> None:
        """The failure granted to `job_id` is committed with the job: its use stays spent."""
        with self._lock:
            self._granted.pop(job_id, None)

    def refund(self, job_id: str) -> None:
        """The failure granted to `job_id` was not committed (its transaction rolled back, or the outcome was given
        up to be worked out again): the rule gets its use back, so that the job's next validation meets it as if
        the first had never happened (a job rule's draw is the job's own: the same again). A no-op once settled."""
        with self._lock:
            rule_id = self._granted.pop(job_id, None)
            for rule in self._rules:
                if rule.fault.id == rule_id:
                    rule.fault.hits -= 1
                    if rule.fault.remaining is not None:
                        rule.fault.remaining += 1


def _field(job: Any, name: str) -> Any:
    if isinstance(job, dict):
        return job.get(name)
    return getattr(job, name, None)


def _matches(f: Fault, method: str, path: str) -> bool:
    if f.method != "*" and f.method.upper() != method.upper():
        return False
    return fnmatch.fnmatchcase(path, f.path)


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        loc = ".".join(str(p) for p in first.get("loc", ()))
        return f"{loc}: {first.get('msg')}" if loc else str(first.get("msg"))
    return str(exc)


def _error_response(f: Fault) -> tuple[dict[str, str], dict[str, Any]]:
    """Headers and OpenAI envelope of an injected error."""
    delay = _duration(f.retry_after_ms)
    headers = {"retry-after-ms": str(f.retry_after_ms)}
    code: str | None
    if f.retry_after_ms >= 1000:
        headers["retry-after"] = str(math.ceil(f.retry_after_ms / 1000))
    if f.should_retry is not None:
        headers["x-should-retry"] = "true" if f.should_retry else "false"
    if f.status == 429:
        headers.update(
            {
                "x-ratelimit-limit-requests": str(f.limit_requests),
                "x-ratelimit-remaining-requests": "0",
                "x-ratelimit-reset-requests": delay,
                "x-ratelimit-limit-tokens": str(f.limit_tokens),
                "x-ratelimit-remaining-tokens": str(f.limit_tokens),
                "x-ratelimit-reset-tokens": "0s",
            }
        )
        type_, code = f.type or "requests", f.code or "rate_limit_exceeded"
    elif f.status >= 500:
        type_, code = f.type or "server_error", f.code
    else:
        type_, code = f.type or "invalid_request_error", f.code
    template = f.message or _DEFAULT_MESSAGES.get(f.status, "Injected error (ftsim fault).")
    message = template.replace("{delay}", delay)
    return headers, {"error": {"message": message, "type": type_, "param": None, "code": code}}
