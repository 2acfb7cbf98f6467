"""The fast lane: the three hottest requests (poll a job, list its events, upload a file) without FastAPI's toll.

FastAPI's route matching and dependency solving cost about half a millisecond a request, several times the work
itself. This pure ASGI middleware answers those three requests, when they are well formed, with the very calls
the routes in api/http/routers/ make (`require_tenant`, the service, `json_response`), so the bytes are the same.
Everything else goes on to FastAPI untouched: other paths, a root path, a query string with anything but one
`after` and one digits-only `limit`. tests/api/test_fast_lane.py holds both doors to the same answers.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from ftsim.api.http.deps import json_list_response, json_response, require_tenant
from ftsim.api.http.errors import simulator_error_response
from ftsim.api.http.routers.files import upload_file
from ftsim.simulator.core.errors import SimulatorError

__all__ = ["FastLane"]

_JOB = re.compile(r"/v1/fine_tuning/jobs/([^/]+)")
_EVENTS = re.compile(r"/v1/fine_tuning/jobs/([^/]+)/events")
_DIGITS = re.compile(r"[0-9]{1,9}")

def _page_query(raw: bytes) -> dict[str, Any] | None:
    """`after` and `limit` from a query string, or None when it holds anything else (FastAPI then parses it)."""
    if not raw:
        return {}
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out or not value:
            return None
        if key == "after":
            out["after"] = value
        elif key == "limit" and _DIGITS.fullmatch(value):
            out["limit"] = int(value)
        else:
            return None
    return out


def _route(scope: dict) -> tuple[Callable[..., Awaitable[Response]], dict[str, Any]] | None:
    """The lane's handler for this request and its arguments, or None to leave it to FastAPI."""
    if scope.get("root_path"):
        return None
    method, path = scope["method"], scope["path"]
    if method == "GET":
        match = _JOB.fullmatch(path)
        if match:
            return _retrieve_job, {"job_id": match.group(1)}
        match = _EVENTS.fullmatch(path)
        if match:
            query = _page_query(scope.get("query_string", b""))
            return (None if query is None else (_list_events, {"job_id": match.group(1), **query}))
    elif method == "POST" and path == "/v1/files":
        return _create_file, {}
    return None


async def _retrieve_job(request: Request, backend: Any, tenant: Any, *, job_id: str) -> Response:
    return json_response(backend.jobs.retrieve(tenant, job_id))


async def _list_events(request: Request, backend: Any, tenant: Any, *, job_id: str, after: str | None = None,
                       limit: int | None = None) -> Response:
    return json_list_response(*backend.jobs.list_events_text(tenant, job_id, after=after, limit=limit))


async def _create_file(request: Request, backend: Any, tenant: Any) -> Response:
    return await upload_file(request, backend, tenant)


class FastLane:
    """Pure ASGI middleware answering the hot requests itself; every other request passes through."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        routed = _route(scope) if scope["type"] == "http" else None
        if routed is None:
            return await self.app(scope, receive, send)
        handler, kwargs = routed
        request = Request(scope, receive)
        try:
            tenant = await require_tenant(request)
            response = await handler(request, scope["app"].state.backend, tenant, **kwargs)
        except SimulatorError as exc:
            response = simulator_error_response(exc)
        await response(scope, receive, send)
