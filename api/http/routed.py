"""FastAPI's part of an app: every route, their validation and the handlers that keep errors in OpenAI's envelope.

The routes are built once a process (`routed_app`: one with the console, one without) and each app serves them
through a copy of its own (`serve`), whose state is the app's. An app (api/http/app.py) calls on FastAPI only for
the requests its fast lane leaves (api/http/fast_lane.py), so that a process whose tests only upload, create jobs
and poll never imports this module (issue 11). Its own middlewares (x-request-id, errors, faults, Azure's dialect)
stay outside, in the app.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import State
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.types import ASGIApp

from ftsim._version import __version__
from ftsim.api.http.errors import envelope, simulator_error_response, validation_error_response
from ftsim.api.http.lazy_routes import LazyRouters, LazyRoutes
from ftsim.api.http.routers import checkpoints, files, fine_tuning_jobs, models, uploads
from ftsim.simulator.core.errors import SimulatorError

__all__ = ["routed_app", "serve"]


class _Routes(FastAPI):
    """FastAPI without its outermost server-error middleware: it answers an unexpected exception with a response of
    its own and then raises it again, so the app's `ErrorMiddleware` (api/http/errors.py), which answers it with
    the envelope and the request's x-request-id, would find a response already started."""

    def build_middleware_stack(self) -> ASGIApp:
        stack = super().build_middleware_stack()
        return stack.app if isinstance(stack, ServerErrorMiddleware) else stack


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that keep FastAPI's errors in OpenAI's envelope (anything unexpected goes on to the
    app's `ErrorMiddleware`)."""

    @app.exception_handler(SimulatorError)
    async def _simulator_error(_: Request, exc: SimulatorError):
        return simulator_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_: Request, exc: RequestValidationError):
        return validation_error_response(list(exc.errors()))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 404:
            return envelope(404, f"Invalid URL ({request.method} {request.url.path})")
        if exc.status_code == 405:
            return envelope(405, f"Invalid method for URL ({request.method} {request.url.path})")
        return envelope(exc.status_code, str(exc.detail))


_BUILDING = threading.Lock()  # apps of several threads (a Simulator each) may ask for the routes at once


def routed_app(console: bool = True) -> tuple[FastAPI, LazyRouters]:
    """The routes and error handlers every app serves (no backend, no middleware): built once a process (one with
    the console, one without), with the rarely used routers it routes on their first request."""
    with _BUILDING:  # `functools.cache` alone let two threads build a set each (apps then shared no router)
        return _routed_app(console)


@functools.cache
def _routed_app(console: bool) -> tuple[FastAPI, LazyRouters]:
    # /docs, /redoc: the console's offline copies. redirect_slashes=False: `/v1/files/` is an unknown URL (404
    # envelope), not a 307 without a body, whose Location on an Azure path (/openai/v1/files/) named the OpenAI path
    app = _Routes(title="ftsim", version=__version__, docs_url=None, redoc_url=None, redirect_slashes=False)
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


def serve(state: State, console: bool) -> FastAPI:
    """FastAPI serving the shared routes to one app, with the app's `state` (its backend, its sim key)."""
    routed, lazy = routed_app(console)
    # A shallow copy of the app built once a process, sharing its router: FastAPI works out a route's dependencies
    # and validators on the first request that reaches it, once per router, which cost a test-kit Simulator ~15 ms
    # a test when every app had a router of its own. Per app: state, middleware stack.
    app = copy.copy(routed)
    app.state = state
    app.user_middleware = list(app.user_middleware)
    app.middleware_stack = None
    if lazy.pending:  # innermost: it routes what FastAPI is about to look for (a server has routed everything)
        app.add_middleware(LazyRoutes, routers=lazy)
    return app
