"""The asynchronous file validation of a job: scan its files with the shared scanner, and read injected faults.

`validate_files` returns a `ValidationResult`: either the counts the plan needs (n_examples and the billed
`tokens_per_epoch`, the same counter `ftsim estimate` uses, so `trained_tokens` matches the planner) or the job
error `{code, message, param}` the live API would report (param `training_file` or `validation_file`).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from ftsim.pricing.errors import EncodingUnavailable, PricingError
from ftsim.pricing.dataset.scan import scan_dataset
from ftsim.simulator.core.errors import ServiceUnavailableError

__all__ = ["ValidationResult", "validate_files", "fault_spec"]


@dataclass(frozen=True)
class ValidationResult:
    """The outcome of validating a job's files."""

    error: dict[str, Any] | None = None
    n_examples: int = 0
    tokens_per_epoch: int = 0
    n_validation: int = 0  # examples in the validation file (the RFT duration model needs it)


class _Scanned(NamedTuple):
    """What a job's validation keeps of a file's scan (`DatasetReport`'s fields it reads)."""

    valid: bool
    error: dict[str, Any] | None  # `_error_of` the report, when not valid
    n_examples: int
    tokens_per_epoch: int


# Scans of small files, by everything their outcome depends on: the bytes (sha256), the scanner, the method, the
# model fields the scanner reads, the param and the file id (named in OpenAI's format-mismatch text). A test
# suite uploads the same fixture in test after test, each in a fresh simulator; the scan of a dozen lines (JSON,
# validation, tokenizing every message) was about a tenth of a full-flow test. Only outcomes are kept (a scan
# that raises is not), and only for files up to `_SCAN_CACHE_BYTES`: hashing a large file would cost a real
# fraction of its scan. The scanner is part of the key so that a replaced one (tests do) is really called.
_SCAN_CACHE_BYTES = 1 << 20
_SCAN_CACHE_SIZE = 256
_scan_cache: OrderedDict[tuple[Any, ...], _Scanned] = OrderedDict()
_scan_cache_lock = threading.Lock()


def _scan(path: Path, *, method: str, entry: Any, param: str, file_id: str) -> _Scanned:
    scanner = scan_dataset
    key: tuple[Any, ...] | None = None
    try:
        if path.stat().st_size <= _SCAN_CACHE_BYTES:
            key = (hashlib.sha256(path.read_bytes()).digest(), scanner, method, entry.snapshot, entry.tokenizer,
                   int(entry.training_context), tuple(entry.methods), param, file_id)
    except (OSError, TypeError, ValueError, AttributeError):  # unreadable or unhashable: the scanner decides
        key = None
    if key is not None:
        with _scan_cache_lock:
            hit = _scan_cache.get(key)
            if hit is not None:
                _scan_cache.move_to_end(key)
                return hit
    report = scanner(path, method=method, model=entry, param=param, file_id=file_id)
    scanned = _Scanned(valid=bool(report.valid), error=None if report.valid else _error_of(report, param),
                       n_examples=report.n_examples, tokens_per_epoch=report.tokens_per_epoch)
    if key is not None:
        with _scan_cache_lock:
            _scan_cache[key] = scanned
            while len(_scan_cache) > _SCAN_CACHE_SIZE:
                _scan_cache.popitem(last=False)
    return scanned


def _error_of(report: Any, param: str) -> dict[str, Any]:
    finding = report.first_error
    word = "validation" if param == "validation_file" else "training"
    if finding is None:  # invalid without a finding: should not happen, keep a live-like text
        return {"code": f"invalid_{word}_file", "param": param,
                "message": f"The job failed due to an invalid {word} file."}
    return {"code": finding.code, "message": finding.message, "param": getattr(finding, "param", None) or param}


def validate_files(
    *,
    method: str,
    entry: Any,
    training: tuple[str, Path | None],
    validation: tuple[str, Path | None] | None,
) -> ValidationResult:
    """Scan the training (and validation) file; a missing file (deleted since create) fails the job."""
    checks = [("training_file", training)] + ([("validation_file", validation)] if validation else [])
    result = ValidationResult()
    for param, (file_id, path) in checks:
        word = "validation" if param == "validation_file" else "training"
        if path is None or not path.exists():
            return ValidationResult(error={"code": f"invalid_{word}_file", "param": param,
                                           "message": f"The job failed due to an invalid {word} file. "
                                                      f"File {file_id} could not be found."})
        try:
            report = _scan(path, method=method, entry=entry, param=param, file_id=file_id)
        except EncodingUnavailable as exc:
            # A broken install, not bad data: the request that caught the job up answers 503 with the fix, and the
            # job stays in validation until the install is repaired.
            raise ServiceUnavailableError(f"Token counting is unavailable on this server: {exc}") from None
        except PricingError as exc:
            return ValidationResult(error={"code": f"invalid_{word}_file", "param": param,
                                           "message": f"The job failed due to an invalid {word} file. {exc}"})
        if not report.valid:
            return ValidationResult(error=dict(report.error or {}))  # a copy: the cached outcome stays as scanned
        if param == "training_file":
            result = ValidationResult(n_examples=report.n_examples, tokens_per_epoch=report.tokens_per_epoch)
        else:
            result = ValidationResult(n_examples=result.n_examples, tokens_per_epoch=result.tokens_per_epoch,
                                      n_validation=report.n_examples)
    return result


def fault_spec(fault: Any) -> dict[str, Any] | None:
    """Normalise what `backend.faults.job_failure` returned: None, or {at_step, code, message, param}."""
    if fault is None:
        return None

    def read(name: str, default: Any = None) -> Any:
        if isinstance(fault, dict):
            return fault.get(name, default)
        return getattr(fault, name, default)

    at_step = read("at_step", read("step"))
    code = read("code") or "internal_error"
    message = read("message") or "The job failed due to an internal error."
    return {"at_step": int(at_step) if at_step is not None else None, "code": code, "message": message,
            "param": read("param")}
