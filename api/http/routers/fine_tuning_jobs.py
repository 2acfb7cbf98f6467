"""/v1/fine_tuning/jobs: create, list, retrieve, cancel, pause, resume, events, checkpoints (thin: one service call).

Every route answers with `json_response` (the typed result, not validated a second time). Reads are `async def`:
a short SQLite read, on the event loop. Writes, which may catch the world up, stay in the thread pool.
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Request, Response

from ftsim.api.http import handlers
from ftsim.api.http.deps import json_list_response, json_response
from ftsim.api.http.json_route import JSONRoute
from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.simulator.fine_tuning.types import CreateJobRequest, FineTuningJob

router = APIRouter(route_class=JSONRoute, prefix="/v1/fine_tuning/jobs", tags=["fine_tuning"])

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


@router.post("", response_model=FineTuningJob)
def create_job(body: CreateJobRequest, backend: BackendDep, tenant: TenantDep, request: Request) -> Response:
    """Create a fine-tuning job (it starts in `validating_files`); an Azure job keeps its training type with it."""
    # well-formed JSON bodies are answered by api/http/fast_lane.py, with this same call
    return handlers.create_job(request, backend, tenant, body)


@router.get("", response_model=dict[str, Any])
async def list_jobs(
    request: Request, backend: BackendDep, tenant: TenantDep, after: Optional[str] = None, limit: Optional[int] = None
) -> Response:
    """The tenant's jobs, newest first (`metadata[k]=v` filter)."""
    metadata, null = _metadata_filter(request)
    return json_response(backend.jobs.list(tenant, after=after, limit=limit, metadata=metadata, metadata_null=null))


@router.get("/{fine_tuning_job_id}", response_model=FineTuningJob)
async def retrieve_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """One job."""
    # well-formed polls are answered by api/http/fast_lane.py, with this same call
    return json_response(backend.jobs.retrieve(tenant, fine_tuning_job_id))


@router.post("/{fine_tuning_job_id}/cancel", response_model=FineTuningJob)
def cancel_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """Cancel a job (400 from a terminal state)."""
    return json_response(backend.jobs.cancel(tenant, fine_tuning_job_id))


@router.post("/{fine_tuning_job_id}/pause", response_model=FineTuningJob)
def pause_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """Pause a running job."""
    return json_response(backend.jobs.pause(tenant, fine_tuning_job_id))


@router.post("/{fine_tuning_job_id}/resume", response_model=FineTuningJob)
def resume_job(fine_tuning_job_id: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """Resume a paused job."""
    return json_response(backend.jobs.resume(tenant, fine_tuning_job_id))


@router.get("/{fine_tuning_job_id}/events", response_model=dict[str, Any])
async def list_events(
    fine_tuning_job_id: str,
    backend: BackendDep,
    tenant: TenantDep,
    after: Optional[str] = None,
    limit: Optional[int] = None,
) -> Response:
    """A job's events, newest first."""
    # well-formed pages are answered by api/http/fast_lane.py, with this same call
    return json_list_response(*backend.jobs.list_events_text(tenant, fine_tuning_job_id, after=after, limit=limit))


@router.get("/{fine_tuning_job_id}/checkpoints", response_model=dict[str, Any])
async def list_checkpoints(
    fine_tuning_job_id: str,
    backend: BackendDep,
    tenant: TenantDep,
    after: Optional[str] = None,
    limit: Optional[int] = None,
) -> Response:
    """A job's checkpoints, newest first."""
    return json_response(backend.jobs.list_checkpoints(tenant, fine_tuning_job_id, after=after, limit=limit))
