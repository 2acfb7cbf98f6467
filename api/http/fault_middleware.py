"""Pure ASGI middleware that applies the backend's fault rules (simulator/core/faults.py) to every request.

Installed by `create_app`, so server mode and the in-process test kit honour the same rules. Latency is real
time (`anyio.sleep`) and never moves the simulated clock; an injected error answers OpenAI's envelope without
reaching the API (the request body is left unread). Paths under /_sim are never faulted.
"""

from __future__ import annotations

import json
from typing import Any

import anyio

from ftsim.api.http.deps import bearer_key

__all__ = ["FaultMiddleware"]


def _bearer(scope) -> str | None:
    """The request's Bearer key, for rules scoped to a tenant."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return bearer_key(value.decode("latin-1"))
    return None


class FaultMiddleware:
    """Injects the latency and errors that `backend.faults.on_request` decides."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        app = scope.get("app")
        backend = getattr(getattr(app, "state", None), "backend", None)
        faults = getattr(backend, "faults", None)
        azure = (scope.get("state") or {}).get("azure_tenant")  # set by api/http/azure.py on an Azure request
        decision = None
        if faults is not None:
            decision = faults.on_request(scope["method"], scope["path"], _bearer(scope),
                                         tenant_key=azure.key if azure is not None else None)
        if decision is None:
            return await self.app(scope, receive, send)
        if decision.latency_ms:
            await anyio.sleep(decision.latency_ms / 1000)
        if decision.status is None:
            return await self.app(scope, receive, send)
        body = json.dumps(decision.body).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        headers += [(k.encode(), v.encode()) for k, v in decision.headers.items()]
        await send({"type": "http.response.start", "status": decision.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})
