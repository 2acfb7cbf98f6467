"""Typed errors of the simulator, each rendered as OpenAI's error envelope.

    SimulatorError                      (status, type, code, param, message)
     ├── BadRequestError        400    invalid_request_error (wrong state, bad params, bad ids at create)
     ├── AuthenticationError    401    invalid_api_key
     ├── PermissionDeniedError  403    e.g. deleting a model you do not own
     ├── NotFoundError          404    unknown object, or another tenant's (never distinguishable)
     ├── PayloadTooLargeError   413    body or upload over its limit
     ├── RateLimitError         429    simultaneous-job limit, injected faults
     └── InternalServerError    500    injected faults only; real bugs must never reach a client as 500

Never use 409 for a wrong-state action: the SDK retries 409.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "SimulatorError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitError",
    "InternalServerError",
    "ServiceUnavailableError",
]


class SimulatorError(Exception):
    """Base class: carries everything the error envelope needs."""

    status_code: int = 400
    type: str = "invalid_request_error"
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        if type is not None:
            self.type = type
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body, exactly OpenAI's envelope."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


class BadRequestError(SimulatorError):
    """400: bad parameters, an action from the wrong state, unknown ids at create."""

    status_code = 400


class AuthenticationError(SimulatorError):
    """401: no key, or a malformed one."""

    status_code = 401
    code = "invalid_api_key"


class PermissionDeniedError(SimulatorError):
    """403: e.g. deleting a model the tenant does not own."""

    status_code = 403


class NotFoundError(SimulatorError):
    """404: unknown, deleted, or another tenant's object (indistinguishable)."""

    status_code = 404


class PayloadTooLargeError(SimulatorError):
    """413: a body or upload over its limit."""

    status_code = 413


class RateLimitError(SimulatorError):
    """429: the simultaneous-job limit, or an injected fault."""

    status_code = 429
    code = "rate_limit_exceeded"


class InternalServerError(SimulatorError):
    """500: injected faults only."""

    status_code = 500
    type = "server_error"


class ServiceUnavailableError(SimulatorError):
    """503: injected faults, or a missing tokenizer at inference."""

    status_code = 503
    type = "server_error"
