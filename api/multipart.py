"""Multipart bodies read with a size limit enforced while they stream, never after they are spooled."""

from __future__ import annotations

from typing import AsyncIterator

from fastapi import Request
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from simulator.errors import BadRequestError, PayloadTooLargeError

__all__ = ["read_form", "OVERHEAD"]

# Multipart framing allowed on top of the payload limit.
OVERHEAD = 1024 * 1024


async def _limited(stream: AsyncIterator[bytes], limit: int, too_large: PayloadTooLargeError) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in stream:
        seen += len(chunk)
        if seen > limit:
            raise too_large
        yield chunk


async def read_form(request: Request, *, limit: int, too_large: PayloadTooLargeError, param: str,
                    expected: str) -> FormData:
    """The form of a multipart request; 413 as soon as the body passes `limit` + framing (declared or streamed)."""
    ceiling = limit + OVERHEAD
    length = request.headers.get("content-length")
    if length and length.isdigit() and int(length) > ceiling:
        raise too_large  # refused unread
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequestError(f"Expected a multipart/form-data body with {expected}.", param=param)
    parser = MultiPartParser(request.headers, _limited(request.stream(), ceiling, too_large), max_files=1,
                             max_fields=10)
    try:
        return await parser.parse()
    except PayloadTooLargeError:
        raise
    except (MultiPartException, ValueError, UnicodeDecodeError) as exc:  # malformed multipart bodies
        raise BadRequestError(f"Could not parse the multipart body: {exc}", param=param) from None
