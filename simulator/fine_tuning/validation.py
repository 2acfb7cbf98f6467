"""The asynchronous file validation of a job: scan its files with the shared scanner, and read injected faults.

`validate_files` returns a `ValidationResult`: either the counts the plan needs (n_examples and the billed
`tokens_per_epoch`, the same counter `ftsim estimate` uses, so `trained_tokens` matches the planner) or the job
error `{code, message, param}` the live API would report (param `training_file` or `validation_file`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def _scan(path: Path, *, method: str, entry: Any, param: str, file_id: str) -> Any:
    return scan_dataset(path, method=method, model=entry, param=param, file_id=file_id)


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
            return ValidationResult(error=_error_of(report, param))
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
