"""`scan_dataset`: read + validate + count a JSONL dataset in one pass, in constant memory, on every core.

Small files are scanned in-process. Larger ones are split into line-aligned byte ranges
(`ftsim.pricing.dataset.reader.plan_chunks`) that the calling process and `workers - 1` worker processes claim one by one
from a shared counter (see `ftsim.pricing.dataset.scan_pool`: forked workers share the loaded encoding when forking is safe); the
partial reports are merged in file order. Memory stays constant: per-example token counts are kept as a histogram
(bounded by the training context, so percentiles stay exact), and findings as the first `SAMPLE_LIMIT` plus a
count per code.
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Protocol

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.dataset.counting import count_example
from ftsim.pricing.dataset.reader import (
    MAX_LINE_BYTES,
    binary_reason,
    check_readable,
    iter_training_pairs,
    plan_chunks,
    read_jsonl,
)
from ftsim.pricing.dataset.scan_pool import ChunkPool
from ftsim.pricing.dataset.tokenizer import get_encoding
from ftsim.pricing.dataset.validation import (
    Finding,
    example_format,
    format_error,
    format_mismatch,
    n_examples_finding,
    validate_example,
)

__all__ = ["DatasetReport", "TokenStats", "scan_dataset", "iter_training_pairs", "SAMPLE_LIMIT"]

SAMPLE_LIMIT = 100
MIN_PARALLEL_BYTES = 16 * 1024 * 1024
CHUNK_BYTES = 2 * 1024 * 1024  # small: the last chunk a process scans alone is short
MAX_CHUNKS = 4096
EXPECTED_FORMAT = {"supervised": "chat", "reinforcement": "chat", "dpo": "preference"}


class ModelLike(Protocol):
    """What the scan needs of a catalog `ModelEntry` (read-only, so that its narrower Literal types match)."""

    @property
    def snapshot(self) -> str: ...
    @property
    def tokenizer(self) -> str: ...
    @property
    def training_context(self) -> int: ...
    @property
    def methods(self) -> frozenset[str]: ...


class TokenStats(BaseModel):
    """Distribution of billed tokens per example (p10/p90 by linear interpolation, as numpy's quantile)."""

    model_config = ConfigDict(frozen=True)

    min: int
    max: int
    mean: float
    median: float
    p10: float
    p90: float


class DatasetReport(BaseModel):
    """Everything a scan learns about a dataset; `tokens_per_epoch` is the billed figure (capped; DPO high bound)."""

    model_config = ConfigDict(frozen=True)

    path: str
    method: str
    model: str
    tokenizer: str
    training_context: int
    file_bytes: int
    n_lines: int
    n_examples: int
    tokens_per_epoch: int
    tokens_per_epoch_low: int
    n_counted: int = 0  # examples counted into tokens_per_epoch (those without errors)
    token_stats: TokenStats | None
    n_truncated: int
    n_images: int
    image_tokens: int
    detected_format: Literal["chat", "preference", "unknown"]
    valid: bool
    n_errors: int
    n_warnings: int
    first_error: Finding | None
    counts: dict[str, int]
    findings: list[Finding]

    @property
    def errors(self) -> list[Finding]:
        """The sampled error findings."""
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        """The sampled warning findings."""
        return [f for f in self.findings if f.severity == "warning"]


@dataclass
class _Partial:
    n_lines: int = 0
    n_examples: int = 0
    hist: Counter = field(default_factory=Counter)
    tokens: int = 0
    tokens_low: int = 0
    n_truncated: int = 0
    n_images: int = 0
    image_tokens: int = 0
    formats: Counter = field(default_factory=Counter)
    findings: list[Finding] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    n_errors: int = 0
    n_warnings: int = 0
    first_error: Finding | None = None
    bytes_done: int = 0
    first_line_of: dict[str, int] = field(default_factory=dict)  # first line of each format seen

    def add(self, finding: Finding, limit: int) -> None:
        self.counts[finding.code] += 1
        if finding.severity == "error":
            self.n_errors += 1
            if self.first_error is None:
                self.first_error = finding
        else:
            self.n_warnings += 1
        if len(self.findings) < limit:
            self.findings.append(finding)

    def merge(self, other: "_Partial", limit: int) -> None:
        for name in ("n_lines", "n_examples", "tokens", "tokens_low", "n_truncated", "n_images", "image_tokens", "n_errors", "n_warnings", "bytes_done"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.hist.update(other.hist)
        self.formats.update(other.formats)
        self.counts.update(other.counts)
        self.first_error = self.first_error or other.first_error
        for fmt, line in other.first_line_of.items():
            self.first_line_of.setdefault(fmt, line)
        self.findings.extend(other.findings[: max(0, limit - len(self.findings))])


@dataclass(frozen=True)
class _Job:
    path: str
    method: str
    tokenizer: str
    context: int
    vision: bool
    param: str
    limit: int


def _scan_range(job: _Job, start: int, end: int, first_line: int, progress: Callable[[int], None] | None = None) -> _Partial:
    """Scan the lines starting in `[start, end)`; runs in a worker process or in-process."""
    enc = get_encoding(job.tokenizer)
    special = frozenset(enc.special_tokens_set)
    expected = EXPECTED_FORMAT.get(job.method, "chat")
    part = _Partial()
    for line_no, item in read_jsonl(job.path, start, end, first_line=first_line, param=job.param, on_progress=progress):
        part.n_lines += 1
        if isinstance(item, Finding):
            if item.code != "blank_line":
                part.n_examples += 1
            part.add(item, job.limit)
            continue
        part.n_examples += 1
        fmt = example_format(item)
        part.formats[fmt] += 1
        part.first_line_of.setdefault(fmt, line_no)
        if fmt not in (expected, "unknown"):
            continue  # reported once for the whole file (see _format_findings)
        try:
            findings, _n_images = validate_example(item, line_no, job.method, vision=job.vision, param=job.param,
                                                   special=special)
            if findings:
                for finding in findings:
                    part.add(finding, job.limit)
                if any(f.severity == "error" for f in findings):
                    continue
            counted = count_example(item, job.method, enc, job.context)
        except RecursionError:  # the reader bounds nesting; this is the net under it (a thread with a deep stack)
            part.add(format_error(line_no, " nests objects and arrays too deeply to be counted.",
                                  job.param), job.limit)
            continue
        part.hist[counted.tokens] += 1
        part.tokens += counted.tokens
        part.tokens_low += counted.tokens_low
        part.n_images += counted.n_images
        part.image_tokens += counted.image_tokens
        if counted.truncated:
            part.n_truncated += 1
            part.add(
                Finding(
                    line=line_no, severity="warning", code="example_truncated", param=job.param,
                    message=f"Example {line_no} has {counted.raw} tokens, more than the training context of {job.context}; "
                    f"it will be truncated to {job.context} tokens (billed at most that).",
                ),
                job.limit,
            )
    part.bytes_done = max(0, end - start)
    return part


def _quantile(hist: Counter, n: int, q: float) -> float:
    pos = q * (n - 1)
    lo_index = int(pos)
    frac = pos - lo_index
    lo = hi = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo is None and seen > lo_index:
            lo = value
        if seen > lo_index + 1 or (seen > lo_index and frac == 0):
            hi = value
            break
    if hi is None:
        hi = max(hist)
    assert lo is not None
    return float(lo + (hi - lo) * frac)


def _stats(hist: Counter) -> TokenStats | None:
    n = sum(hist.values())
    if not n:
        return None
    total = sum(value * count for value, count in hist.items())
    return TokenStats(
        min=min(hist), max=max(hist), mean=round(total / n, 3),
        median=_quantile(hist, n, 0.5), p10=_quantile(hist, n, 0.1), p90=_quantile(hist, n, 0.9),
    )


def _detected(formats: Counter) -> str:
    ranked = [(formats[f], f) for f in ("chat", "preference", "prompt_completion") if formats[f]]
    return max(ranked)[1] if ranked else "unknown"


def scan_dataset(
    path: str | os.PathLike[str],
    *,
    method: str,
    model: ModelLike,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    param: str = "training_file",
    file_id: str | None = None,
    min_parallel_bytes: int = MIN_PARALLEL_BYTES,
    offload: bool = False,
) -> DatasetReport:
    """Validate and count a dataset for `method` (supervised|dpo|reinforcement) on `model` (a catalog entry).

    `progress(bytes_done, bytes_total)` is called as the scan advances. `param` is `training_file` or
    `validation_file` (validation files have no minimum size). `file_id` names the file in OpenAI's format-mismatch
    text (defaults to the file name). Raises `DatasetError` when the file cannot be read at all, and
    `EncodingUnavailable` when the model's encoding is not provisioned. `offload=True` (a server): a file worth
    splitting is scanned by worker processes only, this interpreter just collecting, so that its other threads
    keep answering. Concurrent scans are bounded: in-process ones by `_BUDGET`, offloaded ones by `_POOLED`.
    """
    size = check_readable(path)
    get_encoding(model.tokenizer)  # fail fast, with the fix, before any work
    if offload and size >= max(min_parallel_bytes, 1):  # lines are held in the workers, not here
        with _POOLED:
            return _scan_dataset(path, size, method=method, model=model, workers=workers, progress=progress,
                                 param=param, file_id=file_id, min_parallel_bytes=min_parallel_bytes, offload=offload)
    with _BUDGET.reserve(min(size, MAX_LINE_BYTES)):
        return _scan_dataset(path, size, method=method, model=model, workers=workers, progress=progress,
                             param=param, file_id=file_id, min_parallel_bytes=min_parallel_bytes)


class _MemoryBudget:
    """Bounds concurrent scans by what their longest lines may hold: each reserves min(file size, line limit)
    bytes, and scans wait while the reservations would exceed one line limit's worth. Small files scan side by
    side; scans of large files take turns (each already uses every core)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._cond = threading.Condition()

    @contextmanager
    def reserve(self, amount: int) -> Iterator[None]:
        amount = max(1, min(amount, self.capacity))
        with self._cond:
            while self.used + amount > self.capacity:
                self._cond.wait()
            self.used += amount
        try:
            yield
        finally:
            with self._cond:
                self.used -= amount
                self._cond.notify_all()


_BUDGET = _MemoryBudget(MAX_LINE_BYTES)
# Offloaded scans at once: each runs a worker per core (each worker holding at most one line of its own).
_POOLED = threading.BoundedSemaphore(2)


def _scan_dataset(
    path: str | os.PathLike[str],
    size: int,
    *,
    method: str,
    model: ModelLike,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    param: str,
    file_id: str | None,
    min_parallel_bytes: int,
    offload: bool = False,
) -> DatasetReport:
    vision = method == "reinforcement" or (method == "supervised" and "vision" in model.methods)
    job = _Job(str(path), method, model.tokenizer, int(model.training_context), vision, param, SAMPLE_LIMIT)
    head: list[Finding] = []
    total = _Partial()
    reason = binary_reason(path) if size else None
    word = "validation" if param == "validation_file" else "training"
    if reason:
        head.append(Finding(
            line=None, severity="error", code=f"invalid_{word}_file", param=param,
            message=f"The job failed due to an invalid {word} file. Unexpected file format, expected either "
            f"prompt/completion pairs or chat messages.",
        ))
        # why it looks binary is ftsim's diagnosis: a warning for `ftsim validate`, never part of the live text
        head.append(Finding(line=None, severity="warning", code="binary_file", param=param, message=f"The {word} file: {reason}."))
    else:
        total = _run(job, size, workers, progress, min_parallel_bytes, offload)
    if progress:
        progress(size, size)
    detected = _detected(total.formats)
    if method not in model.methods:
        head.append(Finding(line=None, severity="warning", code="method_not_supported", param=param,
                            message=f"Model {model.snapshot} does not support the {method} method."))
    if not reason:
        head[:0] = _format_findings(total, detected, method, file_id or Path(path).name, param)
    tail: list[Finding] = []
    count_error = n_examples_finding(total.n_examples, method, param) if not reason else None
    if count_error:
        tail.append(count_error)
    return _report(path, job, model, size, total, head, tail, detected)


_LABELS = {"chat": "chat (messages)", "preference": "preference (input/preferred_output)", "prompt_completion": "prompt/completion"}


def _format_findings(total: _Partial, detected: str, method: str, file_id: str, param: str) -> list[Finding]:
    """OpenAI's error for a file in the wrong format; or, for a mixed file, an error at the first odd line."""
    expected = EXPECTED_FORMAT.get(method, "chat")
    if detected not in (expected, "unknown"):
        mismatch = format_mismatch(detected, method, file_id, param)
        return [mismatch] if mismatch else []
    odd = [(total.first_line_of[f], f) for f in _LABELS if f != expected and total.formats[f]]
    if not odd:
        return []
    line, fmt = min(odd)
    n_odd = sum(total.formats[f] for _, f in odd)
    detail = f" is in the {_LABELS[fmt]} format, but the file is in the {_LABELS[expected]} format that method {method} uses ({n_odd} such line(s))."
    return [format_error(line, detail, param)]


def _run(job: _Job, size: int, workers: int | None, progress: Callable[[int, int], None] | None, min_parallel: int,
         offload: bool = False) -> _Partial:
    n_workers = workers if workers is not None else (os.cpu_count() or 1)
    if offload and size >= max(min_parallel, 1):
        n_chunks = max(n_workers * 4, min(size // CHUNK_BYTES, MAX_CHUNKS))
        pool = ChunkPool(_scan_range, job, size, plan_chunks(job.path, n_chunks), progress, empty=_Partial,
                         merge=lambda total, part: total.merge(part, job.limit))
        return pool.run(max(1, n_workers), scan_here=False)
    if n_workers <= 1 or size < max(min_parallel, 1):
        done = [0]

        def tick(n: int) -> None:
            done[0] += n
            if progress:
                progress(min(done[0], size), size)

        return _scan_range(job, 0, size, 1, tick)
    n_chunks = max(n_workers * 4, min(size // CHUNK_BYTES, MAX_CHUNKS))
    pool = ChunkPool(_scan_range, job, size, plan_chunks(job.path, n_chunks), progress, empty=_Partial,
                     merge=lambda total, part: total.merge(part, job.limit))
    return pool.run(n_workers - 1)


def _report(path: Any, job: _Job, model: ModelLike, size: int, total: _Partial, head: list[Finding], tail: list[Finding], detected: str) -> DatasetReport:
    counts = Counter(total.counts)
    for finding in head + tail:
        counts[finding.code] += 1
    head_errors = [f for f in head if f.severity == "error"]
    first_error = head_errors[0] if head_errors else (total.first_error or (tail[0] if tail else None))
    findings = (head + total.findings + tail)[: SAMPLE_LIMIT + len(head) + len(tail)]
    n_errors = total.n_errors + sum(f.severity == "error" for f in head + tail)
    n_warnings = total.n_warnings + sum(f.severity == "warning" for f in head + tail)
    return DatasetReport(
        path=str(path), method=job.method, model=model.snapshot, tokenizer=job.tokenizer, training_context=job.context,
        file_bytes=size, n_lines=total.n_lines, n_examples=total.n_examples,
        tokens_per_epoch=total.tokens, tokens_per_epoch_low=total.tokens_low, n_counted=sum(total.hist.values()),
        token_stats=_stats(total.hist),
        n_truncated=total.n_truncated, n_images=total.n_images, image_tokens=total.image_tokens,
        detected_format=detected if detected in ("chat", "preference") else "unknown",  # type: ignore[arg-type]
        valid=n_errors == 0, n_errors=n_errors, n_warnings=n_warnings, first_error=first_error,
        counts=dict(counts), findings=findings,
    )
