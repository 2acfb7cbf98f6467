"""Dependencies shared by the routers: the backend, and the tenant behind the Bearer key."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from simulator.backend import Backend
from simulator.errors import AuthenticationError
from simulator.tenancy import Tenant

__all__ = ["get_backend", "get_tenant", "BackendDep", "TenantDep"]

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username and password. You can obtain an API "
    "key from https://platform.openai.com/account/api-keys."
)


def get_backend(request: Request) -> Backend:
    """The app's backend (tests swap it with a fresh one per app)."""
    return request.app.state.backend


def _masked(key: str) -> str:
    return key[:8] + "*" * 8 + key[-4:] if len(key) > 12 else "*" * len(key)


def get_tenant(request: Request, backend: Annotated[Backend, Depends(get_backend)]) -> Tenant:
    """The tenant of the request's Bearer key (401 without one); catches the world up to the present."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if not header:
        raise AuthenticationError(NO_KEY, type="invalid_request_error")
    if scheme.lower() != "bearer" or not key or any(c.isspace() for c in key):
        raise AuthenticationError(
            f"Incorrect API key provided: {_masked(key or header)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            type="invalid_request_error",
        )
    tenant = backend.tenant(key)
    request.state.tenant = tenant
    backend.sync()
    return tenant


BackendDep = Annotated[Backend, Depends(get_backend)]
TenantDep = Annotated[Tenant, Depends(get_tenant)]
