"""The fast lane: the hottest requests (upload a file, create a job, poll it, list its events) without FastAPI.

FastAPI's route matching and dependency solving cost about half a millisecond a request, several times the work
itself, and importing FastAPI costs a process a quarter of a second. This pure ASGI middleware answers those four
requests, when they are well formed, with the very calls the routes in api/http/routers/ make (`authenticate`,
`require_tenant`, api/http/handlers.py, the service, `json_response`), so the bytes are the same; a test that
does no more never imports FastAPI (api/http/app.py builds it on the first request that passes through).

Everything else goes on to FastAPI: other paths, a root path, a query string with anything but one `after` and
one digits-only `limit`, and a job whose body is not a small, valid JSON request (FastAPI then reads the same
bytes again and answers the error). tests/api/test_fast_lane.py holds both doors to the same answers.
"""

from __future__ import annotations

import re
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

from ftsim.api.http import handlers
from ftsim.api.http.deps import authenticate, json_list_response, json_response, require_tenant
from ftsim.api.http.errors import simulator_error_response
from ftsim.api.http.json_body import loads
from ftsim.simulator.core.errors import SimulatorError
from ftsim.simulator.fine_tuning.types import CreateJobRequest

__all__ = ["FastLane"]

_JOB = re.compile(r"/v1/fine_tuning/jobs/([^/]+)")
_EVENTS = re.compile(r"/v1/fine_tuning/jobs/([^/]+)/events")
_DIGITS = re.compile(r"[0-9]{1,9}")
# A job's body the lane reads itself, at most (a larger one, or one of unknown length, goes to FastAPI whole): a
# job's request is a few hundred bytes, and even a grader's text keeps it well under this.
LANE_BODY_BYTES = 1 << 20

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
    elif method == "POST":
        if path == "/v1/files":
            return _create_file, {}
        if path == "/v1/fine_tuning/jobs":
            return _create_job, {}
    return None


async def _retrieve_job(request: Request, backend: Any, tenant: Any, *, job_id: str) -> Response:
    return json_response(backend.jobs.retrieve(tenant, job_id))


async def _list_events(request: Request, backend: Any, tenant: Any, *, job_id: str, after: str | None = None,
                       limit: int | None = None) -> Response:
    return json_list_response(*backend.jobs.list_events_text(tenant, job_id, after=after, limit=limit))


async def _create_file(request: Request, backend: Any, tenant: Any) -> Response:
    return await handlers.upload_file(request, backend, tenant)


async def _create_job(request: Request, backend: Any, tenant: Any, *, body: CreateJobRequest) -> Response:
    return await run_in_threadpool(handlers.create_job, request, backend, tenant, body)  # a write: off the loop


async def _job_request(scope: dict, receive: Any) -> tuple[CreateJobRequest | None, list[dict]]:
    """A job's body read and validated as FastAPI's route would, and the messages read for it; None for a body the
    lane leaves to FastAPI: not declared `application/json`, of unknown length or larger than `LANE_BODY_BYTES`,
    not strict JSON, or not a valid request."""
    headers = Headers(scope=scope)
    kind = headers.get("content-type", "").partition(";")[0].strip().lower()
    length = headers.get("content-length", "")
    if kind != "application/json" or not _DIGITS.fullmatch(length) or int(length) > LANE_BODY_BYTES:
        return None, []
    messages: list[dict] = []
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":  # the client went away: FastAPI answers that as usual
            return None, messages
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > LANE_BODY_BYTES:
            return None, messages
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    try:
        return CreateJobRequest.model_validate(loads(b"".join(chunks))), messages
    except (ValueError, ValidationError):  # not JSON, or not a valid job (FastAPI answers the error)
        return None, messages


def _replay(messages: list[dict], receive: Any) -> Any:
    """`receive` with `messages`, already read from it, handed out again first."""
    pending = list(messages)

    async def replayed() -> dict:
        return pending.pop(0) if pending else await receive()

    return replayed


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
            if handler is _create_job:
                authenticate(request)  # before the body is read, as FastAPI's route does (api/http/json_route.py)
                body, messages = await _job_request(scope, receive)
                if body is None:
                    return await self.app(scope, _replay(messages, receive), send)
                kwargs = {"body": body}
            tenant = await require_tenant(request)
            response = await handler(request, scope["app"].state.backend, tenant, **kwargs)
        except SimulatorError as exc:
            response = simulator_error_response(exc)
        await response(scope, receive, send)
