"""The app: OpenAI-compatible surface under /v1 (and Azure's paths), planning under /planning, control under /_sim.

`create_app(backend)` only wires things together: middlewares, the fast lane, FastAPI's routes (api/http/routed.py),
response headers. This module imports no FastAPI.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from typing import TYPE_CHECKING, Any

from starlette.datastructures import State

from ftsim.api.http.azure import AzureDialect
from ftsim.api.http.errors import ErrorMiddleware
from ftsim.api.http.fast_lane import FastLane
from ftsim.api.http.fault_middleware import FaultMiddleware
from ftsim.api.http.host_guard import HostGuard, is_loopback
from ftsim.simulator.core.backend import Backend

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["App", "create_app"]

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


class App:
    """The ASGI app serving one backend: ftsim's middlewares (outermost first: x-request-id, errors, the DNS-rebinding
    guard, Azure's dialect, errors again, faults, the fast lane) in front of FastAPI's routes (api/http/routed.py).

    FastAPI is imported and built on the first request the fast lane leaves to it (at once for an app that serves
    the console: a server), so a test that only uploads, creates jobs and polls never pays for it (issue 11).
    `state` holds what the routes read (`backend`, `sim_key`); FastAPI's copy shares it.
    """

    def __init__(self, backend: Backend, *, fast_lane: bool, sim_key: str | None, bound_host: str | None,
                 console: bool) -> None:
        self.state = State()
        self.state.backend = backend
        self.state.sim_key = sim_key
        self._console = console
        self._routes: FastAPI | None = None
        self._lock = threading.Lock()
        stack: Any = self._route
        if fast_lane:
            stack = FastLane(stack)  # polling, uploads and job creation skip FastAPI (api/http/fast_lane.py)
        stack = FaultMiddleware(stack)  # injected faults (issue 4); inside _Headers so they carry x-request-id
        stack = ErrorMiddleware(stack)  # every unexpected error answered inside _Headers: it carries x-request-id
        stack = AzureDialect(stack)  # Azure OpenAI's data plane onto the same routes (api/http/azure.py)
        if bound_host is not None and not sim_key and is_loopback(bound_host):
            stack = HostGuard(stack, bound_host=bound_host)  # inside _Headers: a refusal carries x-request-id
        # And once more outermost, for what the dialect or the guard raise themselves (a storage fault recording a
        # deployment's usage after the route answered, say): FastAPI's own server-error middleware, which answered
        # those before, is gone (api/http/routed.py), and uvicorn's bare 500 closes the connection.
        stack = ErrorMiddleware(stack)
        self._stack: Any = _Headers(stack, seed=f"{backend.config.seed}:{backend.boot}")
        if console:
            self.fastapi()

    def add_middleware(self, middleware: Any, **options: Any) -> None:
        """Wrap the app in one more ASGI middleware, outermost (as Starlette's `add_middleware` places it)."""
        self._stack = middleware(self._stack, **options)

    @property
    def routes(self) -> list[Any]:
        """The app's routes (Starlette's `app.routes`), FastAPI built first if it was not."""
        return self.fastapi().routes

    def fastapi(self) -> FastAPI:
        """FastAPI serving this app's routes, built on first use."""
        routes = self._routes
        if routes is None:
            with self._lock:  # the in-process kit may serve several threads
                if self._routes is None:
                    from ftsim.api.http import routed  # the one place FastAPI is imported: see the class docstring

                    self._routes = routed.serve(self.state, self._console)
                routes = self._routes
        return routes

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document of every route."""
        return self.fastapi().openapi()

    async def _route(self, scope, receive, send) -> None:
        await self.fastapi()(scope, receive, send)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "lifespan" and self._routes is None:
            return await _lifespan(receive, send)  # nothing starts or stops with an app: no need to build FastAPI
        scope["app"] = self
        await self._stack(scope, receive, send)


async def _lifespan(receive, send) -> None:
    """Answer a server's lifespan messages (the app has no start-up or shut-down work of its own)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_app(backend: Backend | None = None, *, fast_lane: bool = True, sim_key: str | None = None,
               bound_host: str | None = None, console: bool = True) -> App:
    """An app serving `backend` (a fresh in-memory world when none is given).

    `console=False`: the API without the web console (the in-process test kit's app: a test drives the API, and
    the console's pages and their imports would cost every test session's first Simulator a fifth of a second).
    `fast_lane=False` sends every request through FastAPI (the fast lane's tests compare both doors).
    `sim_key`: when given, every /_sim route requires it (api/http/deps.py `require_sim_key`).
    `bound_host`: the address the server listens on (`ftsim serve`); a loopback one without a sim key turns on
    the DNS-rebinding guard of the console and /_sim (api/http/host_guard.py).
    """
    return App(backend or Backend(), fast_lane=fast_lane, sim_key=sim_key, bound_host=bound_host, console=console)
