"""The request journal of the in-process test kit: a pure ASGI middleware recording every request.

Each entry holds the method, path, query, final status (injected faults included), tenant (org id, when the
request carried a Bearer key), the simulated time at which the request arrived, and its x-request-id.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from pydantic import BaseModel

__all__ = ["JournalEntry", "Journal", "JournalMiddleware"]


class JournalEntry(BaseModel):
    """One request as the simulator saw it."""

    method: str
    path: str
    query: str
    status: int
    tenant: Optional[str]
    time: int
    request_id: Optional[str] = None


class Journal:
    """A thread-safe, append-only list of entries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[JournalEntry] = []

    def append(self, entry: JournalEntry) -> None:
        """Record one request."""
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[JournalEntry]:
        """A copy of every entry, oldest first."""
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()


def _tenant(scope: dict, backend: Any) -> Optional[str]:
    tenant = (scope.get("state") or {}).get("tenant")
    if tenant is not None:
        return tenant.key
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, key = value.decode("latin-1").partition(" ")
            key = key.strip()
            if scheme.lower() == "bearer" and key and backend is not None:
                return backend.tenant(key).key
    return None


class JournalMiddleware:
    """Appends a JournalEntry to `journal` for every HTTP request."""

    def __init__(self, app: Any, journal: Journal) -> None:
        self.app = app
        self.journal = journal

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        backend = getattr(getattr(scope.get("app"), "state", None), "backend", None)
        at = backend.now() if backend is not None else 0
        seen: dict[str, Any] = {"status": 500, "request_id": None}

        async def recording_send(message):
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"x-request-id":
                        seen["request_id"] = value.decode("latin-1")
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.journal.append(
                JournalEntry(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    status=seen["status"],
                    tenant=_tenant(scope, backend),
                    time=at,
                    request_id=seen["request_id"],
                )
            )
