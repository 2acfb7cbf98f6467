"""The route class of every router that takes a JSON body: strict, bounded bodies (api/http/json_body.py)."""

from __future__ import annotations

from typing import Any, Callable, Coroutine

from fastapi import Request, Response
from fastapi.routing import APIRoute

from ftsim.api.http.deps import authenticate, require_tenant
from ftsim.api.http.json_body import StrictJSONRequest

__all__ = ["JSONRoute"]


class JSONRoute(APIRoute):
    """A route whose JSON body is read by `read_body` and `loads` (FastAPI answers their errors as a 413 and an
    unparseable body). A route that needs the caller's key checks it first: FastAPI reads the body before it
    solves dependencies, so a keyless request with a bad body was a 400 (and its body read whole) where the live
    API answers 401."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        keyed = self.body_field is not None and any(dep.call is require_tenant for dep in self.dependant.dependencies)

        async def strict(request: Request) -> Response:
            request = StrictJSONRequest(request.scope, request.receive, request._send)
            if keyed:
                authenticate(request)
            return await handler(request)

        return strict
