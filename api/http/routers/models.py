"""/v1/models: list, retrieve, delete (ids contain colons: the whole rest of the path is the id)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from ftsim.api.http.deps import json_response
from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.inference.models import Model, ModelDeleted

router = APIRouter(route_class=JSONRoute, prefix="/v1/models", tags=["models"])


@router.get("", response_model=dict)
async def list_models(backend: BackendDep, tenant: TenantDep) -> Response:
    """Base snapshots, then the tenant's tuned models."""
    return json_response(backend.models.list(tenant))


@router.get("/{model:path}", response_model=Model, response_model_exclude_none=True)
async def retrieve_model(model: str, backend: BackendDep, tenant: TenantDep) -> Response:
    """Retrieve one model."""
    return json_response(backend.models.get(tenant, model), exclude_none=True)


@router.delete("/{model:path}", response_model=ModelDeleted)
def delete_model(model: str, backend: BackendDep, tenant: TenantDep) -> ModelDeleted:
    """Delete a tuned model of this tenant."""
    return backend.models.delete(tenant, model)
