"""Rarely used routers join the app on their first request, so that a test session's first Simulator does not
import them (issue 11: the in-process kit's start-up).

The routers nearly every test reaches (files, uploads, jobs, checkpoints, models) are part of every app
(api/http/routed.py). The others, with the pydantic models of their request shapes and the services behind them,
are imported and routed by `LazyRoutes` on the first request under their prefix, or all at once when the OpenAPI
document is asked for or a server starts. Their paths meet no eager route's, so routing them later answers as
routing them first would.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from fastapi import APIRouter, FastAPI

__all__ = ["LAZY", "LazyRouters", "LazyRoutes"]


def _chat() -> APIRouter:
    from ftsim.api.http.routers import chat

    return chat.router


def _responses() -> APIRouter:
    from ftsim.api.http.routers import responses

    return responses.router


def _graders() -> APIRouter:
    from ftsim.api.http.routers import graders

    return graders.router


def _planning() -> APIRouter:
    from ftsim.api.http.routers import planning

    return planning.router


def _control() -> APIRouter:
    """The simulator's control plane (/_sim: clock, reset, costs, faults, Azure's bill) and Azure's deployments."""
    from ftsim.api.http.routers import azure_deployments, faults, sim

    router = APIRouter()
    for module in (sim, faults, azure_deployments):
        router.include_router(module.router)
    return router


# (path prefixes, the router they need). Paths are the ones FastAPI routes: Azure's data plane reaches here
# already rewritten to /v1/... (api/http/azure.py); /subscriptions/... is Azure's management plane.
LAZY: tuple[tuple[tuple[str, ...], Callable[[], APIRouter]], ...] = (
    (("/v1/chat/",), _chat),
    (("/v1/responses",), _responses),
    (("/v1/fine_tuning/alpha/graders/",), _graders),
    (("/planning/",), _planning),
    (("/_sim/", "/subscriptions/"), _control),
)


class LazyRouters:
    """Which of `LAZY` one shared app has routed; routing is once per router, whichever thread asks first (the
    in-process kit may serve several threads)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self._routed: set[Callable[[], APIRouter]] = set()
        self._lock = threading.Lock()

    @property
    def pending(self) -> bool:
        """Whether a lazy router is still to be routed."""
        return len(self._routed) < len(LAZY)

    def route_for(self, path: str) -> None:
        """Route the router that `path` needs, if it is a lazy one not routed yet."""
        if not self.pending:
            return
        for prefixes, load in LAZY:
            if path.startswith(prefixes):
                self._route(load)

    def route_all(self) -> None:
        """Route every lazy router (the OpenAPI document, a server's start)."""
        for _, load in LAZY:
            self._route(load)

    def _route(self, load: Callable[[], APIRouter]) -> None:
        with self._lock:
            if load not in self._routed:
                self.app.include_router(load())
                self._routed.add(load)


class LazyRoutes:
    """Pure ASGI middleware, innermost: routes the lazy router a request needs before FastAPI routes it."""

    def __init__(self, app: Any, routers: LazyRouters) -> None:
        self.app = app
        self.routers = routers

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            self.routers.route_for(scope["path"])
        await self.app(scope, receive, send)
