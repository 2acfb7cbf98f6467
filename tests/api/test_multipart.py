"""The streaming multipart parser (api/http/multipart.py): round trips, a differential check, chunking, errors,
limits."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from python_multipart.multipart import MultipartParser, parse_options_header

from ftsim.api.http.multipart import (
    INLINE_BYTES,
    MAX_FIELD_BYTES,
    MAX_FIELDS,
    OVERHEAD,
    Form,
    commit,
    finish,
    read_form,
)
from ftsim.simulator.core.errors import BadRequestError, PayloadTooLargeError

FILE = "file"
BIG_LIMIT = 4 * 1024 * 1024
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FEWER = settings(SETTINGS, max_examples=75)


class FakeSink:
    """An in-memory sink that records what happened to it."""

    def __init__(self, limit: int | None = None, too_large: Exception | None = None) -> None:
        self.data = bytearray()
        self.size = 0
        self.discarded = False
        self.finished = False
        self.finish_thread: int | None = None
        self._limit = limit
        self._too_large = too_large

    def write(self, chunk: bytes) -> None:
        """Append bytes; refuses past the limit like the store's Spool."""
        assert not self.discarded and not self.finished, "write after discard/finish"
        self.size += len(chunk)
        if self._limit is not None and self.size > self._limit:
            self.discard()
            raise self._too_large or AssertionError("no too_large given")
        self.data += chunk

    def finish(self) -> tuple[Path, int]:
        """Mark finished; a (path, size) unique to this sink."""
        self.finished = True
        self.finish_thread = threading.get_ident()
        return Path(f"/fake/{id(self)}"), self.size

    def discard(self) -> None:
        """Drop the bytes."""
        self.discarded = True
        self.data.clear()


class Harness:
    """Drives read_form over given chunks, recording sinks opened and chunks pulled."""

    def __init__(self, sink_limit: int | None = None) -> None:
        self.sinks: list[FakeSink] = []
        self.pulled = 0
        self.too_large = PayloadTooLargeError("too large", param=FILE)
        self.sink_limit = sink_limit

    def open_sink(self) -> FakeSink:
        sink = FakeSink(self.sink_limit, self.too_large)
        self.sinks.append(sink)
        return sink

    async def _body(self, chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
        for chunk in chunks:
            self.pulled += 1
            yield chunk

    def run(self, content_type: str, chunks: Iterable[bytes], *, limit: int = BIG_LIMIT,
            content_length: str | None = None) -> Form:
        headers = {"content-type": content_type}
        if content_length is not None:
            headers["content-length"] = content_length
        return asyncio.run(read_form(headers, self._body(chunks), file_field=FILE, open_sink=self.open_sink,
                                     limit=limit, too_large=self.too_large, expected="'file' and 'purpose'"))

    def outcome(self, content_type: str, chunks: Iterable[bytes], **kw: object) -> tuple:
        """('ok', fields, file bytes or None, filename) or ('error', type); checks the sink bookkeeping."""
        try:
            form = self.run(content_type, chunks, **kw)  # type: ignore[arg-type]
        except (BadRequestError, PayloadTooLargeError) as exc:
            if isinstance(exc, PayloadTooLargeError):
                assert exc is self.too_large
            assert all(s.discarded for s in self.sinks), "a sink was left undiscarded after an error"
            return ("error", type(exc))
        assert len(self.sinks) == (0 if form.file is None else 1)
        assert not any(s.discarded for s in self.sinks)
        data = None if form.file is None else bytes(form.file.data)  # type: ignore[attr-defined]
        return ("ok", form.fields, data, form.filename)


def split(body: bytes, sizes: list[int]) -> list[bytes]:
    """Cut the body at the given sizes (0 gives an empty chunk, as Starlette sends at the end); the rest last."""
    chunks, at = [], 0
    for size in sizes:
        chunks.append(body[at:at + size])
        at += size
    chunks.append(body[at:])
    return chunks


def ctype(boundary: str) -> str:
    return f'multipart/form-data; boundary="{boundary}"'


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def part(name: str, data: bytes, filename: str | None = None, extra: bytes = b"") -> bytes:
    """One part (headers + blank line + data), without the delimiter around it."""
    disposition = f"form-data; name={quote(name)}" + ("" if filename is None else f"; filename={quote(filename)}")
    return b"Content-Disposition: " + disposition.encode() + b"\r\n" + extra + b"\r\n" + data


def encode(boundary: str, parts: list[bytes], *, padding: bytes = b"", preamble: bytes = b"",
           epilogue: bytes = b"\r\n") -> bytes:
    """A multipart body from parts (a preamble, when given, is followed by CRLF as RFC 2046 asks)."""
    b = boundary.encode()
    out = preamble + b"\r\n" if preamble else b""
    for p in parts:
        out += b"--" + b + padding + b"\r\n" + p + b"\r\n"
    return out + b"--" + b + b"--" + epilogue


# ---------------------------------------------------------------------------------------------- strategies

BOUNDARY = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'()+_,-./:=?", min_size=1,
                   max_size=70)
# Anything but CR and LF (which cannot appear in a header): quotes and backslashes are escaped by `quote`.
HEADER_TEXT = st.text(st.characters(exclude_characters="\r\n", exclude_categories=("Cs",)), max_size=12)
NAME = HEADER_TEXT.filter(lambda n: n != FILE)


def tricky(boundary: str, base: st.SearchStrategy) -> st.SearchStrategy:
    """Pieces of content that look like framing: CRLF, dashes, and prefixes of the delimiter."""
    delimiter = "\r\n--" + boundary
    prefixes = [delimiter[:k] for k in range(1, len(delimiter))] + ["--" + boundary, "\r\n\r\n", "--", "\r\n"]
    return st.one_of(base, st.sampled_from(prefixes))


@st.composite
def forms(draw: st.DrawFn, *, with_padding: bool = True) -> dict:
    """A random form: text fields, maybe one file part, a boundary that occurs in none of them."""
    boundary = draw(BOUNDARY)
    delimiter = ("\r\n--" + boundary).encode()
    values = st.lists(tricky(boundary, st.text(max_size=10)), max_size=6).map("".join)
    fields = draw(st.lists(st.tuples(NAME, values), max_size=MAX_FIELDS - 1))
    has_file = draw(st.booleans()) or not fields
    payload = draw(st.lists(tricky(boundary, st.text(max_size=4)).map(str.encode) | st.binary(max_size=30),
                            max_size=12).map(b"".join))
    filename = draw(HEADER_TEXT)
    for _, value in fields:
        assume(delimiter not in value.encode())
    assume(delimiter not in payload)
    position = draw(st.integers(0, len(fields)))
    return {"boundary": boundary, "fields": fields, "payload": payload if has_file else None,
            "filename": filename if has_file else None, "position": position,
            "padding": draw(st.sampled_from([b"", b" ", b"\t \t"])) if with_padding else b""}


def own_body(form: dict) -> bytes:
    parts = [part(n, v.encode(), extra=b"Content-Type: text/plain; charset=utf-8\r\n") for n, v in form["fields"]]
    if form["payload"] is not None:
        parts.insert(form["position"], part(FILE, form["payload"], form["filename"],
                                            extra=b"content-type: application/octet-stream\r\n"))
    return encode(form["boundary"], parts, padding=form["padding"])


# httpx percent-encodes '"' and control characters itself (HTML5 style), which a server does not undo.
HTTPX_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters='"'), max_size=12)


def httpx_body(fields: list[tuple[str, str]], payload: bytes, filename: str, boundary: str) -> tuple[str, bytes]:
    request = httpx.Request("POST", "http://x", data=dict(fields), files={FILE: (filename, payload)},
                            headers={"content-type": f"multipart/form-data; boundary={boundary}"})
    return request.headers["content-type"], request.read()


def expected(form: dict) -> tuple:
    return ("ok", dict(form["fields"]), form["payload"], form["filename"])


def chunkings() -> st.SearchStrategy[list[int]]:
    return st.one_of(st.just([1] * 4000), st.lists(st.integers(0, 48), max_size=40))


# ---------------------------------------------------------------------------------------------- 1. round trips

@SETTINGS
@given(form=forms(), sizes=chunkings())
def test_round_trip_own_encoder(form: dict, sizes: list[int]) -> None:
    body = own_body(form)
    assert Harness().outcome(ctype(form["boundary"]), split(body, sizes)) == expected(form)


@SETTINGS
@given(fields=st.lists(st.tuples(HTTPX_TEXT.filter(lambda n: n != FILE), st.text(max_size=40)), max_size=MAX_FIELDS - 1,
                       unique_by=lambda f: f[0]),
       payload=st.binary(max_size=200) | st.lists(st.sampled_from([b"\r\n", b"--", b"\r\n--", b"x"])).map(b"".join),
       filename=HTTPX_TEXT.filter(bool), boundary=st.text("abcdef0123456789", min_size=8, max_size=40), sizes=chunkings())
def test_round_trip_httpx_encoder(fields: list[tuple[str, str]], payload: bytes, filename: str, boundary: str,
                                  sizes: list[int]) -> None:
    delimiter = b"\r\n--" + boundary.encode()
    assume(delimiter not in payload and not any(delimiter in v.encode() for _, v in fields))
    content_type, body = httpx_body(fields, payload, filename, boundary)
    assert Harness().outcome(content_type, split(body, sizes)) == ("ok", dict(fields), payload, filename)


def test_httpx_prefix_of_its_own_boundary_in_payload() -> None:
    boundary = "0123456789abcdef"
    payload = b"\r\n--0123456789abcde\r\n--0123456789abcdeX--\r\n\r\n"
    content_type, body = httpx_body([("purpose", "fine-tune")], payload, "d.jsonl", boundary)
    for size in (1, 2, 3, 17, len(body)):
        chunks = [body[i:i + size] for i in range(0, len(body), size)]
        assert Harness().outcome(content_type, chunks) == ("ok", {"purpose": "fine-tune"}, payload, "d.jsonl")


# ---------------------------------------------------------------------------------------------- 2. differential

def reference(body: bytes, boundary: str) -> tuple:
    """python-multipart's reading of the same body, in the same shape."""
    parts: list[tuple[dict[bytes, bytes], bytes]] = []
    state: dict = {}

    def begin() -> None:
        state.update(headers={}, field=b"", value=b"", data=bytearray())

    def header_end() -> None:
        state["headers"][state["field"].lower()] = state["value"]
        state["field"] = state["value"] = b""

    def add(key: str):
        def callback(data: bytes, start: int, end: int) -> None:
            state[key] = state[key] + data[start:end]
        return callback

    def data(chunk: bytes, start: int, end: int) -> None:
        state["data"] += chunk[start:end]

    parser = MultipartParser(boundary.encode(), callbacks={
        "on_part_begin": begin, "on_header_field": add("field"), "on_header_value": add("value"),
        "on_header_end": header_end, "on_part_data": data,
        "on_part_end": lambda: parts.append((state["headers"], bytes(state["data"]))),
    })
    parser.write(body)
    parser.finalize()
    fields, payload, filename = {}, None, None
    for headers, content in parts:
        _, options = parse_options_header(headers[b"content-disposition"])
        name = options[b"name"].decode()
        if name == FILE:
            payload, filename = content, options[b"filename"].decode()
        else:
            fields[name] = content.decode()
    return ("ok", fields, payload, filename)


@FEWER
@given(form=forms(with_padding=False), sizes=chunkings())
def test_agrees_with_python_multipart(form: dict, sizes: list[int]) -> None:
    body = own_body(form)
    ours = Harness().outcome(ctype(form["boundary"]), split(body, sizes))
    theirs = reference(body, form["boundary"])
    assert ours[:3] == theirs[:3]  # field values and file bytes
    assert ours == expected(form)


@SETTINGS
@given(fields=st.lists(st.tuples(HTTPX_TEXT.filter(lambda n: n != FILE), st.text(max_size=40)),
                       max_size=MAX_FIELDS - 1),
       payload=st.binary(max_size=200), filename=HTTPX_TEXT.filter(lambda f: bool(f) and "\\" not in f), sizes=chunkings())
def test_agrees_with_python_multipart_on_httpx_bodies(fields: list[tuple[str, str]], payload: bytes, filename: str,
                                                      sizes: list[int]) -> None:
    boundary = "a6e5c0f1b2d3"
    delimiter = b"\r\n--" + boundary.encode()
    assume(delimiter not in payload and not any(delimiter in v.encode() for _, v in fields))
    content_type, body = httpx_body(fields, payload, filename, boundary)
    assert Harness().outcome(content_type, split(body, sizes)) == reference(body, boundary)


# ---------------------------------------------------------------------------------------------- 3-4. chunking, errors

@st.composite
def messy_bodies(draw: st.DrawFn) -> tuple[str, bytes]:
    """Valid bodies, mutated ones, and soups of framing fragments around one boundary."""
    form = draw(forms())
    boundary = form["boundary"]
    b = boundary.encode()
    fragments = st.sampled_from([
        b"--" + b, b"\r\n--" + b, b"\r\n--" + b + b"--", b"\r\n", b"\r\n\r\n", b"--", b" ",
        b'Content-Disposition: form-data; name="file"; filename="a.jsonl"',
        b'Content-Disposition: form-data; name="purpose"', b"Content-Disposition: attachment",
        b"\xff\xfe", b"X-Other: y",
    ])
    kind = draw(st.sampled_from(["valid", "mutated", "soup"]))
    if kind == "soup":
        return boundary, draw(st.lists(fragments | st.binary(max_size=12), max_size=25).map(b"".join))
    body = own_body(form)
    if kind == "mutated":
        for _ in range(draw(st.integers(1, 3))):
            at = draw(st.integers(0, len(body)))
            cut = draw(st.integers(0, 8))
            body = body[:at] + draw(fragments | st.binary(max_size=4)) + body[at + cut:]
    return boundary, body


@FEWER
@given(case=messy_bodies(), sizes=chunkings())
def test_chunking_does_not_change_the_outcome(case: tuple[str, bytes], sizes: list[int]) -> None:
    boundary, body = case
    whole = Harness().outcome(ctype(boundary), [body])
    assert Harness().outcome(ctype(boundary), split(body, sizes)) == whole


@FEWER
@given(case=messy_bodies(), sizes=chunkings(), sink_limit=st.none() | st.integers(0, 40))
def test_bad_bodies_raise_only_api_errors_and_discard_the_sink(case: tuple[str, bytes], sizes: list[int],
                                                              sink_limit: int | None) -> None:
    boundary, body = case
    harness = Harness(sink_limit=sink_limit)
    result = harness.outcome(ctype(boundary), split(body, sizes))  # any other exception fails the test
    if result[0] == "ok" and result[2] is not None and sink_limit is not None:
        assert len(result[2]) <= sink_limit


def test_malformed_bodies_are_bad_requests_and_discard_the_sink() -> None:
    b = "bnd"
    good = part(FILE, b"data", "a.jsonl")
    cases = {
        "no closing boundary": b"--bnd\r\n" + good,
        "no boundary at all": b"just some bytes",
        "empty body": b"",
        "part without headers": b"--bnd\r\n\r\ndata\r\n--bnd--",
        "header line without colon": b"--bnd\r\n" + good + b"\r\n--bnd\r\nbroken\r\n\r\nx\r\n--bnd--",
        "not form-data": b"--bnd\r\nContent-Disposition: attachment; name=\"x\"\r\n\r\nv\r\n--bnd--",
        "no name": b"--bnd\r\nContent-Disposition: form-data\r\n\r\nv\r\n--bnd--",
        "no disposition": b"--bnd\r\n" + good + b"\r\n--bnd\r\nContent-Type: text/plain\r\n\r\nv\r\n--bnd--",
        "one dash after the last boundary": b"--bnd\r\n" + good + b"\r\n--bnd-\r\n",
        "junk after boundary": b"--bnd\r\n" + good + b"\r\n--bndX\r\n" + part("p", b"v") + b"\r\n--bnd--",
        "field not utf-8": b"--bnd\r\n" + good + b"\r\n--bnd\r\n" + part("p", b"\xff\xfe") + b"\r\n--bnd--",
        "bad filename*": b"--bnd\r\nContent-Disposition: form-data; name=\"file\"; filename*=UTF-8''%FF\r\n\r\n"
                         b"x\r\n--bnd--",
    }
    for label, body in cases.items():
        for size in (1, 5, max(len(body), 1)):
            harness = Harness()
            with pytest.raises(BadRequestError) as info:
                harness.run(ctype(b), [body[i:i + size] for i in range(0, len(body), size)])
            assert info.value.param == FILE, label
            assert all(s.discarded for s in harness.sinks), label


# ---------------------------------------------------------------------------------------------- 5. limits

def test_streamed_body_over_the_ceiling_is_refused_soon() -> None:
    limit, size = 1000, 64 * 1024
    ceiling = limit + OVERHEAD
    harness = Harness()

    def endless_file_part():
        yield b"--bnd\r\n" + part(FILE, b"", "big.jsonl")
        while True:
            yield b"x" * size

    with pytest.raises(PayloadTooLargeError) as info:
        harness.run(ctype("bnd"), endless_file_part(), limit=limit)
    assert info.value is harness.too_large
    assert harness.pulled <= ceiling // size + 3  # stopped within a chunk of the ceiling
    assert len(harness.sinks) == 1 and harness.sinks[0].discarded


def test_body_of_exactly_the_ceiling_passes_and_one_more_byte_does_not() -> None:
    limit = 10
    head = b"--bnd\r\n" + part(FILE, b"", "f.jsonl")
    tail = b"\r\n--bnd--"
    payload = b"y" * (limit + OVERHEAD - len(head) - len(tail))
    body = head + payload + tail
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    assert Harness().outcome(ctype("bnd"), chunks, limit=limit) == ("ok", {}, payload, "f.jsonl")
    harness = Harness()
    with pytest.raises(PayloadTooLargeError):
        harness.run(ctype("bnd"), chunks + [b"\n"], limit=limit)  # one byte of epilogue over
    assert harness.sinks[0].discarded


def test_declared_length_over_the_ceiling_is_refused_unread() -> None:
    harness = Harness()
    body = b"--bnd\r\n" + part(FILE, b"x", "f") + b"\r\n--bnd--"
    with pytest.raises(PayloadTooLargeError) as info:
        harness.run(ctype("bnd"), [body], limit=100, content_length=str(100 + OVERHEAD + 1))
    assert info.value is harness.too_large and harness.pulled == 0 and not harness.sinks
    ok = Harness().outcome(ctype("bnd"), [body], limit=100, content_length=str(100 + OVERHEAD))
    assert ok == ("ok", {}, b"x", "f")


@pytest.mark.parametrize("length", ["9" * 5000, "\u00b2"])
def test_odd_declared_length_does_not_crash(length: str) -> None:
    body = b"--bnd\r\n" + part(FILE, b"x", "f") + b"\r\n--bnd--"
    assert Harness().outcome(ctype("bnd"), [body], content_length=length)[0] in ("ok", "error")


def test_a_sink_that_refuses_gives_too_large_and_is_discarded() -> None:
    harness = Harness(sink_limit=5)
    body = encode("bnd", [part("purpose", b"fine-tune"), part(FILE, b"123456", "f")])
    with pytest.raises(PayloadTooLargeError) as info:
        harness.run(ctype("bnd"), [body[i:i + 3] for i in range(0, len(body), 3)])
    assert info.value is harness.too_large and harness.sinks[0].discarded
    exact = Harness(sink_limit=6).outcome(ctype("bnd"), [body])
    assert exact == ("ok", {"purpose": "fine-tune"}, b"123456", "f")


def test_field_count_limit() -> None:
    fields = [part(f"f{i}", str(i).encode()) for i in range(MAX_FIELDS)]
    file_part = part(FILE, b"z", "z")
    ok = Harness().outcome(ctype("bnd"), [encode("bnd", fields + [file_part])])
    assert ok == ("ok", {f"f{i}": str(i) for i in range(MAX_FIELDS)}, b"z", "z")
    extra = fields + [part("one-more", b"x"), file_part]
    harness = Harness()
    assert harness.outcome(ctype("bnd"), [encode("bnd", extra)]) == ("error", BadRequestError)
    other_file = fields + [file_part, part("attachment", b"x", "other.txt")]  # other file parts count too
    assert Harness().outcome(ctype("bnd"), [encode("bnd", other_file)]) == ("error", BadRequestError)


def test_field_size_limit() -> None:
    at_limit = b"v" * MAX_FIELD_BYTES
    body = encode("bnd", [part("purpose", at_limit)])
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    assert Harness().outcome(ctype("bnd"), chunks) == ("ok", {"purpose": at_limit.decode()}, None, None)
    body = encode("bnd", [part(FILE, b"x", "f"), part("purpose", at_limit + b"v")])
    harness = Harness()
    assert harness.outcome(ctype("bnd"), [body[i:i + 65536] for i in range(0, len(body), 65536)]) == \
        ("error", BadRequestError)
    assert harness.sinks[0].discarded


def test_a_second_file_part_is_a_bad_request() -> None:
    harness = Harness()
    body = encode("bnd", [part(FILE, b"one", "a"), part(FILE, b"two", "b")])
    assert harness.outcome(ctype("bnd"), [body]) == ("error", BadRequestError)
    assert len(harness.sinks) == 1 and harness.sinks[0].discarded
    no_filename = encode("bnd", [part(FILE, b"one", "a"), part(FILE, b"two")])
    assert Harness().outcome(ctype("bnd"), [no_filename]) == ("error", BadRequestError)


@pytest.mark.parametrize("content_type", [
    "", "application/json", "multipart/form-data", "multipart/form-data; boundary=", 'multipart/form-data; boundary=""',
    "multipart/mixed; boundary=bnd", "text/plain; boundary=bnd", "multipart/form-data; boundary=" + "b" * 201,
    "multipart/form-data; boundary=caf\u00e9",
])
def test_content_types_without_a_usable_boundary_are_refused_unread(content_type: str) -> None:
    harness = Harness()
    with pytest.raises(BadRequestError) as info:
        harness.run(content_type, [encode("bnd", [part(FILE, b"x", "f")])])
    assert info.value.param == FILE and "'file' and 'purpose'" in info.value.message
    assert harness.pulled == 0 and not harness.sinks


@pytest.mark.parametrize(("content_type", "boundary"), [
    ("multipart/form-data; boundary=bnd", "bnd"), ('Multipart/Form-Data; charset=utf-8; BOUNDARY="bnd"', "bnd"),
    ("multipart/form-data;boundary=bnd ; charset=utf-8", "bnd"), ('multipart/form-data; boundary="a;b=c d"', "a;b=c d"),
])
def test_content_type_spellings_accepted(content_type: str, boundary: str) -> None:
    body = encode(boundary, [part(FILE, b"x", "f")], preamble=b"ignored preamble", epilogue=b"\r\nignored")
    assert Harness().outcome(content_type, [body]) == ("ok", {}, b"x", "f")


def test_long_header_block_outcome_does_not_depend_on_chunking() -> None:
    body = encode("bnd", [part(FILE, b"x", "a" * 20_000)])
    whole = Harness().outcome(ctype("bnd"), [body])
    assert Harness().outcome(ctype("bnd"), [body[i:i + 1024] for i in range(0, len(body), 1024)]) == whole


def test_long_transport_padding_outcome_does_not_depend_on_chunking() -> None:
    body = encode("bnd", [part(FILE, b"x", "f")], padding=b" " * 70)
    whole = Harness().outcome(ctype("bnd"), [body])
    assert Harness().outcome(ctype("bnd"), [body[i:i + 10] for i in range(0, len(body), 10)]) == whole


@pytest.mark.parametrize("padding", [63, 64, 65])
@pytest.mark.parametrize("size", [1, 7])
def test_padding_at_the_cap_does_not_depend_on_chunking(padding: int, size: int) -> None:
    """Right at the 64-byte cap on transport padding, small chunks decide as one chunk does."""
    body = encode("bnd", [part(FILE, b"x", "f")], padding=b" " * padding)
    whole = Harness().outcome(ctype("bnd"), [body])
    assert Harness().outcome(ctype("bnd"), [body[i:i + size] for i in range(0, len(body), size)]) == whole


@pytest.mark.parametrize("extra", [-3, -1, 0, 1, 3])
def test_header_block_at_the_cap_does_not_depend_on_chunking(extra: int) -> None:
    """A header block within a few bytes of MAX_HEADER_BYTES is decided alike in one chunk and in small ones."""
    from ftsim.api.http.multipart import MAX_HEADER_BYTES

    head = b'Content-Disposition: form-data; name="file"; filename="f"\r\nX-Pad: '
    block = head + b"a" * (MAX_HEADER_BYTES + extra - len(head))
    body = b"--bnd\r\n" + block + b"\r\n\r\nx\r\n--bnd--\r\n"
    whole = Harness().outcome(ctype("bnd"), [body])
    assert whole[0] == ("ok" if extra <= 0 else "error")
    for size in (1, 5, 1000):
        assert Harness().outcome(ctype("bnd"), [body[i:i + size] for i in range(0, len(body), size)]) == whole


# ---------------------------------------------------------------------------------------------- 6. filenames

def disposition_body(disposition: bytes) -> bytes:
    return b"--bnd\r\nContent-Disposition: " + disposition + b"\r\n\r\nx\r\n--bnd--\r\n"


@pytest.mark.parametrize(("disposition", "filename"), [
    (b'form-data; name="file"; filename="a\\"b\\\\c.jsonl"', 'a"b\\c.jsonl'),
    (b'form-data; name="file"; filename="..\\..\\x.jsonl"', "..\\..\\x.jsonl"),
    (b'form-data; name="file"; filename="C:\\data\\train.jsonl"', "C:\\data\\train.jsonl"),
    (b'form-data; name="file"; filename="semi;colon=eq.jsonl"', "semi;colon=eq.jsonl"),
    (b"form-data; name=\"file\"; filename*=UTF-8''na%C3%AFve.jsonl", "na\u00efve.jsonl"),
    (b"form-data; name=\"file\"; filename=\"fallback.jsonl\"; filename*=utf-8''na%C3%AFve.jsonl", "na\u00efve.jsonl"),
    (b"form-data; name=\"file\"; filename*=iso-8859-1'en'caf%E9.jsonl", "caf\u00e9.jsonl"),
    (b'form-data; name="file"; filename="caf\xe9.jsonl"', "caf\u00e9.jsonl"),  # latin-1, not UTF-8
    (b'form-data; name="file"; filename="caf\xc3\xa9.jsonl"', "caf\u00e9.jsonl"),  # UTF-8
    (b'form-data; name="file"; filename=plain.jsonl', "plain.jsonl"),
    (b'FORM-DATA; NAME="file"; FILENAME="upper.jsonl"', "upper.jsonl"),
    (b'form-data; name="file"', None),
])
def test_filenames(disposition: bytes, filename: str | None) -> None:
    body = disposition_body(disposition)
    for size in (1, len(body)):
        chunks = [body[i:i + size] for i in range(0, len(body), size)]
        assert Harness().outcome(ctype("bnd"), chunks) == ("ok", {}, b"x", filename)


def test_non_utf8_field_name_is_latin1() -> None:
    body = disposition_body(b'form-data; name="p\xfcrpose"')
    assert Harness().outcome(ctype("bnd"), [body]) == ("ok", {"p\u00fcrpose": "x"}, None, None)


# ---------------------------------------------------------------------------------------------- 7. finish

@pytest.mark.parametrize("size", [0, INLINE_BYTES, INLINE_BYTES + 1, 50 * INLINE_BYTES])
def test_finish_returns_the_sinks_result(size: int) -> None:
    sink = FakeSink()
    sink.size = size

    async def main() -> tuple[tuple[Path, int], int]:
        return await finish(sink), threading.get_ident()

    result, loop_thread = asyncio.run(main())
    assert result == (Path(f"/fake/{id(sink)}"), size) and sink.finished
    assert (sink.finish_thread == loop_thread) == (size <= INLINE_BYTES)  # small inline, big in a worker thread


def test_a_sink_that_fsyncs_is_finished_off_the_event_loop() -> None:
    """Under full durability even a small file's flush waits on the disk: it never blocks the event loop."""
    sink = FakeSink()
    sink.size = 10
    sink.syncs = True  # type: ignore[attr-defined]

    async def main() -> int:
        await finish(sink)
        return threading.get_ident()

    loop_thread = asyncio.run(main())
    assert sink.finished and sink.finish_thread != loop_thread


@pytest.mark.parametrize("durability,inline", [("process", True), ("full", False)])
def test_commit_runs_inline_only_without_fsync(durability: str, inline: bool) -> None:
    async def main() -> tuple[int, int]:
        return await commit(durability, threading.get_ident), threading.get_ident()

    ran_on, loop_thread = asyncio.run(main())
    assert (ran_on == loop_thread) is inline


# ---------------------------------------------------------------------------------------------- 8. found in review

@pytest.mark.parametrize("content_type", [
    "multipart/form-data; boundary=bnd; filename*=utf-8''%FF",
    "multipart/form-data; boundary=bnd; filename*=nosuchcharset''x%41",
])
def test_a_broken_parameter_in_the_content_type_is_a_400(content_type: str) -> None:
    body = encode("bnd", [part(FILE, b"x", "f")])
    harness = Harness()
    with pytest.raises(BadRequestError):
        harness.run(content_type, [body])
    assert harness.pulled == 0


@pytest.mark.parametrize("charset", ["utf-8\x00", "\x00", "utf-\x008"])
def test_a_nul_in_a_filename_charset_is_a_400(charset: str) -> None:
    body = disposition_body(f"form-data; name=\"file\"; filename*={charset}''a%41.jsonl".encode("latin-1"))
    assert Harness().outcome(ctype("bnd"), [body]) == ("error", BadRequestError)


def test_a_client_that_disconnects_mid_body_gets_a_400_and_leaves_nothing() -> None:
    """ClientDisconnect from the body stream is a plain 400 (not an unexpected error), the sink discarded."""
    from starlette.requests import ClientDisconnect

    harness = Harness()
    head = encode("bnd", [part(FILE, b"x" * 100, "f")])[:-30]

    async def body() -> AsyncIterator[bytes]:
        yield head
        raise ClientDisconnect()

    async def main() -> Form:
        return await read_form({"content-type": ctype("bnd")}, body(), file_field=FILE,
                               open_sink=harness.open_sink, limit=BIG_LIMIT, too_large=harness.too_large,
                               expected="'file' and 'purpose'")

    with pytest.raises(BadRequestError, match="disconnected"):
        asyncio.run(main())
    assert harness.sinks and all(s.discarded for s in harness.sinks)
