"""What every door checks and answers: the tenant behind the Bearer key, the control plane's sim key, JSON answers.

Shared by FastAPI's routes (as dependencies, api/http/params.py) and the fast lane (api/http/fast_lane.py), so it
imports no FastAPI: a test that only uploads, creates jobs and polls never imports it (issue 11).
"""

from __future__ import annotations

import hmac
import json
import re
import weakref
from typing import Any

from pydantic_core import to_json
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ftsim.simulator.core.backend import Backend
from ftsim.simulator.core.errors import AuthenticationError
from ftsim.simulator.core.tenancy import Tenant

__all__ = ["get_tenant", "authenticate", "require_tenant", "require_sim_key", "bearer_key", "SIM_KEY_HEADER", "json_response", "json_list_response"]

NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer "
    "auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're "
    "accessing the API from your browser and are prompted for a username and password. You can obtain an API "
    "key from https://platform.openai.com/account/api-keys."
)


# Key -> tenant, per backend (its key map is fixed once built): resolving hashes the key each time. Bounded, since
# any string is a valid key.
_TENANTS: weakref.WeakKeyDictionary[Backend, dict[str, Tenant]] = weakref.WeakKeyDictionary()
_TENANTS_MAX = 1024


def _tenant_of(backend: Backend, key: str) -> Tenant | None:
    """The key's tenant (remembered), or None when the server accepts only listed keys and this one is not."""
    known = _TENANTS.get(backend)
    if known is None:
        known = _TENANTS.setdefault(backend, {})
    tenant = known.get(key)
    if tenant is None:
        if backend.config.strict_keys and not backend.tenancy.knows(key):
            return None
        if len(known) >= _TENANTS_MAX:
            known.clear()
        tenant = known[key] = backend.tenant(key)
    return tenant


def _masked(key: str) -> str:
    return key[:8] + "*" * 8 + key[-4:] if len(key) > 12 else "*" * len(key)


def authenticate(request: Request) -> Tenant:
    """The tenant of the request's key (401 without a valid one), without catching the world up: what a route
    checks before it reads its body (api/http/json_body.py), as the live API answers a keyless request 401
    whatever its body."""
    return _authenticate(request, request.app.state.backend)


def _authenticate(request: Request, backend: Backend) -> Tenant:
    """The tenant of the request's Bearer key (401 without one), remembered on `request.state`."""
    azure = (request.scope.get("state") or {}).get("azure_tenant")
    if azure is not None:  # an Azure account, already resolved from its api-key by api/http/azure.py
        request.state.tenant = azure
        return azure
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if not header:
        raise AuthenticationError(NO_KEY, type="invalid_request_error")
    tenant = None
    if scheme.lower() == "bearer" and key and not any(c.isspace() for c in key):
        tenant = _tenant_of(backend, key)
    if tenant is None:
        raise AuthenticationError(
            f"Incorrect API key provided: {_masked(key or header)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            type="invalid_request_error",
        )
    _check_scope_headers(request, tenant)
    request.state.tenant = tenant
    return tenant


def _check_scope_headers(request: Request, tenant: Tenant) -> None:
    """401 when `OpenAI-Organization` or `OpenAI-Project` names another organization or project than the key's.

    The organization text and code are the live ones; the project's follow the same pattern (not recorded)."""
    org = request.headers.get("openai-organization")
    if org is not None and org.strip() and org.strip() != tenant.org_id:
        raise AuthenticationError("OpenAI-Organization header should match organization for API key",
                                  type="invalid_request_error", code="mismatched_organization")
    project = request.headers.get("openai-project")
    if project is not None and project.strip() and project.strip() != tenant.project_id:
        raise AuthenticationError("OpenAI-Project header should match project for API key",
                                  type="invalid_request_error", code="mismatched_project")


def get_tenant(request: Request, backend: Backend) -> Tenant:
    """The request's tenant, then the world caught up to the present (for code already off the event loop)."""
    tenant = _authenticate(request, backend)
    catch_up(backend, tenant)
    return tenant


def catch_up(backend: Backend, tenant: Tenant) -> None:
    """Bring the tenant's world to the present: a step of its own, after authentication and before (never inside)
    the request's own transaction; other tenants' file scans are left to them (`Backend.sync`). A job that cannot
    advance fails alone, so this raises only for a broken install (503) or storage."""
    if backend.sync_pending(tenant):
        backend.sync(tenant)


async def require_tenant(request: Request) -> Tenant:
    """The request's tenant; then catches its world up, in a worker thread when anything is due (cheap otherwise).
    Another tenant's file scan is never this request's to run or wait on (`Backend.sync`)."""
    backend = request.app.state.backend
    tenant = _authenticate(request, backend)
    if backend.sync_pending(tenant):
        await run_in_threadpool(backend.sync, tenant)
    return tenant


def json_response(value: Any, *, exclude_none: bool = False) -> Response:
    """`value` (a pydantic model, or a dict holding models and plain data) as the JSON body FastAPI would send for it.

    The same bytes as FastAPI's own `response_model` serialization (pydantic, by alias), without validating an
    already typed value a second time. Routes keep `response_model=` so the OpenAPI document still describes them.
    """
    return Response(to_json(value, by_alias=True, exclude_none=exclude_none), media_type="application/json")


# Stored JSON (json.dumps, ensure_ascii) is spliced as is when it reads the same as `json_response` would write it:
# no \u escapes (non-ASCII, control characters), no NaN and no float with an exponent (json.dumps always writes
# the exponent's sign: 1e-05 where pydantic writes 0.00001). Anything else is decoded and encoded again.
_EXPONENT = re.compile(r"[0-9]e[-+]")


def _verbatim(text: str) -> bool:
    """Whether stored JSON text is already the bytes `json_response` writes for it (plain substring tests first)."""
    if "\\u" in text or "NaN" in text:
        return False
    return not (("e-" in text or "e+" in text) and _EXPONENT.search(text))


def json_list_response(texts: list[str], has_more: bool) -> Response:
    """`{"object":"list","data":[...],"has_more":...}` from documents' stored JSON, the bytes `json_response` sends."""
    parts = [t.encode() if _verbatim(t) else to_json(json.loads(t)) for t in texts]
    body = b'{"object":"list","data":[' + b",".join(parts) + (b'],"has_more":true}' if has_more else b'],"has_more":false}')
    return Response(body, media_type="application/json")


SIM_KEY_HEADER = "x-ftsim-sim-key"


def bearer_key(authorization: str) -> str | None:
    """The key of an `Authorization: Bearer KEY` header value, or None."""
    scheme, _, key = authorization.partition(" ")
    key = key.strip()
    return key if scheme.lower() == "bearer" and key else None


async def require_sim_key(request: Request) -> None:
    """Guard of /_sim: when the server has a sim key, the request must carry it (401 otherwise).

    The key goes in the `x-ftsim-sim-key` header, or as `Authorization: Bearer KEY` when no API key is needed
    beside it (the cost route reads the tenant's own key from Authorization).
    """
    expected = getattr(request.app.state, "sim_key", None)
    if not expected:
        return
    offered = [request.headers.get(SIM_KEY_HEADER, ""), bearer_key(request.headers.get("authorization", "")) or ""]
    if not any(hmac.compare_digest(k.encode(), expected.encode()) for k in offered if k):
        raise AuthenticationError(
            "The simulator's control plane (/_sim) needs the server's sim key: send it in the "
            f"'{SIM_KEY_HEADER}' header (or as 'Authorization: Bearer <sim key>').",
            type="invalid_request_error",
            code="invalid_sim_key",
        )
