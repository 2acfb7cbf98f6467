"""JSON request bodies read strictly: what is not standard JSON, or nests too deeply, is refused as unparseable.

Python's `json` reads `NaN`, `Infinity` and `-Infinity`, and turns a number beyond a float's range (`1e400`) into
infinity: none of them is JSON (RFC 8259 has no such values), and once stored in a document they make SQLite's
JSON functions see the database as malformed, for every tenant. Nesting is bounded so that no handler, nor
pydantic's serializer echoing a value back, meets its recursion limit (10^5 levels raise RecursionError deep in
the decoder). Each of these is answered like any other body that is not JSON: 400 with the live "We could not
parse the JSON body" message (api/http/errors.py `BAD_JSON`).

A body is also bounded in size (`MAX_BODY_BYTES`): refused with a 413 as soon as it is declared or read past it,
before it is held whole in memory (multipart uploads stream with their own limits, api/http/multipart.py).

`JSONRoute` (api/http/json_route.py), the route class of every router that takes a JSON body, reads bodies with
`StrictJSONRequest`; the fast lane (api/http/fast_lane.py), the middleware that reads a body before the routes do
(api/http/azure.py) and the ARM router use `read_body` and `loads`. This module imports no FastAPI.
"""

from __future__ import annotations

import json
import math
from contextlib import aclosing
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from ftsim.pricing.dataset.reader import nested_deeper_than

__all__ = ["MAX_DEPTH", "MAX_BODY_BYTES", "BodyTooLarge", "loads", "read_body", "StrictJSONRequest"]

# Nesting levels (objects and arrays) a request body may have. The live limit is not published; 200 is the depth
# ftsim's dataset reader allows a training example (pricing/dataset/reader.py), and leaves room below pydantic's
# serializer limit (~255 levels) for an answer that echoes a body's value one or two levels down (a Response's
# `text.format.schema`, a job's grader).
MAX_DEPTH = 200
# Bytes a JSON body may have. The live limit is not published; OpenAI's vision guide allows 50 MB of images per
# request, which a JSON body carries base64-encoded: 64 MB (an upload part's limit) takes that, and no more.
MAX_BODY_BYTES = 64 * 1024 * 1024


class BodyTooLarge(HTTPException):
    """413 (answered in OpenAI's envelope by api/http/errors.py; FastAPI lets an HTTPException through its body
    reading, where any other exception would become a generic 400)."""

    def __init__(self) -> None:
        super().__init__(413, f"The request body is too large: the limit is {MAX_BODY_BYTES} bytes.")


async def read_body(headers: Any, chunks: Any) -> bytes:
    """The whole body from an async iterator of chunks; `BodyTooLarge` once its declared or read size passes
    `MAX_BODY_BYTES` (nothing more is read)."""
    length = headers.get("content-length")
    if length and length.isascii() and length.isdigit() and (len(length) > 18 or int(length) > MAX_BODY_BYTES):
        raise BodyTooLarge()
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise BodyTooLarge()
        parts.append(chunk)
    return b"".join(parts)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def loads(raw: bytes | str) -> Any:
    """The JSON value of a request body; `json.JSONDecodeError` for anything that is not strict JSON of at most
    `MAX_DEPTH` levels (the one error FastAPI answers as an unparseable body)."""
    try:
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except json.JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:  # NaN, 1e400, a 5,000-digit int, bad UTF-8, 10^5 levels
        raise json.JSONDecodeError(str(exc) or type(exc).__name__, "", 0) from None
    if isinstance(value, (dict, list)):
        if isinstance(raw, str):
            brackets = raw.count("{") + raw.count("[")
        else:
            brackets = raw.count(b"{") + raw.count(b"[")
        if brackets > MAX_DEPTH and nested_deeper_than(value, MAX_DEPTH):  # fewer brackets than that cannot nest deeper
            raise json.JSONDecodeError(f"nested more than {MAX_DEPTH} levels deep", "", 0)
    return value


class StrictJSONRequest(Request):
    """A request whose `body()` is bounded (`read_body`) and whose `json()` is `loads`."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            async with aclosing(self.stream()) as stream:
                self._body = await read_body(self.headers, stream)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = loads(await self.body())
        return self._json
