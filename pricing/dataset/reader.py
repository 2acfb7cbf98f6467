"""Streaming JSONL reader in constant memory, with byte ranges aligned to lines for parallel workers.

`read_jsonl(path, start, end)` yields `(line_no, item)` for every line that *starts* in `[start, end)`:
`item` is the parsed JSON object, or a `Finding` for a line that cannot be an example (not UTF-8, not JSON,
a JSON value that is not an object, a NUL byte, a line over `MAX_LINE_BYTES`; blank lines give a warning).
Only one line is held in memory at a time. A file that cannot be read at all (missing, a directory,
unreadable) raises `DatasetError` with one line; a binary file is detected up front by `binary_reason`.

`plan_chunks(path, n)` splits a file into `n` line-aligned byte ranges and the 1-based line number each
starts at, so that workers report true file line numbers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

from ftsim.pricing.errors import DatasetError
from ftsim.pricing.dataset.validation import Finding, format_error, warning

__all__ = [
    "MAX_LINE_BYTES",
    "MAX_JSON_DEPTH",
    "check_readable",
    "nested_deeper_than",
    "binary_reason",
    "read_jsonl",
    "plan_chunks",
    "iter_training_pairs",
]

# The sources give no line limit. ftsim's bound keeps a scan's peak memory under 300 MB whatever the file: a line
# is held at most twice at once (its text, then its parsed values; see `_parse`), so 64 MiB lines peak near 130 MB
# over the process. It admits four 10 MB images in base64 per example (the live API allows 10; more per line is
# refused here).
MAX_LINE_BYTES = 64 * 1024 * 1024
# ftsim's bound on JSON nesting (the sources give none): far deeper than any real example or tool schema, and
# shallow enough that counting (which encodes values as JSON) never meets Python's recursion limit, in any thread.
MAX_JSON_DEPTH = 200
_BLOCK = 1 << 20
_BINARY_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"PK\x03\x04": "a ZIP archive",
    b"\x1f\x8b": "a gzip archive",
    b"%PDF": "a PDF document",
    b"SQLite format 3": "an SQLite database",
    b"\x7fELF": "an executable",
}


def check_readable(path: str | os.PathLike[str]) -> int:
    """The file's size in bytes; `DatasetError` if it is missing, a directory or unreadable."""
    p = Path(path)
    try:
        if p.is_dir():
            raise DatasetError(f"{p} is a directory, not a JSONL file")
        if not p.exists():
            raise DatasetError(f"dataset file not found: {p}")
        if not p.is_file():  # a device or pipe has no size to chunk by, and opening a pipe can block for ever
            raise DatasetError(f"{p} is not a regular file (a device, pipe or socket cannot be scanned)")
        size = p.stat().st_size
        with open(p, "rb") as fh:
            fh.read(1)
    except DatasetError:
        raise
    except OSError as exc:
        raise DatasetError(f"cannot read {p}: {exc.strerror or exc}") from None
    return size


def binary_reason(path: str | os.PathLike[str]) -> str | None:
    """Why the file looks binary rather than JSONL text (known magic bytes, NUL bytes), or None."""
    with open(path, "rb") as fh:
        head = fh.read(8192)
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            return f"the file is {what}, not JSONL text"
    if b"\x00" in head:
        return "the file holds NUL bytes: it is binary, not JSONL text"
    return None


def _rest_of_line(fh: Any) -> int:
    """Skip to the end of the current line (newline included) without holding it; the bytes skipped."""
    n = 0
    while True:
        rest = fh.readline(_BLOCK)
        n += len(rest)
        if not rest or rest.endswith(b"\n"):
            return n


def _seek_line_start(fh: Any, start: int) -> int:
    """Position `fh` at the first line starting at or after `start`; returns that offset."""
    if start <= 0:
        fh.seek(0)
        return 0
    fh.seek(start - 1)
    pos = start - 1
    while True:  # consume the rest of the line that straddles `start`
        chunk = fh.readline(_BLOCK)
        pos += len(chunk)
        if not chunk or chunk.endswith(b"\n"):
            return pos


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether JSON `value` nests lists and objects more than `limit` levels deep (a scalar nests none; iterative, so
    no recursion limit): the one depth check of dataset lines, request bodies and graders."""
    stack = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if not isinstance(current, (dict, list)):
            continue
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _parse(box: list[bytes], line_no: int, param: str, at_file_start: bool) -> dict[str, Any] | Finding:
    """Parse the line in `box` (taken out of it, so that its bytes are freed once decoded: a line is held at most
    twice at once, as text and then as values)."""
    raw = box.pop()
    if at_file_start and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    if not raw or raw.isspace():  # same test as `not raw.strip()`, without copying the line
        return warning(line_no, "blank_line", f"Line {line_no} is blank; it is skipped.", param)
    if b"\x00" in raw:
        return format_error(line_no, " contains a NUL byte: the file is not JSONL text.", param)
    brackets = raw.count(b"{") + raw.count(b"[")  # more than MAX_JSON_DEPTH of them is needed to nest that deep
    end = len(raw)
    while end and raw[end - 1] in b"\r\n":
        end -= 1
    try:
        text = str(memoryview(raw)[:end], "utf-8")  # the line without its newline, without copying the bytes first
    except UnicodeDecodeError as exc:
        return format_error(line_no, f" is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}).", param)
    del raw
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        return format_error(line_no, f" is not valid JSON: {exc.msg} at column {exc.colno}.", param)
    except (RecursionError, ValueError):
        return format_error(line_no, " is not valid JSON (nested too deeply or out of range).", param)
    del text
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
        return format_error(line_no, f" is not a JSON object (found {kind}).", param)
    if brackets > MAX_JSON_DEPTH and nested_deeper_than(value, MAX_JSON_DEPTH):
        return format_error(line_no, f" nests objects and arrays more than {MAX_JSON_DEPTH} levels deep.", param)
    return value


def read_jsonl(
    path: str | os.PathLike[str],
    start: int = 0,
    end: int | None = None,
    *,
    first_line: int = 1,
    param: str = "training_file",
    on_progress: Callable[[int], None] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[tuple[int, dict[str, Any] | Finding]]:
    """Yield `(line_no, object | Finding)` for each line starting in `[start, end)`; constant memory.

    `first_line` is the file line number of the first line at or after `start` (see `plan_chunks`).
    `on_progress(n)` is called now and then with the bytes consumed since the previous call.
    """
    check_readable(path)
    with open(path, "rb") as fh:
        pos = _seek_line_start(fh, start)
        if on_progress and pos > start:
            on_progress(pos - start)
        stop = float("inf") if end is None else end
        line_no = first_line
        pending = 0
        readline, limit = fh.readline, max_line_bytes + 1
        while pos < stop:
            raw = readline(limit)  # the line, or its first `limit` bytes when it is longer than the limit
            n = len(raw)
            too_long = n == limit and not raw.endswith(b"\n")
            if too_long:
                raw, n = b"", n + _rest_of_line(fh)  # drop the head before reading past the rest
            if n == 0:
                break
            if too_long:
                item: Any = format_error(line_no, f" is {n} bytes long, over the {max_line_bytes}-byte line limit.", param)
            else:
                box, raw = [raw], b""  # the box holds the only reference: _parse frees it once decoded
                item = _parse(box, line_no, param, pos == 0)
            yield line_no, item
            pos += n
            line_no += 1
            pending += n
            if on_progress and pending >= 4 * _BLOCK:
                on_progress(pending)
                pending = 0
        if on_progress and pending:
            on_progress(pending)


def plan_chunks(path: str | os.PathLike[str], n: int) -> list[tuple[int, int, int]]:
    """Split a file into up to `n` line-aligned `(start, end, first_line)` ranges that cover it exactly."""
    size = check_readable(path)
    if n <= 1 or size == 0:
        return [(0, size, 1)]
    bounds = [0]
    with open(path, "rb") as fh:
        for i in range(1, n):
            target = max(size * i // n, bounds[-1])
            aligned = _seek_line_start(fh, target)
            if aligned >= size:
                break
            if aligned > bounds[-1]:
                bounds.append(aligned)
        bounds.append(size)
        chunks: list[tuple[int, int, int]] = []
        line = 1
        fh.seek(0)
        for a, b in zip(bounds, bounds[1:]):
            chunks.append((a, b, line))
            remaining = b - a
            while remaining:
                block = fh.read(min(_BLOCK, remaining))
                if not block:
                    break
                remaining -= len(block)
                line += block.count(b"\n")
    return chunks


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        if parts and all(isinstance(t, str) for t in parts):
            return "".join(parts)  # type: ignore[arg-type]
    return None


def iter_training_pairs(path: str | os.PathLike[str]) -> Iterator[tuple[list[dict[str, Any]], str]]:
    """Yield `(prompt messages, assistant reply text)` for every trained reply in a chat or preference file.

    Chat: each assistant message with text content and weight != 0, with the messages before it as prompt.
    Preference: `input.messages` with the preferred output. Lines that are not well-formed are skipped.
    """
    for _line, obj in read_jsonl(path):
        if not isinstance(obj, dict):
            continue
        messages = obj.get("messages")
        if isinstance(messages, list):
            for i, msg in enumerate(messages):
                if isinstance(msg, dict) and msg.get("role") == "assistant" and msg.get("weight", 1) != 0:
                    reply = _text(msg.get("content"))
                    prompt = messages[:i]
                    if reply is not None and prompt and all(isinstance(m, dict) for m in prompt):
                        yield prompt, reply
            continue
        inp, preferred = obj.get("input"), obj.get("preferred_output")
        if isinstance(inp, dict) and isinstance(inp.get("messages"), list) and isinstance(preferred, list) and preferred:
            first = preferred[0]
            reply = _text(first.get("content")) if isinstance(first, dict) else None
            prompt = inp["messages"]
            if reply is not None and prompt and all(isinstance(m, dict) for m in prompt):
                yield prompt, reply
