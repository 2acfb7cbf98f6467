"""`estimate(...)`: a dataset -> `Estimate`, the JSON of `ftsim estimate` and `POST /planning/estimate`.

Token counts come from `ftsim.pricing.dataset.scan.scan_dataset` (read + validate + count, every core); prices from the catalog.
- supervised / dpo / vision: trained tokens = billed tokens per epoch × epochs (DPO: high bound, with the low
  bound alongside); validation tokens are counted and reported but free;
- reinforcement: hours (given, or the documented duration model of `ftsim.pricing.costs.rft`, as low/expected/high) × the
  hourly rate, plus grader-model tokens.
A dataset with errors is refused (`InvalidDataset`, naming the first error). The one exception is OpenAI's
10-example minimum: a smaller but otherwise valid file is priced with a warning (the cookbook's toy dataset has 5).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from decimal import Decimal
from typing import Any, Callable, Literal, Sequence

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.catalog.catalog import Catalog, ModelEntry, load_catalog
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.money import UsdAmount, format_usd
from ftsim.pricing.costs.rft import GraderSpec, GraderUsage, RftCost, estimate_duration, given_duration, rft_cost
from ftsim.pricing.dataset.scan import DatasetReport, scan_dataset
from ftsim.pricing.costs.training import resolve_epochs, training_cost

__all__ = ["Estimate", "RftEstimate", "ValidationTokens", "InvalidDataset", "estimate", "estimate_examples", "summary_lines", "METHODS"]

METHODS = ("supervised", "dpo", "reinforcement", "vision")
EstimateMethod = Literal["supervised", "dpo", "reinforcement", "vision"]
Progress = Callable[[int, int], None]


class InvalidDataset(PricingError):
    """A dataset with format errors: the message names the first one; `report` holds the scan."""

    def __init__(self, message: str, report: DatasetReport | None = None) -> None:
        super().__init__(message)
        self.report = report


class ValidationTokens(BaseModel):
    """The validation file: counted, never billed."""

    model_config = ConfigDict(frozen=True)

    n_examples: int
    tokens_per_epoch: int
    billed_tokens: int = 0


class RftEstimate(BaseModel):
    """RFT figures: billable hours as a range, the hourly rate, grader lines."""

    model_config = ConfigDict(frozen=True)

    hours_low: Decimal
    hours_expected: Decimal
    hours_high: Decimal
    hours_given: bool
    rate_per_hour_usd: UsdAmount
    grader_cost_usd: UsdAmount
    graders: list[dict[str, Any]]
    duration_model: str


class Estimate(BaseModel):
    """What a fine-tuning job on a dataset will cost (money as exact decimal strings in JSON)."""

    model_config = ConfigDict(frozen=True)

    model: str
    requested_model: str
    method: EstimateMethod
    n_examples: int
    tokens_per_epoch: int
    tokens_per_epoch_low: int
    n_epochs: int
    trained_tokens: int
    trained_tokens_low: int
    billing_unit: Literal["token", "hour"]
    rate_usd: UsdAmount
    training_cost_usd: UsdAmount
    training_cost_usd_low: UsdAmount
    training_cost_usd_high: UsdAmount
    total_cost_usd: UsdAmount
    price_source: str
    catalog_version: str
    catalog_effective_date: dt.date
    tokenizer: str
    training_context: int
    n_truncated: int
    n_images: int
    image_tokens: int
    validation: ValidationTokens | None
    rft: RftEstimate | None
    training_until: dt.date | None
    inference_until: dt.date | None
    warnings: list[str]


def _first_error_text(report: DatasetReport, label: str) -> str:
    err = report.first_error
    if err is None:
        return f"{label} is invalid"
    where = f"line {err.line}: " if err.line else ""
    return f"{label} is invalid: {where}{err.code}: {err.message.strip()}"


def _check(report: DatasetReport, label: str, warnings: list[str]) -> None:
    """Refuse a report with errors, except OpenAI's example-count limits (a warning when the rest is valid)."""
    count_errors = report.counts.get("invalid_n_examples", 0)
    if report.n_errors > count_errors:
        raise InvalidDataset(_first_error_text(report, label), report)
    if report.n_examples == 0:
        raise InvalidDataset(f"{label} is empty: no examples to estimate", report)
    if report.valid:
        return
    if report.n_errors == count_errors:
        msg = report.first_error.message if report.first_error else "example count out of range"
        warnings.append(f"{label}: {msg}; OpenAI would refuse this file, the estimate shows what it would cost")
        return
    raise InvalidDataset(_first_error_text(report, label), report)


def _lifecycle(entry: ModelEntry, today: dt.date) -> list[str]:
    out = []
    if entry.training_until and not entry.training_open(today):
        out.append(
            f"{entry.snapshot}: new fine-tuning jobs are refused since {entry.training_until} (training_until); "
            "this estimate is historical / what-if only"
        )
    elif entry.training_until:
        days = (entry.training_until - today).days
        if days <= 90:
            out.append(f"{entry.snapshot}: new fine-tuning jobs end on {entry.training_until} ({days} days left)")
    if entry.inference_until and not entry.inference_open(today):
        out.append(f"{entry.snapshot}: the model and its fine-tunes stopped serving on {entry.inference_until}")
    elif entry.inference_until:
        out.append(f"{entry.snapshot}: fine-tuned models stop serving on {entry.inference_until}")
    return out


def estimate(
    path: str | os.PathLike[str],
    *,
    model: str,
    method: EstimateMethod = "supervised",
    epochs: int | str = "auto",
    validation_file: str | os.PathLike[str] | None = None,
    hours: Decimal | str | int | None = None,
    catalog: Catalog | str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    today: dt.date | None = None,
    compute_multiplier: Decimal | str = "auto",
    reasoning_effort: str = "default",
    eval_interval: int | str = "auto",
    eval_samples: int | str = "auto",
    batch_size: int | str = "auto",
    graders: Sequence[GraderSpec | GraderUsage] = (),
    workers: int | None = None,
) -> Estimate:
    """Scan `path` for `method` on `model` and price the training job (see the module docstring)."""
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    if method not in METHODS:
        raise PricingError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    entry = cat.resolve(model)
    today = today or cat.effective_date
    warnings: list[str] = []
    if model.strip() != entry.snapshot and not model.strip().startswith("ft:"):
        warnings.append(f"{model} resolved to {entry.snapshot} (OpenAI's fine-tuning API wants the snapshot name)")
    if not entry.allows(method):
        allowed = ", ".join(sorted(entry.methods)) or "none"
        warnings.append(f"{entry.snapshot} does not allow the {method} method (allowed: {allowed})")
    if method == "reinforcement" and not entry.hourly:
        raise PricingError(f"{entry.snapshot} has no hourly RFT price; reinforcement fine-tuning runs on o4-mini")
    if method != "reinforcement" and entry.hourly:
        raise PricingError(f"{entry.snapshot} is billed per hour and supports only the reinforcement method")
    if entry.training is None:
        raise PricingError(f"{entry.snapshot} has no published training price (catalog {cat.catalog_version})")
    warnings.extend(_lifecycle(entry, today))

    scan_method = "supervised" if method == "vision" else method
    report = scan_dataset(path, method=scan_method, model=entry, progress=progress, workers=workers)
    _check(report, "training file", warnings)
    warnings.extend(f"line {f.line}: {f.message}" if f.line else f.message for f in report.warnings[:20])
    if report.n_warnings > 20:
        warnings.append(f"... and {report.n_warnings - 20} more dataset warnings")
    if method == "vision" and report.n_images == 0:
        warnings.append("method vision but the training file holds no images")

    validation = None
    if validation_file is not None:
        vreport = scan_dataset(validation_file, method=scan_method, model=entry, param="validation_file", workers=workers)
        _check(vreport, "validation file", warnings)
        validation = ValidationTokens(n_examples=vreport.n_examples, tokens_per_epoch=vreport.tokens_per_epoch)

    n_epochs = resolve_epochs(epochs, report.n_examples)
    source = (
        f"{cat.source_text(entry.training.source)}, as of {entry.training.as_of}; "
        f"catalog {cat.catalog_version} ({cat.origin})"
    )
    common: dict[str, Any] = dict(
        model=entry.snapshot, requested_model=model, method=method, n_examples=report.n_examples,
        tokens_per_epoch=report.tokens_per_epoch, tokens_per_epoch_low=report.tokens_per_epoch_low,
        n_epochs=n_epochs, trained_tokens=report.tokens_per_epoch * n_epochs,
        trained_tokens_low=report.tokens_per_epoch_low * n_epochs, rate_usd=entry.training.price,
        price_source=source, catalog_version=cat.catalog_version, catalog_effective_date=cat.effective_date,
        tokenizer=entry.tokenizer, training_context=entry.training_context, n_truncated=report.n_truncated,
        n_images=report.n_images, image_tokens=report.image_tokens, validation=validation,
        training_until=entry.training_until, inference_until=entry.inference_until, warnings=warnings,
    )
    if method != "reinforcement":
        if hours is not None:
            raise PricingError("--hours applies to reinforcement fine-tuning only")
        cost = training_cost(
            entry, method=method, tokens_per_epoch=report.tokens_per_epoch, n_epochs=n_epochs,  # type: ignore[arg-type]
            tokens_per_epoch_low=report.tokens_per_epoch_low,
        )
        return Estimate(
            **common, billing_unit="token", training_cost_usd=cost.cost_usd, training_cost_usd_low=cost.cost_usd_low,
            training_cost_usd_high=cost.cost_usd, total_cost_usd=cost.cost_usd, rft=None,
        )
    if hours is not None:
        duration = given_duration(hours)
    else:
        duration = estimate_duration(
            n_examples=report.n_examples, n_validation=validation.n_examples if validation else 0, n_epochs=n_epochs,
            batch_size=batch_size, compute_multiplier=compute_multiplier, reasoning_effort=reasoning_effort,
            eval_interval=eval_interval, eval_samples=eval_samples,
            grader_kind="model" if any(isinstance(g, GraderSpec) for g in graders) else "string",
        )
        warnings.append(
            f"RFT hours are a modelling estimate ({duration.hours_low}-{duration.hours_high} h); pass --hours for a measured figure"
        )
    rcost: RftCost = rft_cost(
        entry, duration, catalog=cat,
        graders=[g for g in graders if isinstance(g, GraderUsage)],
        grader_specs=[g for g in graders if isinstance(g, GraderSpec)],
    )
    rft = RftEstimate(
        hours_low=duration.hours_low, hours_expected=duration.hours_expected, hours_high=duration.hours_high,
        hours_given=duration.given, rate_per_hour_usd=rcost.rate_per_hour, grader_cost_usd=rcost.grader_cost_usd,
        graders=[line.model_dump(mode="json") for line in rcost.graders],
        duration_model="given" if duration.given else "ftsim.pricing.costs.rft duration model (modelling assumption)",
    )
    return Estimate(
        **common, billing_unit="hour", training_cost_usd=rcost.training_cost_usd,
        training_cost_usd_low=rcost.training_cost_usd_low, training_cost_usd_high=rcost.training_cost_usd_high,
        total_cost_usd=rcost.total_cost_usd, rft=rft,
    )


def _write_jsonl(folder: str, name: str, examples: Sequence[Any]) -> str:
    if not isinstance(examples, (list, tuple)):
        raise PricingError(f"{name} examples must be a list of objects")
    path = os.path.join(folder, f"{name}.jsonl")
    with open(path, "w", encoding="utf-8") as fh:
        for example in examples:
            fh.write(json.dumps(example, ensure_ascii=False))
            fh.write("\n")
    return path


def estimate_examples(
    examples: Sequence[dict[str, Any]],
    *,
    validation_examples: Sequence[dict[str, Any]] | None = None,
    **kwargs: Any,
) -> Estimate:
    """`estimate` on inline examples (POST /planning/estimate): the same scan, through a temporary JSONL file."""
    with tempfile.TemporaryDirectory(prefix="ftsim-estimate-") as folder:
        path = _write_jsonl(folder, "training", examples)
        vpath = _write_jsonl(folder, "validation", validation_examples) if validation_examples is not None else None
        return estimate(path, validation_file=vpath, **kwargs)


def summary_lines(est: Estimate) -> list[tuple[str, str]]:
    """(label, value) rows of a human-readable summary, shared by the CLI table and reports."""
    rows = [
        ("model", est.model if est.model == est.requested_model else f"{est.model} ({est.requested_model})"),
        ("method", est.method),
        ("examples", f"{est.n_examples:,}"),
        ("tokens per epoch", f"{est.tokens_per_epoch:,}" + (
            f" (low {est.tokens_per_epoch_low:,})" if est.tokens_per_epoch_low != est.tokens_per_epoch else "")),
        ("epochs", str(est.n_epochs)),
        ("trained tokens", f"{est.trained_tokens:,}"),
    ]
    if est.image_tokens:
        rows.append(("images / image tokens", f"{est.n_images:,} / {est.image_tokens:,}"))
    if est.validation:
        rows.append(("validation tokens (free)", f"{est.validation.tokens_per_epoch:,}"))
    if est.rft:
        rows.append(("billable hours", f"{est.rft.hours_low} / {est.rft.hours_expected} / {est.rft.hours_high} (low/expected/high)"
                     if not est.rft.hours_given else f"{est.rft.hours_expected} (given)"))
        rows.append(("rate", f"{format_usd(est.rate_usd)} per hour"))
        rows.append(("training cost", f"{format_usd(est.training_cost_usd)} (range {format_usd(est.training_cost_usd_low)}"
                     f" - {format_usd(est.training_cost_usd_high)})"))
        if est.rft.grader_cost_usd:
            rows.append(("grader tokens", format_usd(est.rft.grader_cost_usd)))
    else:
        rows.append(("rate", f"{format_usd(est.rate_usd)} per 1M tokens"))
        cost = format_usd(est.training_cost_usd)
        if est.training_cost_usd_low != est.training_cost_usd:
            cost = f"{format_usd(est.training_cost_usd_low)} - {cost} (DPO low - high)"
        rows.append(("training cost", cost))
    rows.append(("total", format_usd(est.total_cost_usd)))
    rows.append(("price source", est.price_source))
    return rows
