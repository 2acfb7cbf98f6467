"""/v1/fine_tuning/checkpoints/{checkpoint}/permissions: create, list, delete (checkpoint names contain colons)."""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict

from ftsim.api.http.deps import json_response
from ftsim.api.http.params import BackendDep, TenantDep
from ftsim.api.http.json_route import JSONRoute
from ftsim.simulator.fine_tuning.permissions import PermissionDeleted

router = APIRouter(route_class=JSONRoute, prefix="/v1/fine_tuning/checkpoints", tags=["fine_tuning"])


class CreatePermissionsRequest(BaseModel):
    """Body of the create call."""

    model_config = ConfigDict(extra="forbid")

    project_ids: list[str]


@router.post("/{fine_tuned_model_checkpoint:path}/permissions")
def create_permissions(
    fine_tuned_model_checkpoint: str, body: CreatePermissionsRequest, backend: BackendDep, tenant: TenantDep
) -> dict[str, Any]:
    """Share a checkpoint with other projects (answers a list envelope)."""
    return backend.permissions.create(tenant, fine_tuned_model_checkpoint, project_ids=body.project_ids)


@router.get("/{fine_tuned_model_checkpoint:path}/permissions", response_model=dict[str, Any])
async def list_permissions(
    fine_tuned_model_checkpoint: str,
    backend: BackendDep,
    tenant: TenantDep,
    project_id: Optional[str] = None,
    after: Optional[str] = None,
    limit: Optional[int] = None,
    order: str = "descending",
) -> Response:
    """A checkpoint's permissions (paged by `last_id`)."""
    return json_response(backend.permissions.list(
        tenant, fine_tuned_model_checkpoint, project_id=project_id, after=after, limit=limit, order=order
    ))


@router.delete("/{fine_tuned_model_checkpoint:path}/permissions/{permission_id}")
def delete_permission(
    fine_tuned_model_checkpoint: str, permission_id: str, backend: BackendDep, tenant: TenantDep
) -> PermissionDeleted:
    """Withdraw one permission."""
    return backend.permissions.delete(tenant, fine_tuned_model_checkpoint, permission_id)
