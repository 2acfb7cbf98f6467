"""/v1/fine_tuning/alpha/graders: validate and run."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from starlette.concurrency import run_in_threadpool

from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.graders.graders import RunGraderResponse

router = APIRouter(route_class=JSONRoute, prefix="/v1/fine_tuning/alpha/graders", tags=["graders"])


class ValidateGraderRequest(BaseModel):
    """Body of POST .../graders/validate."""

    model_config = ConfigDict(extra="forbid")
    grader: Any


class RunGraderRequest(BaseModel):
    """Body of POST .../graders/run."""

    model_config = ConfigDict(extra="forbid")
    grader: Any
    model_sample: str
    item: Optional[dict[str, Any]] = None


@router.post("/validate")
def validate_grader(body: ValidateGraderRequest, backend: BackendDep, tenant: TenantDep) -> dict:
    """Echo a valid grader (400 param `grader` otherwise)."""
    return backend.graders.validate(tenant, grader=body.grader)


@router.post("/run", response_model=RunGraderResponse)
async def run_grader(body: RunGraderRequest, backend: BackendDep, tenant: TenantDep) -> RunGraderResponse:
    """Grade one sample."""
    return await run_in_threadpool(
        backend.graders.run, tenant, grader=body.grader, model_sample=body.model_sample, item=body.item
    )
