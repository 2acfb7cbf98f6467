"""Checkpoint permissions: share a tuned model or checkpoint with other projects.

A permission is stored under its checkpoint's model name (kind "permission", parent = the name). The checkpoint
must be one of the tenant's tuned-model records (404 otherwise). Granting to the project that owns the checkpoint is
refused as live: 400 "Cannot modify checkpoint permissions for the owning project: <proj>". Create answers a list
envelope; list pages by `last_id` (order `ascending`/`descending`, default descending; `project_id` filter).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from ftsim.simulator.core.errors import BadRequestError, NotFoundError
from ftsim.simulator.core.pagination import check_limit, list_envelope
from ftsim.simulator.core.tenancy import Tenant

if TYPE_CHECKING:
    from ftsim.simulator.core.backend import Backend

__all__ = ["Permission", "PermissionDeleted", "Permissions", "MAX_PROJECT_IDS", "MAX_PROJECT_ID_CHARS"]


class Permission(BaseModel):
    """A `checkpoint.permission`."""

    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    id: str
    created_at: int
    project_id: str


class PermissionDeleted(BaseModel):
    """Answer to DELETE .../permissions/{id}."""

    object: Literal["checkpoint.permission"] = "checkpoint.permission"
    id: str
    deleted: bool = True


# Bounds of one create call. The live ones are not published: a project id is `proj_` and 24 characters, and a
# call sharing a checkpoint with more than a thousand projects is far past any seen use. Unbounded, one call held
# the world's lock while it wrote every id (100,000 of them: seconds of every other tenant's writes waiting).
MAX_PROJECT_IDS = 1000
MAX_PROJECT_ID_CHARS = 256


class Permissions:
    """The checkpoint-permissions service."""

    def __init__(self, backend: "Backend") -> None:
        self.backend = backend

    def _owner_project(self, tenant: Tenant, checkpoint: str) -> str:
        model = self.backend.store.get("model", tenant.key, checkpoint) if isinstance(checkpoint, str) else None
        if model is None:
            raise NotFoundError(f"No such checkpoint: {checkpoint}", param="fine_tuned_model_checkpoint")
        return str(model.get("project_id") or tenant.project_id)

    def create(self, tenant: Tenant, checkpoint: str, *, project_ids: list[str]) -> dict[str, Any]:
        """Grant each project access; returns the new permissions as a list envelope."""
        if not project_ids:
            raise BadRequestError("Invalid 'project_ids': expected a non-empty array of project ids.",
                                  param="project_ids")
        if len(project_ids) > MAX_PROJECT_IDS:  # checked before the lock: each id is a write under it
            raise BadRequestError(f"Invalid 'project_ids': at most {MAX_PROJECT_IDS} project ids per request, got "
                                  f"{len(project_ids)}.", param="project_ids")
        for pid in project_ids:
            if not isinstance(pid, str) or not pid.strip() or len(pid) > MAX_PROJECT_ID_CHARS:
                raise BadRequestError("Invalid 'project_ids': every item must be a non-empty string of at most "
                                      f"{MAX_PROJECT_ID_CHARS} characters.", param="project_ids")
        with self.backend.lock, self.backend.store.transaction():
            owner = self._owner_project(tenant, checkpoint)
            if owner in project_ids:
                raise BadRequestError(f"Cannot modify checkpoint permissions for the owning project: {owner}",
                                      param="project_ids")
            now = self.backend.now()
            existing = {d["project_id"]: d for _, d in self.backend.store.scan("permission", tenant.key,
                                                                               parent=checkpoint)}
            created = []
            for pid in dict.fromkeys(project_ids):
                if pid in existing:
                    created.append(Permission.model_validate(existing[pid]))
                    continue
                perm = Permission(id=self.backend.new_id("cp_", tenant=tenant.key), created_at=now, project_id=pid)
                self.backend.store.put("permission", tenant.key, perm.id, perm.model_dump(), parent=checkpoint)
                created.append(perm)
        return list_envelope(created, False, ids=True)

    def list(
        self,
        tenant: Tenant,
        checkpoint: str,
        *,
        project_id: str | None = None,
        after: str | None = None,
        limit: int | None = None,
        order: str = "descending",
    ) -> dict[str, Any]:
        """A page of a checkpoint's permissions, with first_id/last_id (the SDK pages by last_id)."""
        self._owner_project(tenant, checkpoint)
        size = check_limit(limit, default=10)
        if order not in ("ascending", "descending"):
            raise BadRequestError(f"Invalid 'order': expected 'ascending' or 'descending', got '{order}'.",
                                  param="order")
        where = (lambda d: d["project_id"] == project_id) if project_id else None
        items, more = self.backend.store.page("permission", tenant.key, parent=checkpoint, after=after, limit=size,
                                              order="asc" if order == "ascending" else "desc", where=where)
        return list_envelope([Permission.model_validate(d) for d in items], more, ids=True)

    def delete(self, tenant: Tenant, checkpoint: str, permission_id: str) -> PermissionDeleted:
        """Remove one permission (404 if it is not one of this checkpoint's)."""
        with self.backend.lock, self.backend.store.transaction():
            self._owner_project(tenant, checkpoint)
            data = self.backend.store.get("permission", tenant.key, permission_id)
            if data is None or not any(d["id"] == permission_id for _, d in
                                       self.backend.store.scan("permission", tenant.key, parent=checkpoint)):
                raise NotFoundError(f"No such checkpoint permission: {permission_id}", param="permission_id")
            self.backend.store.delete("permission", tenant.key, permission_id)
        return PermissionDeleted(id=permission_id)
