"""Exception handlers: every error leaves the server as OpenAI's envelope with the live status.

- `SimulatorError` → its own status, type, code and param.
- Request validation (FastAPI's 422) → 400 `invalid_request_error`: the SDK must see BadRequestError.
- Unknown route → 404 "Invalid URL (METHOD /path)"; wrong method → 405, same envelope.
- A storage fault (disk full, read-only or deleted database, corrupt page, I/O error) → 503 `server_error`,
  logged in one line: nothing of the request was saved, and the client may retry once the storage is fixed.
- Anything else → 500 `server_error`: a bug in ftsim, logged with its traceback, never shown to the client.

`ErrorMiddleware` (installed just inside the x-request-id middleware) answers every exception that escapes the
app, fast lane included, so that 500s and 503s carry `x-request-id` and the keep-alive connection stays usable.
FastAPI's own handlers (api/http/routed.py) answer with the envelopes built here; this module imports no FastAPI.
"""

from __future__ import annotations

import errno
import logging

from starlette.responses import JSONResponse

from ftsim.simulator.core.errors import SimulatorError
from ftsim.simulator.core.store import storage_fault

__all__ = ["BAD_JSON", "envelope", "simulator_error_response", "unexpected_error_response", "validation_error_response", "ErrorMiddleware"]

# OSError numbers that mean the disk, not ftsim, failed (a spool or a blob being written)
_DISK_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EFBIG}
STORAGE_MESSAGE = (
    "The simulator cannot store anything right now: {reason}. Nothing of this request was saved. Retry once the "
    "storage is fixed (on a full disk, deleting files frees space)."
)

log = logging.getLogger("ftsim")

BAD_JSON = (
    "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP "
    "library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
)


def envelope(status: int, message: str, *, type: str = "invalid_request_error", param=None, code=None, headers=None):
    """A JSONResponse holding OpenAI's error envelope."""
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


def simulator_error_response(exc: SimulatorError) -> JSONResponse:
    """The envelope of a simulator error, with its status and headers."""
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers or None)


def _param(loc: tuple) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "form")]
    return ".".join(parts) or None


def _validation_message(err: dict) -> str:
    param = _param(tuple(err.get("loc", ()))) or "body"
    kind = err.get("type", "")
    if kind == "missing":
        return f"Missing required parameter: '{param}'."
    if kind == "extra_forbidden":
        return f"Unrecognized request argument supplied: {param}"
    return f"Invalid value for '{param}': {err.get('msg', 'invalid')}."


def validation_error_response(errors: list) -> JSONResponse:
    """The 400 for a request FastAPI could not validate (`errors`, pydantic's): an unparseable body, or the first
    invalid or missing parameter."""
    if any(e.get("type") == "json_invalid" for e in errors):
        return envelope(400, BAD_JSON)
    first = errors[0] if errors else {}
    return envelope(400, _validation_message(first), param=_param(tuple(first.get("loc", ()))))


def unexpected_error_response(method: str, path: str, exc: BaseException, request_id: str | None = None):
    """503 for a storage fault (one log line), else 500 (logged with its traceback)."""
    fault = storage_fault(exc)
    reason = str(fault) if fault is not None else None
    if reason is None and isinstance(exc, OSError) and exc.errno in _DISK_ERRNOS:
        reason = f"the disk refused a write ({exc.strerror})"
    if reason is not None:
        log.error("storage fault on %s %s (request %s): %s", method, path, request_id or "-", reason)
        return envelope(503, STORAGE_MESSAGE.format(reason=reason), type="server_error")
    log.error("unexpected error on %s %s (request %s)", method, path, request_id or "-", exc_info=exc)
    return envelope(500, "The server had an error while processing your request.", type="server_error")


class ErrorMiddleware:
    """Pure ASGI middleware: any exception escaping the app becomes the envelope (500, or 503 for storage faults)
    sent as an ordinary response, so it keeps its x-request-id and the connection stays open. An exception after
    the response started can only end that response: it is re-raised for the server to log."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def tracking_send(message):
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            request_id = (scope.get("state") or {}).get("request_id")
            response = unexpected_error_response(scope.get("method", "?"), scope.get("path", "?"), exc, request_id)
            await response(scope, receive, send)
