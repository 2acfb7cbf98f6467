"""/v1/models: list, retrieve, delete (ids contain colons: the whole rest of the path is the id)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import BackendDep, TenantDep
from simulator.models import Model, ModelDeleted

router = APIRouter(prefix="/v1/models", tags=["models"])


@router.get("")
def list_models(backend: BackendDep, tenant: TenantDep) -> dict:
    """Base snapshots, then the tenant's tuned models."""
    return backend.models.list(tenant)


@router.get("/{model:path}", response_model=Model, response_model_exclude_none=True)
def retrieve_model(model: str, backend: BackendDep, tenant: TenantDep) -> Model:
    """Retrieve one model."""
    return backend.models.get(tenant, model)


@router.delete("/{model:path}", response_model=ModelDeleted)
def delete_model(model: str, backend: BackendDep, tenant: TenantDep) -> ModelDeleted:
    """Delete a tuned model of this tenant."""
    return backend.models.delete(tenant, model)
