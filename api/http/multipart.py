"""Multipart bodies parsed as they stream: the one file part goes straight into a sink, never held in memory.

`read_form` pulls the ASGI body, refuses it (413) as soon as it passes the limit, and writes the bytes of the
file field into the sink the route opened (a store spool, one write per chunk, no second copy). Other parts are
small text fields. Anything malformed is a 400 in OpenAI's envelope; on any error the sink is discarded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Mapping, Protocol, TypeVar
from urllib.parse import unquote

from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError

__all__ = ["read_form", "read_upload", "finish", "commit", "store_upload", "Form", "Sink", "OVERHEAD", "MAX_FIELDS", "MAX_FIELD_BYTES", "INLINE_BYTES"]

T = TypeVar("T")

# Multipart framing allowed on top of the payload limit.
OVERHEAD = 1024 * 1024
MAX_FIELDS = 10
MAX_FIELD_BYTES = 1024 * 1024
MAX_HEADER_BYTES = 16 * 1024
# A file part up to this size is flushed to disk on the event loop (tens of microseconds); a bigger one in a worker
# thread, whose hand-off costs more than a small flush.
INLINE_BYTES = 1024 * 1024

_PARAM = re.compile(r';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_ESCAPE = re.compile(r'\\([\\"])')  # only \\ and \" are escapes: a Windows path keeps its separators


class Sink(Protocol):
    """Where the file part's bytes go (a store spool)."""

    size: int

    def write(self, chunk: bytes) -> None:
        """Append bytes (may raise the too-large error)."""

    def finish(self) -> tuple[Path, int]:
        """Flush to disk and close; (path, size)."""

    def discard(self) -> None:
        """Drop everything written."""


@dataclass
class Form:
    """A parsed form: text fields (last value wins) and the file part, if any, already in its sink."""

    fields: dict[str, str] = field(default_factory=dict)
    file: Sink | None = None
    filename: str | None = None

    def discard(self) -> None:
        """Drop the file part's bytes (a no-op once the route adopted them)."""
        if self.file is not None:
            self.file.discard()


class _Malformed(Exception):
    pass


def _options(value: str) -> tuple[str, dict[str, str]]:
    """`form-data; name="x"; filename="y"` as ("form-data", {"name": "x", "filename": "y"})."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    for key, raw in _PARAM.findall(";" + rest):
        raw = raw.strip()
        if len(raw) >= 2 and raw[0] == raw[-1] == '"':
            raw = _ESCAPE.sub(r"\1", raw[1:-1])
        params[key.lower()] = raw
    star = params.pop("filename*", None)
    if star is not None:  # RFC 5987: charset'language'percent-encoded
        charset, _, rest = star.partition("'")
        _, _, encoded = rest.partition("'")
        try:
            params["filename"] = unquote(encoded, encoding=charset or "utf-8", errors="strict")
        except (LookupError, ValueError):  # unknown charset, undecodable bytes, a NUL in the charset name
            raise _Malformed("invalid filename* parameter") from None
    return head.strip().lower(), params


def _decode(raw: bytes) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _part_headers(block: bytes) -> tuple[str, str | None]:
    """The part's (name, filename) from its header block."""
    disposition = None
    for line in block.split(b"\r\n"):
        key, sep, value = line.partition(b":")
        if not sep:
            raise _Malformed("a part header line has no ':'")
        if key.strip().lower() == b"content-disposition":
            disposition = _decode(value.strip())
    if disposition is None:
        raise _Malformed("a part has no Content-Disposition header")
    kind, params = _options(disposition)
    if kind != "form-data" or "name" not in params:
        raise _Malformed("a part's Content-Disposition is not form-data with a name")
    return params["name"], params.get("filename")


class _Parser:
    """The multipart state machine, fed chunk by chunk."""

    def __init__(self, boundary: bytes, file_field: str, open_sink: Callable[[], Sink]) -> None:
        self.delimiter = b"\r\n--" + boundary
        self.state = "preamble"
        self.buffer = b"\r\n"  # so that a boundary on the very first line is found like any other
        self.file_field = file_field
        self.open_sink = open_sink
        self.form = Form()
        self.fields = 0
        self.value: bytearray | None = None  # the text field being read
        self.name = ""
        self.target: Sink | None = None  # or the file part being read
        self.searched = 0  # how far the current header block has been searched for its end

    def feed(self, chunk: bytes) -> None:
        """Consume a chunk."""
        self.buffer = self.buffer + chunk if self.buffer else chunk
        while self._step():
            pass

    def close(self) -> Form:
        """The form, once the body has ended (malformed if the closing boundary never came)."""
        if self.state != "end":
            raise _Malformed("the body ended before the closing boundary")
        return self.form

    def _step(self) -> bool:
        buf = self.buffer
        if self.state == "preamble":
            at = buf.find(self.delimiter)
            if at < 0:
                self.buffer = buf[-(len(self.delimiter) - 1):]
                return False
            self.buffer = buf[at + len(self.delimiter):]
            self.state = "after_boundary"
            return True
        if self.state == "after_boundary":
            line_end = buf.find(b"\r\n")
            if buf[:2] == b"--":
                self.state, self.buffer = "end", b""
                return False
            if line_end < 0:
                if len(buf) > 65:  # 64 bytes of padding and a CR, and still no LF
                    raise _Malformed("a boundary line is not followed by CRLF")
                return False
            if line_end > 64 or buf[:line_end].strip(b" \t"):
                raise _Malformed("a boundary line is not followed by CRLF")
            self.buffer = buf[line_end + 2:]
            self.state, self.searched = "headers", 0
            return True
        if self.state == "headers":
            end = buf.find(b"\r\n\r\n", self.searched)
            if end < 0:
                self.searched = max(0, len(buf) - 3)  # tiny chunks: never search the same bytes twice
                if buf.startswith(b"\r\n"):  # a part with no headers at all
                    raise _Malformed("a part has no Content-Disposition header")
                if len(buf) > MAX_HEADER_BYTES + 3:  # and still not ended by CRLF CRLF
                    raise _Malformed("a part's headers are too long")
                return False
            if end > MAX_HEADER_BYTES:
                raise _Malformed("a part's headers are too long")
            self._begin(buf[:end])
            self.buffer = buf[end + 4:]
            self.state = "body"
            return True
        if self.state == "body":
            at = buf.find(self.delimiter)
            if at < 0:
                keep = len(self.delimiter) - 1
                if len(buf) > keep:
                    self._data(buf[:-keep])
                    self.buffer = buf[-keep:]
                return False
            self._data(buf[:at])
            self._end()
            self.buffer = buf[at + len(self.delimiter):]
            self.state = "after_boundary"
            return True
        self.buffer = b""  # epilogue after the closing boundary: ignored
        return False

    def _begin(self, block: bytes) -> None:
        name, filename = _part_headers(block)
        self.name = name
        if name == self.file_field:
            if self.form.file is not None:
                raise _Malformed(f"more than one '{name}' part")
            self.form.file = self.target = self.open_sink()
            self.form.filename = filename
            return
        self.fields += 1
        if self.fields > MAX_FIELDS:
            raise _Malformed(f"too many fields (the maximum is {MAX_FIELDS})")
        self.value = bytearray() if filename is None else None  # another file part: read and dropped

    def _data(self, data: bytes) -> None:
        if not data:
            return
        if self.target is not None:
            self.target.write(data)
        elif self.value is not None:
            if len(self.value) + len(data) > MAX_FIELD_BYTES:
                raise _Malformed(f"field '{self.name}' is over {MAX_FIELD_BYTES} bytes")
            self.value += data

    def _end(self) -> None:
        if self.value is not None:
            try:
                self.form.fields[self.name] = self.value.decode()
            except UnicodeDecodeError:
                raise _Malformed(f"field '{self.name}' is not UTF-8") from None
        self.value = self.target = None


def _boundary(content_type: str) -> bytes | None:
    try:
        kind, params = _options(content_type)
    except _Malformed:
        return None
    boundary = params.get("boundary", "")
    if kind != "multipart/form-data" or not 0 < len(boundary) <= 200:
        return None
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        return None


async def read_form(
    headers: Mapping[str, str],
    body: AsyncIterator[bytes],
    *,
    file_field: str,
    open_sink: Callable[[], Sink],
    limit: int,
    too_large: PayloadTooLargeError,
    expected: str,
) -> Form:
    """The form of a multipart request, its `file_field` part streamed into a sink from `open_sink`.

    413 as soon as the body passes `limit` + framing (declared or streamed); 400 for a body that is not
    multipart/form-data or is malformed. Nothing is left in a sink when an error is raised.
    """
    ceiling = limit + OVERHEAD
    length = headers.get("content-length")
    if length and length.isascii() and length.isdigit() and (len(length) > 18 or int(length) > ceiling):
        raise too_large  # refused unread
    boundary = _boundary(headers.get("content-type", ""))
    if boundary is None:
        raise BadRequestError(f"Expected a multipart/form-data body with {expected}.", param=file_field)
    parser = _Parser(boundary, file_field, open_sink)
    seen = 0
    try:
        async for chunk in body:
            seen += len(chunk)
            if seen > ceiling:
                raise too_large
            parser.feed(chunk)
        return parser.close()
    except _Malformed as exc:
        parser.form.discard()
        raise BadRequestError(f"Could not parse the multipart body: {exc}.", param=file_field) from None
    except ClientDisconnect:  # nobody to answer: a plain 400, not an unexpected error with a traceback in the log
        parser.form.discard()
        raise BadRequestError("The client disconnected before the body was complete.", param=file_field) from None
    except BaseException:
        parser.form.discard()
        raise


async def finish(sink: Sink) -> tuple[Path, int]:
    """Flush the file part to disk; (path, size). On the event loop when it is small and not fsynced (microseconds),
    in a worker thread otherwise, so that no request waits on the disk for another."""
    if sink.size <= INLINE_BYTES and not getattr(sink, "syncs", False):
        return sink.finish()
    return await run_in_threadpool(sink.finish)


async def commit(durability: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run the call that commits an upload: on the event loop by default, in a worker thread under full durability
    (its synchronous commit waits on the disk)."""
    if durability == "full":
        return await run_in_threadpool(call, *args, **kwargs)
    return call(*args, **kwargs)


async def read_upload(request: Any, store: Any, tenant_key: str, *, file_field: str, limit: int,
                      too_large: PayloadTooLargeError, prefix: str, expected: str) -> Form:
    """`read_form` of a request whose file part streams into a store spool beside the tenant's blobs."""
    return await read_form(
        request.headers, request.stream(), file_field=file_field, limit=limit, too_large=too_large, expected=expected,
        open_sink=lambda: store.spool_file(tenant_key, prefix=prefix, limit=limit, too_large=too_large),
    )


async def store_upload(form: Form, durability: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Flush the form's file part (`finish`) and hand it to the committing `call` as path= and size= (`commit`)."""
    if form.file is None:  # the routes answer 400 for a form without its file part before they get here
        raise ValueError("store_upload needs a form with its file part")
    path, size = await finish(form.file)
    return await commit(durability, call, *args, path=path, size=size, **kwargs)
