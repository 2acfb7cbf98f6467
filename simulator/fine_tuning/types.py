"""Pydantic shapes of the fine-tuning jobs API, field names and key order as the live JSON (reference §2.1-2.3).

Live deviations from the OpenAPI spec, kept on purpose: `error` is `{}` on a job that has not failed; `status`
may be `paused`; jobs carry `user_provided_suffix`, `usage_metrics`, `shared_with_openai`, `eval_id`;
the "Fine-tuning job started" event has `data: null`.
"""

from __future__ import annotations

from typing import Any, Literal, Optional, Union

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
        """Build from a stored job record (its private `_sim` plan is dropped)."""
        return cls.model_validate({k: v for k, v in record.items() if k != "_sim"})


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
