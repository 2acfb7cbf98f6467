"""Pydantic shapes of the fine-tuning jobs API, field names and key order as the live JSON (reference §2.1-2.3).

Live deviations from the OpenAPI spec, kept on purpose: `error` is `{}` on a job that has not failed; `status`
may be `paused`; jobs carry `user_provided_suffix`, `usage_metrics`, `shared_with_openai`, `eval_id`;
the "Fine-tuning job started" event has `data: null`.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, model_serializer

__all__ = [
    "JobStatus",
    "JobError",
    "Hyperparameters",
    "Method",
    "FineTuningJob",
    "FineTuningJobEvent",
    "FineTuningJobCheckpoint",
    "CreateJobRequest",
    "JobPlan",
    "JobRecord",
    "PLAN_KEY",
    "ValidationOutcome",
    "InjectedFault",
]

JobStatus = Literal["validating_files", "queued", "running", "succeeded", "failed", "cancelled", "paused"]
Auto = Literal["auto"]


class JobError(BaseModel):
    """`{}` while the job has not failed, else {code, param, message} (the live key order)."""

    code: Optional[str] = None
    param: Optional[str] = None
    message: Optional[str] = None

    @model_serializer(mode="wrap")
    def _empty_when_unset(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {} if self.code is None and self.message is None else data


class Hyperparameters(BaseModel):
    """The legacy top-level hyperparameters (supervised jobs only)."""

    n_epochs: Union[Auto, int]
    batch_size: Union[Auto, int]
    learning_rate_multiplier: Union[Auto, float]


class _Sub(BaseModel):
    model_config = ConfigDict(extra="allow")

    hyperparameters: dict[str, Any] = Field(default_factory=dict)


class Method(BaseModel):
    """`{type, <type>: {...}}`: only the active method key is present, as live."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["supervised", "dpo", "reinforcement"]
    supervised: Optional[_Sub] = None
    dpo: Optional[_Sub] = None
    reinforcement: Optional[_Sub] = None

    @model_serializer(mode="wrap")
    def _only_active(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        return {k: v for k, v in data.items() if k == "type" or v is not None}

    def active(self) -> _Sub:
        """The active method's settings (`method[method.type]`), created empty if absent."""
        sub = getattr(self, self.type)
        if sub is None:
            sub = _Sub()
            setattr(self, self.type, sub)
        return sub

    def grader(self) -> Any:
        """The active method's `grader` (reinforcement), None when it has none."""
        sub = getattr(self, self.type)
        return (sub.model_extra or {}).get("grader") if sub is not None else None


class FineTuningJob(BaseModel):
    """The `fine_tuning.job` object in the live key order."""

    object: Literal["fine_tuning.job"] = "fine_tuning.job"
    id: str
    model: str
    created_at: int
    finished_at: Optional[int] = None
    fine_tuned_model: Optional[str] = None
    organization_id: str
    result_files: list[str] = Field(default_factory=list)
    status: JobStatus
    validation_file: Optional[str] = None
    training_file: str
    hyperparameters: Optional[Hyperparameters] = None
    trained_tokens: Optional[int] = None
    error: JobError = Field(default_factory=JobError)
    user_provided_suffix: Optional[str] = None
    seed: int
    estimated_finish: Optional[int] = None
    integrations: Optional[list[dict[str, Any]]] = Field(default_factory=list)
    metadata: Optional[dict[str, str]] = None
    usage_metrics: Optional[dict[str, Any]] = None
    shared_with_openai: bool = False
    eval_id: Optional[str] = None
    method: Method

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> "FineTuningJob":
        """Build from a stored job record (its private plan under `PLAN_KEY` is ignored, as any extra key is)."""
        return cls.model_validate(record)


class FineTuningJobEvent(BaseModel):
    """A `fine_tuning.job.event`."""

    object: Literal["fine_tuning.job.event"] = "fine_tuning.job.event"
    id: str
    created_at: int
    level: Literal["info", "warn", "error"]
    message: str
    data: Optional[dict[str, Any]] = None
    type: Literal["message", "metrics"] = "message"


class FineTuningJobCheckpoint(BaseModel):
    """A `fine_tuning.job.checkpoint`."""

    object: Literal["fine_tuning.job.checkpoint"] = "fine_tuning.job.checkpoint"
    id: str
    created_at: int
    fine_tuned_model_checkpoint: str
    fine_tuning_job_id: str
    metrics: dict[str, Any]
    step_number: int


class CreateJobRequest(BaseModel):
    """Body of POST /v1/fine_tuning/jobs; values are checked by the service (dotted params in its 400s)."""

    model_config = ConfigDict(extra="forbid")

    model: str
    training_file: str
    validation_file: Optional[str] = None
    method: Optional[Any] = None
    hyperparameters: Optional[Any] = None
    suffix: Optional[Any] = None
    seed: Optional[Any] = None
    metadata: Optional[Any] = None
    integrations: Optional[Any] = None


# -- the private plan of a job ---------------------------------------------------------------------------------


class ValidationOutcome(BaseModel):
    """What validating a job's files gave: the counts the plan needs, or the job error."""

    ok: bool
    n_examples: Optional[int] = None
    tokens_per_epoch: Optional[int] = None
    n_validation: Optional[int] = None
    error: Optional[dict[str, Any]] = None


class InjectedFault(BaseModel):
    """A fault rule's failure planned for this job: at a training step, or (at_step None) at validation."""

    at_step: Optional[int] = None
    code: str
    message: str
    param: Optional[str] = None


PLAN_KEY = "_sim"  # where a stored job row keeps its plan (the layout of existing databases); read only here


class JobPlan(BaseModel):
    """The simulator's private plan of a job, stored beside the public job as `_sim` (never shown to clients).

    Set at create: seed, snapshot, tenant, model name, validation time and the event counter. Set once the files
    are validated (`resolve_plan`): the step timing. Moved by the clock and the user's actions: steps done, kept
    checkpoints, pause rounds. Unknown keys are kept (extra="allow") so that a database written by a newer ftsim
    with more plan keys still loads.
    """

    model_config = ConfigDict(extra="allow")

    seed: int
    snapshot: str
    org_slug: str
    tenant: list[str]  # [org_id, org_slug, project_id]
    model_name: str
    validate_until: int
    outcome: Optional[ValidationOutcome] = None
    seq: int = 0  # events emitted so far (event ids derive from it)
    next_due: Optional[int] = None  # when the job next changes by itself; None while paused or terminal
    files_bytes: Optional[int] = None  # absent on jobs created before it was stored
    n_epochs: Optional[int] = None
    steps_per_epoch: Optional[int] = None
    total_steps: Optional[int] = None
    sec_per_step: Optional[float] = None
    start_at: Optional[int] = None
    run_start: Optional[int] = None
    from_step: Optional[int] = None
    steps_done: Optional[int] = None
    metrics_every: Optional[int] = None
    eval_every: Optional[int] = None
    fault: Optional[InjectedFault] = None
    model_emitted: Optional[bool] = None
    kept: Optional[list[list[Any]]] = None  # [step, checkpoint id, model name], oldest first
    kept_rewards: Optional[dict[str, Optional[float]]] = None
    snapshots: Optional[list[int]] = None  # steps checkpointed by a pause
    paused_at: Optional[int] = None
    round: Optional[int] = None  # resumes so far
    hours_reported: Optional[str] = None  # Azure RFT: the billed hours last reported in an event (3 decimals)
    # Pauses the service makes by itself (simulator/fine_tuning/stops.py), set once the files are validated:
    cap_step: Optional[int] = None  # Azure RFT: the step whose billed cost reaches the per-job cap (it pauses there)
    preempt_per_hour: Optional[float] = None  # Azure Developer tier: mean preemptions per hour of training
    resume_at: Optional[int] = None  # a job paused by the system resumes by itself at this time

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "JobPlan":
        """The plan of a stored job row."""
        return cls.model_validate(row[PLAN_KEY])

    @staticmethod
    def unschedule_row(row: dict[str, Any]) -> bool:
        """Clear a stored row's due time in place, without loading its plan (for a row that may not load); True
        when there was one to clear."""
        plan = row.get(PLAN_KEY)
        if not isinstance(plan, dict) or plan.get("next_due") is None:
            return False
        plan["next_due"] = None
        return True

    # The JSON path of the base snapshot in a stored job row: every create counts the tenant's unfinished jobs per
    # snapshot in SQL with it, without loading (or validating) each row's plan in Python.
    SNAPSHOT_PATH: ClassVar[str] = f"$.{PLAN_KEY}.snapshot"


class JobRecord(BaseModel):
    """A stored job: the public `FineTuningJob` and its private `JobPlan`, kept apart."""

    job: FineTuningJob
    plan: JobPlan

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> "JobRecord":
        """Split a stored row (the public fields plus the plan under `PLAN_KEY`)."""
        return cls(job=FineTuningJob.from_record(row), plan=JobPlan.from_row(row))

    def to_row(self) -> dict[str, Any]:
        """The stored row: the public job's JSON plus the plan under `PLAN_KEY`.

        The plan's JSON is validated again (its fields are assigned without validation), so that what is stored
        always loads as a `JobPlan`; a plan that does not raises here, before anything is written."""
        row = self.job.model_dump(mode="json")
        plan = self.plan.model_dump(mode="json", exclude_unset=True)
        JobPlan.model_validate(plan)
        row[PLAN_KEY] = plan
        return row
