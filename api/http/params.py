"""The parameters FastAPI's routes declare for the backend and the caller's tenant (api/http/deps.py checks them)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ftsim.api.http.deps import require_tenant
from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.tenancy import Tenant

__all__ = ["get_backend", "BackendDep", "TenantDep"]


async def get_backend(request: Request) -> Backend:
    """The app's backend (each app serves its own)."""
    return request.app.state.backend


BackendDep = Annotated[Backend, Depends(get_backend)]
TenantDep = Annotated[Tenant, Depends(require_tenant)]
