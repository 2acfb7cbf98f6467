"""/_sim: control of the simulated world (clock, reset) and the cost of a simulated job."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from ftsim.api.http.deps import require_sim_key
from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute

router = APIRouter(route_class=JSONRoute, prefix="/_sim", tags=["simulator"], dependencies=[Depends(require_sim_key)])


class ClockState(BaseModel):
    """The simulated clock."""

    now: int
    iso: str
    speed: float


class AdvanceRequest(BaseModel):
    """How far to move the clock."""

    model_config = ConfigDict(extra="forbid")
    seconds: float = Field(ge=0, le=10 * 365 * 86400)


def _clock(backend) -> ClockState:
    now = backend.now()
    iso = dt.datetime.fromtimestamp(now, dt.timezone.utc).isoformat().replace("+00:00", "Z")
    return ClockState(now=now, iso=iso, speed=float(getattr(backend.clock, "speed", 0.0)))


@router.get("/clock", response_model=ClockState)
def get_clock(backend: BackendDep) -> ClockState:
    """The simulated present and the clock's speed."""
    backend.sync()
    return _clock(backend)


@router.post("/clock/advance", response_model=ClockState)
def advance_clock(body: AdvanceRequest, backend: BackendDep) -> ClockState:
    """Move the clock forward; every event and checkpoint in between is produced at once."""
    backend.advance(body.seconds)
    return _clock(backend)


@router.post("/reset")
def reset(backend: BackendDep) -> dict:
    """Forget every object of every tenant."""
    backend.reset()
    return {"object": "sim.reset", "reset": True}


@router.get("/fine_tuning/jobs/{job_id}/cost")
def job_cost(job_id: str, backend: BackendDep, tenant: TenantDep) -> dict:
    """The estimated cost of a simulated job, from the same pricing engine as `ftsim estimate`."""
    return backend.jobs.estimated_cost(tenant, job_id)
