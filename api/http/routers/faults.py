"""/_sim/faults: create, list, inspect and delete fault rules (see simulator/core/faults.py)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Depends
from pydantic import ConfigDict

from ftsim.api.http.deps import require_sim_key
from ftsim.api.http.params import BackendDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.core.errors import BadRequestError
from ftsim.simulator.core.faults import PRESETS, Fault, FaultSpec

router = APIRouter(route_class=JSONRoute, prefix="/_sim/faults", tags=["simulator"], dependencies=[Depends(require_sim_key)])


class FaultRequest(FaultSpec):
    """A fault spec, optionally starting from a named preset (its fields override the preset's)."""

    model_config = ConfigDict(extra="forbid")
    preset: Optional[str] = None


def _faults(backend) -> Any:
    if backend.faults is None:  # pragma: no cover - the service ships with the app
        raise BadRequestError("Fault injection is not available.")
    return backend.faults


@router.post("", response_model=Fault)
def create_fault(body: FaultRequest, backend: BackendDep) -> Fault:
    """Add a rule; only the fields actually sent override the preset's."""
    fields = body.model_dump(exclude_unset=True)
    preset = fields.pop("preset", None)
    return _faults(backend).add(preset, **fields)


@router.get("")
def list_faults(backend: BackendDep, api_key: Optional[str] = None, kind: Optional[str] = None) -> dict:
    """Every rule, oldest first, and the preset names; `?api_key=` keeps the rules scoped to that key's tenant,
    `?kind=` those of one kind (error, latency, job)."""
    data = [f.model_dump(mode="json") for f in _faults(backend).list(api_key=api_key or None, kind=kind or None)]
    return {"object": "list", "data": data, "has_more": False, "presets": sorted(PRESETS)}


@router.get("/{fault_id}", response_model=Fault)
def get_fault(fault_id: str, backend: BackendDep) -> Fault:
    """One rule."""
    return _faults(backend).get(fault_id)


@router.delete("/{fault_id}")
def delete_fault(fault_id: str, backend: BackendDep) -> dict:
    """Remove one rule."""
    _faults(backend).delete(fault_id)
    return {"id": fault_id, "object": "sim.fault", "deleted": True}


@router.delete("")
def delete_all_faults(backend: BackendDep) -> dict:
    """Remove every rule."""
    n = _faults(backend).clear()
    return {"object": "sim.fault.list", "deleted": n}
