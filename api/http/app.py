"""The FastAPI app: OpenAI-compatible surface under /v1, planning under /planning, control under /_sim.

`create_app(backend)` only wires things together: routers, error handlers, response headers.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import itertools
import time
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import State

from ftsim.api.http.azure import AzureDialect
from ftsim.api.http.errors import ErrorMiddleware, install_error_handlers
from ftsim.api.http.fast_lane import FastLane
from ftsim.api.http.fault_middleware import FaultMiddleware
from ftsim.api.http.host_guard import HostGuard, is_loopback
from ftsim.api.http.lazy_routes import LazyRouters, LazyRoutes
from ftsim.api.http.routers import checkpoints, files, fine_tuning_jobs, models, uploads
from ftsim.simulator.core.backend import Backend

__all__ = ["create_app"]

class _Headers:
    """Pure ASGI middleware: x-request-id (seeded, unique per app), openai-version, openai-processing-ms."""

    def __init__(self, app, seed: str) -> None:
        self.app = app
        self._seed = seed
        self._counter = itertools.count(1)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        n = next(self._counter)
        request_id = "req_" + hashlib.sha256(f"{self._seed}:{n}".encode()).hexdigest()[:32]
        started = time.perf_counter()

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                elapsed = int((time.perf_counter() - started) * 1000)
                headers.append((b"x-request-id", request_id.encode()))
                headers.append((b"openai-version", b"2020-10-01"))
                headers.append((b"openai-processing-ms", str(elapsed).encode()))
                message = {**message, "headers": headers}
            await send(message)

        scope.setdefault("state", {})["request_id"] = request_id
        await self.app(scope, receive, send_with_headers)


@functools.cache
def _routed_app(console: bool = True) -> tuple[FastAPI, LazyRouters]:
    """The routes and error handlers every app serves (no backend, no middleware): built once a process (one with
    the console, one without), with the rarely used routers it routes on their first request."""
    # /docs, /redoc: the console's offline copies. redirect_slashes=False: `/v1/files/` is an unknown URL (404
    # envelope), not a 307 without a body, whose Location on an Azure path (/openai/v1/files/) named the OpenAI path
    app = FastAPI(title="ftsim", version="0.1.0", docs_url=None, redoc_url=None, redirect_slashes=False)
    install_error_handlers(app)
    lazy = LazyRouters(app)
    app.openapi = functools.partial(_openapi, app, lazy)  # type: ignore[method-assign]
    # One router per OpenAI path; chat, responses, graders, planning and the control plane are in `lazy`.
    for module in (files, uploads, fine_tuning_jobs, checkpoints, models):
        app.include_router(module.router)
    if console:  # the web console at / and /console/... (api/http/console/), imported only for apps that serve it
        from ftsim.api.http.console import router as console_router

        app.include_router(console_router)
        lazy.route_all()  # a server (or a kit that asked for the console): no first request pays for imports
    return app, lazy


def _openapi(app: FastAPI, lazy: LazyRouters) -> dict[str, Any]:
    """The OpenAPI document, every lazy router routed first (`/openapi.json` is served by the shared app)."""
    lazy.route_all()
    return FastAPI.openapi(app)


def create_app(backend: Backend | None = None, *, fast_lane: bool = True, sim_key: str | None = None,
               bound_host: str | None = None, console: bool = True) -> FastAPI:
    """An app serving `backend` (a fresh in-memory world when none is given).

    `console=False`: the API without the web console (the in-process test kit's app: a test drives the API, and
    the console's pages and their imports would cost every test session's first Simulator a fifth of a second).
    `fast_lane=False` sends every request through FastAPI (the fast lane's tests compare both doors).
    `sim_key`: when given, every /_sim route requires it (api/http/deps.py `require_sim_key`).
    `bound_host`: the address the server listens on (`ftsim serve`); a loopback one without a sim key turns on
    the DNS-rebinding guard of the console and /_sim (api/http/host_guard.py).
    """
    backend = backend or Backend()
    routed, lazy = _routed_app(console)
    # Each app is a shallow copy of one routed app built once a process, sharing its router: FastAPI works out a
    # route's dependencies and validators on the first request that reaches it, once per router, which cost a
    # test-kit Simulator ~15 ms a test when every app had a router of its own. Per app: state, middleware stack.
    app = copy.copy(routed)
    app.state = State()
    app.user_middleware = list(app.user_middleware)
    app.middleware_stack = None
    app.state.backend = backend
    app.state.sim_key = sim_key
    if lazy.pending:  # innermost: it routes what FastAPI is about to look for (a server has routed everything)
        app.add_middleware(LazyRoutes, routers=lazy)
    if fast_lane:
        app.add_middleware(FastLane)  # polling and uploads skip FastAPI's routing (api/http/fast_lane.py)
    app.add_middleware(FaultMiddleware)  # injected faults (issue 4); inside _Headers so they carry x-request-id
    app.add_middleware(ErrorMiddleware)  # every unexpected error answered inside _Headers: it carries x-request-id
    app.add_middleware(AzureDialect)  # Azure OpenAI's data plane onto the same routes (api/http/azure.py)
    if bound_host is not None and not sim_key and is_loopback(bound_host):
        app.add_middleware(HostGuard, bound_host=bound_host)  # inside _Headers: a refusal carries x-request-id
    app.add_middleware(_Headers, seed=f"{backend.config.seed}:{backend.boot}")
    return app
