"""`estimate(...)`: a dataset -> `Estimate`, the JSON of `ftsim estimate` and `POST /planning/estimate`.

Token counts come from `ftsim.pricing.dataset.scan.scan_dataset` (read + validate + count, every core); prices from the catalog.
- supervised / dpo / vision: trained tokens = billed tokens per epoch × epochs (DPO: high bound, with the low
  bound alongside); validation tokens are counted and reported but free;
- reinforcement: hours (given, or the documented duration model of `ftsim.pricing.costs.rft`, as low/expected/high) × the
  hourly rate, plus grader-model tokens.
A dataset with errors is refused (`InvalidDataset`, naming the first error) unless `partial=True`: then the
valid examples are priced, the errors grouped by code (count and first lines), and the estimate is labelled
`partial` (the CLI's default; `--strict` refuses). A file with no valid example is always refused. OpenAI's
10-example minimum is not an error here: a smaller but otherwise valid file is priced with a warning.

`provider="azure"` prices the same counts at Azure OpenAI's rates for `azure_tier` (per 1M tokens, or per hour
for RFT with the per-job cap, grader tokens at Azure's data-zone rates). Every estimate carries its `as_of` date.
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
from ftsim.pricing.costs.money import UsdAmount, format_usd, per_million
from ftsim.pricing.costs.rft import GraderSpec, GraderUsage, RftCost, estimate_duration, given_duration, rft_cost
from ftsim.pricing.dataset.scan import DatasetReport, scan_dataset
from ftsim.pricing.costs.training import resolve_epochs, training_cost

__all__ = ["Estimate", "ErrorGroup", "error_groups", "RftEstimate", "ValidationTokens", "InvalidDataset", "estimate", "estimate_examples", "summary_lines", "METHODS"]

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


class ErrorGroup(BaseModel):
    """Dataset errors of one code: how many, and the first lines where they occur."""

    model_config = ConfigDict(frozen=True)

    code: str
    count: int
    first_lines: list[int]
    message: str


class Estimate(BaseModel):
    """What a fine-tuning job on a dataset will cost (money as exact decimal strings in JSON)."""

    model_config = ConfigDict(frozen=True)

    as_of: dt.date
    provider: Literal["openai", "azure"] = "openai"
    azure_tier: str | None = None
    partial: bool = False
    n_lines_with_errors: int = 0
    errors: list[ErrorGroup] = []
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


def error_groups(report: DatasetReport, limit: int = 5) -> list[ErrorGroup]:
    """The report's errors grouped by code: count, first lines (from the sampled findings), first message."""
    codes = {f.code for f in report.findings if f.severity == "error"}
    groups = []
    for code in sorted(codes, key=lambda c: (-report.counts.get(c, 0), c)):
        found = [f for f in report.findings if f.code == code and f.severity == "error"]
        lines = sorted({f.line for f in found if f.line})[:limit]
        groups.append(ErrorGroup(code=code, count=report.counts.get(code, len(found)), first_lines=lines,
                                 message=found[0].message.strip()))
    return groups


def _check(report: DatasetReport, label: str, warnings: list[str], partial: bool = False) -> bool:
    """Refuse a report with errors, except OpenAI's example-count limits (a warning when the rest is valid).
    With `partial`, errors leave the valid examples to price: True when the estimate is partial."""
    count_errors = report.counts.get("invalid_n_examples", 0)
    if report.n_errors > count_errors:
        if not partial or report.n_counted == 0:
            raise InvalidDataset(_first_error_text(report, label), report)
        bad = report.n_examples - report.n_counted
        warnings.insert(0, (
            f"PARTIAL ESTIMATE: {label} has {report.n_errors - count_errors:,} errors on {bad:,} of "
            f"{report.n_examples:,} examples; only the {report.n_counted:,} valid examples are priced, and OpenAI "
            "would refuse the file as it is (see errors; --strict refuses)."
        ))
        return True
    if report.n_examples == 0:
        raise InvalidDataset(f"{label} is empty: no examples to estimate", report)
    if report.valid:
        return False
    if report.n_errors == count_errors:
        msg = report.first_error.message if report.first_error else "example count out of range"
        warnings.append(f"{label}: {msg}; OpenAI would refuse this file, the estimate shows what it would cost")
        return False
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
        days = (entry.inference_until - today).days
        out.append(f"{entry.snapshot}: fine-tuned models stop serving on {entry.inference_until} "
                   f"({days} days after {today.isoformat()})")
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
    partial: bool = False,
    provider: Literal["openai", "azure"] = "openai",
    azure_tier: str = "global",
    azure_existing_customer: bool = False,
) -> Estimate:
    """Scan `path` for `method` on `model` and price the training job (see the module docstring)."""
    cat = catalog if isinstance(catalog, Catalog) else load_catalog(catalog)
    if method not in METHODS:
        raise PricingError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    entry = cat.resolve(model)
    today = today or cat.effective_date
    cat.check_as_of(today)
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
    if provider == "azure":
        azure_entry, azure_rate, azure_notes = _azure_pricing(entry, method, azure_tier, azure_existing_customer, today)
        warnings.extend(azure_notes)
    else:
        warnings.extend(_lifecycle(entry, today))
    _check_graders(graders, today, provider)

    scan_method = "supervised" if method == "vision" else method
    report = scan_dataset(path, method=scan_method, model=entry, progress=progress, workers=workers)
    is_partial = _check(report, "training file", warnings, partial)
    n_priced = report.n_counted if is_partial else report.n_examples
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

    n_epochs = resolve_epochs(epochs, n_priced)
    source = (
        f"{cat.source_text(entry.training.source)}, as of {entry.training.as_of}; "
        f"catalog {cat.catalog_version} ({cat.origin})"
    )
    rate = entry.training.price
    if provider == "azure":
        from ftsim.pricing.catalog.providers import load_providers

        providers = load_providers()
        rate = azure_rate
        source = f"{providers.source_text(azure_entry.source)}, Azure {azure_tier}; {providers.version}"
    common: dict[str, Any] = dict(
        as_of=today, provider=provider, azure_tier=azure_tier if provider == "azure" else None, partial=is_partial,
        n_lines_with_errors=report.n_examples - report.n_counted if is_partial else 0,
        errors=error_groups(report) if is_partial else [],
        model=entry.snapshot, requested_model=model, method=method, n_examples=n_priced,
        tokens_per_epoch=report.tokens_per_epoch, tokens_per_epoch_low=report.tokens_per_epoch_low,
        n_epochs=n_epochs, trained_tokens=report.tokens_per_epoch * n_epochs,
        trained_tokens_low=report.tokens_per_epoch_low * n_epochs, rate_usd=rate,
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
        if provider == "azure":
            high = per_million(rate, report.tokens_per_epoch * n_epochs)
            low = per_million(rate, report.tokens_per_epoch_low * n_epochs)
            cost = cost.model_copy(update={"cost_usd": high, "cost_usd_low": low})
        return Estimate(
            **common, billing_unit="token", training_cost_usd=cost.cost_usd, training_cost_usd_low=cost.cost_usd_low,
            training_cost_usd_high=cost.cost_usd, total_cost_usd=cost.cost_usd, rft=None,
        )
    if hours is not None:
        duration = given_duration(hours)
    else:
        duration = estimate_duration(
            n_examples=n_priced, n_validation=validation.n_examples if validation else 0, n_epochs=n_epochs,
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
    if provider == "azure":
        rcost = _azure_rft(rcost, rate, warnings)
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


def _azure_pricing(entry: ModelEntry, method: str, tier: str, existing: bool, today: dt.date):
    """The Azure entry and training rate for this model, method and tier, with Azure's lifecycle notes."""
    from ftsim.pricing.catalog.providers import AZURE_TIERS, load_providers

    azure = load_providers().azure
    if tier not in AZURE_TIERS:
        raise PricingError(f"azure_tier must be one of {', '.join(AZURE_TIERS)}, got {tier!r}")
    found = azure.resolve(entry.snapshot)
    if method not in found.methods:
        raise PricingError(f"Azure OpenAI does not offer {method} fine-tuning of {found.snapshot} "
                           f"(there: {', '.join(sorted(found.methods))})")
    rate = found.training_price(tier, azure.tiers)
    if rate is None:
        raise PricingError(f"Azure publishes no {tier} training price for {found.snapshot}")
    notes = []
    until = found.training_until(existing)
    if until is not None and today >= until:
        who = "existing customers" if existing else "new customers"
        notes.append(f"Azure will not train this: {found.snapshot} training ended for {who} on {until.isoformat()}; "
                     "this estimate is what-if only")
    elif until is not None:
        notes.append(f"{found.snapshot} on Azure: new training jobs until {until.isoformat()} "
                     f"({(until - today).days} days left)")
    if found.deployment_until is not None:
        notes.append(f"{found.snapshot} on Azure: fine-tuned deployments retire on {found.deployment_until.isoformat()}")
    if tier == "developer":
        notes.append("Azure Developer tier: half-price training, deployments deleted after 24 hours (evaluation only)")
    return found, rate, notes


def _azure_rft(rcost: RftCost, rate: Decimal, warnings: list[str]) -> RftCost:
    """An RFT cost re-priced at Azure's hourly rate, graders at Azure's data-zone rates, the pair capped per job
    (Microsoft's RFT how-to: jobs pause "once they have hit $5K in total training costs (training + grading)";
    the grading is counted in full, the training stops where the pair reaches the cap, as the simulator bills it)."""
    from ftsim.pricing.catalog.providers import load_providers

    azure = load_providers().azure
    cap = azure.rft_job_cap_usd
    d = rcost.duration
    lines = []
    for line in rcost.graders:
        grader = azure.grader(line.model)
        if grader is None or grader.input is None or grader.output is None:
            warnings.append(f"no Azure data-zone price for grader {line.model}: priced at OpenAI's rate")
            lines.append(line)
            continue
        cost = per_million(grader.input, line.input_tokens) + per_million(grader.output, line.output_tokens)
        lines.append(line.model_copy(update={"cost_usd": cost}))
    graders_total = sum((line.cost_usd for line in lines), Decimal(0))

    def hourly(hours: Decimal) -> Decimal:
        # Azure bills RFT time "in hours rounded to two decimal places" (cost-management doc, as the simulator's
        # Azure bill does): the duration's hours, which are the invoice's (2 decimals, half up), not its seconds
        return min(azure.rft_charge(rate, hours), cap - min(graders_total, cap))

    expected = hourly(d.hours_expected)
    if rate * d.hours_expected + graders_total > cap:
        warnings.append(f"Azure caps an RFT job at {format_usd(cap)} of training and grading: training pauses at "
                        "the cap with a deployable checkpoint (resuming continues without a cap)")
    return rcost.model_copy(update={
        "rate_per_hour": rate, "training_cost_usd_low": hourly(d.hours_low),
        "training_cost_usd": expected, "training_cost_usd_high": hourly(d.hours_high),
        "graders": tuple(lines), "grader_cost_usd": graders_total, "total_cost_usd": expected + graders_total,
    })


def _check_graders(graders: Sequence[GraderSpec | GraderUsage], today: dt.date, provider: str) -> None:
    """Refuse a grader model that no longer serves on `today` (OpenAI's or Azure's retirement dates)."""
    from ftsim.pricing.catalog.providers import load_providers

    providers = load_providers()
    for grader in graders:
        if provider == "azure":
            found = providers.azure.grader(grader.model)
            end, source = (found.retirement, found.source) if found else (None, None)
        else:
            found_o = providers.openai_grader_shutdown(grader.model)
            end, source = (found_o.shutdown, found_o.source) if found_o else (None, None)
        if end is not None and today >= end:
            raise PricingError(
                f"grader model {grader.model} no longer serves on {provider} since {end.isoformat()} "
                f"({providers.source_text(source or '')}): choose a grader model that still serves on {today.isoformat()}"
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
    rows = []
    if est.partial:
        bad = est.n_lines_with_errors
        rows.append(("PARTIAL", f"priced {est.n_examples:,} valid example{'s' * (est.n_examples != 1)}; {bad:,} "
                                f"example{'s' * (bad != 1)} with errors left out (OpenAI would refuse the file as "
                                "it is)"))
        for group in est.errors:
            lines = ", ".join(str(n) for n in group.first_lines)
            where = f", first at line{'s' * (len(group.first_lines) != 1)} {lines}" if lines else ""
            rows.append((f"  {group.code}", f"{group.count:,} x" + where
                         + f": {group.message[:120]}"))
    rows += [
        ("as of", est.as_of.isoformat()),
        ("provider", "OpenAI" if est.provider == "openai" else f"Azure OpenAI ({est.azure_tier})"),
        ("model", est.model if est.model == est.requested_model else f"{est.model} ({est.requested_model})"),
        ("method", est.method),
        ("examples", f"{est.n_examples:,}" + (" (valid only)" if est.partial else "")),
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
    rows.append(("total", format_usd(est.total_cost_usd) + (" (PARTIAL: valid examples only)" if est.partial else "")))
    rows.append(("price source", est.price_source))
    return rows
