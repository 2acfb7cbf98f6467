"""/v1/fine_tuning/jobs: create, list, retrieve, cancel, pause, resume, events, checkpoints (thin: one service call)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request

from api.deps import BackendDep, TenantDep
from simulator.job_types import CreateJobRequest, FineTuningJob

router = APIRouter(prefix="/v1/fine_tuning/jobs", tags=["fine_tuning"])


def _metadata_filter(request: Request) -> tuple[dict[str, str] | None, bool]:
    """`metadata[k]=v` deep-object pairs, or the literal `metadata=null` (jobs without metadata)."""
    pairs: dict[str, str] = {}
    null = False
    for key, value in request.query_params.multi_items():
        if key == "metadata" and value == "null":
            null = True
        elif key.startswith("metadata[") and key.endswith("]"):
            pairs[key[len("metadata["):-1]] = value
    return (pairs or None), null


@router.post("")
def create_job(body: CreateJobRequest, backend: BackendDep, tenant: TenantDep) -> FineTuningJob:
    """Create a fine-tuning job (it starts in `validating_files`)."""
    return backend.jobs.create(tenant, **body.model_dump())


@router.get("")
def list_jobs(
    request: Request, backend: BackendDep, tenant: TenantDep, after: Optional[str] = None, limit: Optional[int] = None
) -> dict[str, Any]:
    """The tenant's jobs, newest first (`metadata[k]=v` filter)."""
    metadata, null = _metadata_filter(request)
    return backend.jobs.list(tenant, after=after, limit=limit, metadata=metadata, metadata_null=null)


@router.get("/{fine_tuning_job_id}")
def retrieve_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> FineTuningJob:
    """One job."""
    return backend.jobs.retrieve(tenant, fine_tuning_job_id)


@router.post("/{fine_tuning_job_id}/cancel")
def cancel_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> FineTuningJob:
    """Cancel a job (400 from a terminal state)."""
    return backend.jobs.cancel(tenant, fine_tuning_job_id)


@router.post("/{fine_tuning_job_id}/pause")
def pause_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> FineTuningJob:
    """Pause a running job."""
    return backend.jobs.pause(tenant, fine_tuning_job_id)


@router.post("/{fine_tuning_job_id}/resume")
def resume_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> FineTuningJob:
    """Resume a paused job."""
    return backend.jobs.resume(tenant, fine_tuning_job_id)


@router.get("/{fine_tuning_job_id}/events")
def list_events(
    fine_tuning_job_id: str,
    backend: BackendDep,
    tenant: TenantDep,
    after: Optional[str] = None,
    limit: Optional[int] = None,
) -> dict[str, Any]:
    """A job's events, newest first."""
    return backend.jobs.list_events(tenant, fine_tuning_job_id, after=after, limit=limit)


@router.get("/{fine_tuning_job_id}/checkpoints")
def list_checkpoints(
    fine_tuning_job_id: str,
    backend: BackendDep,
    tenant: TenantDep,
    after: Optional[str] = None,
    limit: Optional[int] = None,
) -> dict[str, Any]:
    """A job's checkpoints, newest first."""
    return backend.jobs.list_checkpoints(tenant, fine_tuning_job_id, after=after, limit=limit)
