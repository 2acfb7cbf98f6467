"""Compare: a fine-tuned model with a short prompt against its base model with a long prompt, at a volume.

Per call (prices per 1M tokens, all Decimal, never rounded until display):

- base path: the base model's prices; the system prompt S plus the user input I are input tokens, of which
  `cached_fraction` x S is billed at the cached-input price; O output tokens.
- tuned path: the fine-tuned model's prices; a short prompt T (default 0) plus I, O output tokens.
  The cached fraction applies to S only (a short prompt rarely reaches the 1,024-token cache threshold).
- `batch_fraction` of the calls are billed at the Batch API prices of each path (stored, never derived).
  Where the catalog has no batch cached price, cached tokens in batch are billed at the batch input price.

Training costs `training_tokens` (billed tokens, epochs included) x the training price, or the estimate of a
dataset (`ftsim.pricing.costs.estimate`), or `training_hours` x the hourly RFT price. All three are optional: with none the
training cost is 0, a warning says so, and the break-even reflects inference only. Retraining every K months adds a
training cost at months K, 2K, ... inside the horizon (and only while the model still accepts training).

Break-even: `ceil(training cost / saving per call)` calls; null when the tuned call is not cheaper, or when
retraining every K months costs more than K months of savings. The horizon is `months` from `today` (default:
the catalog's effective date), capped at the first `inference_until` of the two models, with a warning
(`ftsim.pricing.planning.horizon`). Money strings follow `ftsim.pricing.costs.money.usd_text` (exact, trailing zeros stripped to cents).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ftsim.pricing.planning.horizon import DAYS_PER_MONTH
from ftsim.pricing.planning.horizon import horizon as _horizon
from ftsim.pricing.planning.horizon import trainings as _trainings
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.money import UsdAmount

__all__ = [
    "CompareInput",
    "PathCost",
    "CompareResult",
    "Rates",
    "rates_of",
    "compare",
    "per_call_cost",
    "DAYS_PER_MONTH",
    "Verdict",
    "plain",
    "cents",
    "usd",
]

MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

Verdict = Literal["pays_back", "pays_back_after_horizon", "never_pays_back"]


@dataclass(frozen=True)
class Rates:
    """One model's prices, per 1M tokens: tuned and base, standard and batch, plus training."""

    snapshot: str
    tuned: tuple[Decimal, Decimal, Decimal] | None  # input, cached_input, output (standard)
    tuned_batch: tuple[Decimal, Decimal, Decimal] | None
    base: tuple[Decimal, Decimal, Decimal] | None
    base_batch: tuple[Decimal, Decimal, Decimal] | None
    training_per_1m: Decimal | None
    training_per_hour: Decimal | None
    training_until: dt.date | None
    inference_until: dt.date | None


def _triple(price_set) -> tuple[Decimal, Decimal, Decimal] | None:
    """(input, cached_input, output) of a catalog PriceSet; cached falls back to input."""
    if price_set is None:
        return None
    return (price_set.input, price_set.effective_cached_input, price_set.output)


def rates_of(entry) -> Rates:
    """The prices compare needs, read from a catalog `ModelEntry`."""
    training = entry.training
    return Rates(
        snapshot=entry.snapshot,
        tuned=_triple(entry.tuned.standard) if entry.tuned else None,
        tuned_batch=_triple(entry.tuned.batch) if entry.tuned else None,
        base=_triple(entry.base.standard) if entry.base else None,
        base_batch=_triple(entry.base.batch) if entry.base else None,
        training_per_1m=training.price if training is not None and training.unit == "per_1m_tokens" else None,
        training_per_hour=training.price if training is not None and training.unit == "per_hour" else None,
        training_until=entry.training_until,
        inference_until=entry.inference_until,
    )


class CompareInput(BaseModel):
    """Inputs of `ftsim compare` and `POST /planning/compare`."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="the model to fine-tune (alias, snapshot or ft: name)")
    calls_per_month: int = Field(ge=0)
    system_prompt_tokens: int = Field(ge=0, description="S: the long system prompt of the base path")
    input_tokens: int = Field(ge=0, description="I: user input per call, both paths")
    output_tokens: int = Field(ge=0, description="O: output per call, both paths")
    base_model: str | None = Field(default=None, description="default: the tuned model's own base")
    tuned_system_prompt_tokens: int = Field(default=0, ge=0, description="T: the tuned path's short prompt")
    cached_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    batch_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    training_tokens: int | None = Field(default=None, ge=0, description="billed tokens, epochs included")
    training_file: str | None = Field(default=None, description="a dataset to estimate (CLI / local use)")
    training_hours: Decimal | None = Field(default=None, ge=0, description="RFT: billed training-loop hours")
    method: Literal["supervised", "dpo", "reinforcement"] = "supervised"
    epochs: int | Literal["auto"] | None = Field(default=None, description="with training_file; default auto")
    months: int = Field(default=12, ge=1, le=120, description="horizon, before the lifecycle cap")
    retrain_every: int | None = Field(default=None, ge=1, description="months between retrainings")
    today: dt.date | None = Field(default=None, description="default: the catalog's effective date")

    @model_validator(mode="after")
    def _one_training_source(self) -> "CompareInput":
        """At most one of training_tokens, training_file, training_hours (none: no training cost)."""
        given = [n for n in ("training_tokens", "training_file", "training_hours") if getattr(self, n) is not None]
        if len(given) > 1:
            raise ValueError(
                f"give at most one of training_tokens, training_file or training_hours (got {', '.join(given)})"
            )
        if isinstance(self.epochs, int) and self.epochs < 1:
            raise ValueError("epochs must be >= 1 or 'auto'")
        return self


class PathCost(BaseModel):
    """One path's costs: per call (with its parts), per month, and over the horizon."""

    model: str
    snapshot: str
    prompt_tokens: int
    cost_per_call_usd: UsdAmount
    monthly_cost_usd: UsdAmount
    training_cost_usd: UsdAmount = Decimal("0.00")
    trainings: int = 0
    horizon_cost_usd: UsdAmount
    breakdown_per_call_usd: dict[str, UsdAmount]


class CompareResult(BaseModel):
    """Outputs of `ftsim compare --json` and `POST /planning/compare`."""

    model_config = ConfigDict(protected_namespaces=())

    base: PathCost
    tuned: PathCost
    saving_per_call_usd: UsdAmount
    monthly_savings_usd: UsdAmount
    trained_tokens: int | None
    break_even_calls: int | None
    break_even_months: Decimal | None
    today: dt.date
    horizon_months: Decimal
    horizon_end: dt.date
    net_savings_over_horizon_usd: UsdAmount
    verdict: Verdict
    summary: str
    warnings: list[str]
    inputs: CompareInput


def per_call_cost(
    prices: tuple[Decimal, Decimal, Decimal],
    *,
    prompt_tokens: int,
    cached_tokens: Decimal,
    input_tokens: int,
    output_tokens: int,
) -> dict[str, Decimal]:
    """Cost of one call split into prompt, cached prompt, input and output parts (USD, exact)."""
    p_in, p_cached, p_out = prices
    uncached = Decimal(prompt_tokens) - cached_tokens
    return {
        "system_prompt": uncached * p_in / MILLION,
        "system_prompt_cached": cached_tokens * p_cached / MILLION,
        "input": Decimal(input_tokens) * p_in / MILLION,
        "output": Decimal(output_tokens) * p_out / MILLION,
    }


def _mixed(standard: dict[str, Decimal], batch: dict[str, Decimal], fraction: Decimal) -> dict[str, Decimal]:
    """Blend standard and batch costs by the batch fraction."""
    return {k: standard[k] * (1 - fraction) + batch[k] * fraction for k in standard}


def plain(value: Decimal) -> Decimal:
    """The same value without trailing zeros and without an exponent (0.001480 -> 0.00148)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return Decimal(text or "0")


def cents(value: Decimal) -> Decimal:
    """Rounded half-up to the cent."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _training(params: CompareInput, rates: Rates, *, catalog, today: dt.date) -> tuple[Decimal, int | None, list[str]]:
    """Training cost, trained tokens and warnings from tokens, hours or a dataset."""
    warnings: list[str] = []
    if params.training_tokens is None and params.training_file is None and params.training_hours is None:
        warnings.append(
            "No training cost given (training_tokens, training_file or training_hours): training counted as "
            "$0.00, so the break-even reflects inference only."
        )
        return Decimal(0), None, warnings
    if params.training_hours is not None:
        if rates.training_per_hour is None:
            raise PricingError(f"{rates.snapshot} is not billed by the hour; give training_tokens instead")
        return params.training_hours * rates.training_per_hour, None, warnings
    if params.training_file is not None:
        from ftsim.pricing.costs.estimate import estimate

        path = Path(params.training_file)
        result = estimate(
            path, model=params.model, method=params.method, epochs=params.epochs or "auto", catalog=catalog,
            today=today,
        )
        warnings.extend(getattr(result, "warnings", []) or [])
        return Decimal(result.training_cost_usd), result.trained_tokens, warnings
    if rates.training_per_1m is None:
        raise PricingError(f"{rates.snapshot} is billed by the hour (RFT); give training_hours instead")
    tokens = int(params.training_tokens or 0)
    return Decimal(tokens) * rates.training_per_1m / MILLION, tokens, warnings


def compare(params: CompareInput, *, catalog) -> CompareResult:
    """Both paths' costs, the break-even and a verdict, the horizon capped at the lifecycle dates."""
    tuned_entry = catalog.resolve(params.model)
    base_entry = catalog.resolve(params.base_model) if params.base_model else tuned_entry
    tuned_rates, base_rates = rates_of(tuned_entry), rates_of(base_entry)
    if tuned_rates.tuned is None:
        raise PricingError(f"{tuned_entry.snapshot} has no fine-tuned inference prices: it cannot be compared")
    if base_rates.base is None:
        raise PricingError(f"{base_entry.snapshot} has no base inference prices in the catalog")
    today = params.today or catalog.effective_date
    warnings: list[str] = []

    cached = Decimal(params.system_prompt_tokens) * params.cached_fraction
    base_parts = _path_parts(
        base_rates.base, base_rates.base_batch, params, params.system_prompt_tokens, cached, warnings, "base"
    )
    tuned_parts = _path_parts(
        tuned_rates.tuned, tuned_rates.tuned_batch, params, params.tuned_system_prompt_tokens, Decimal(0),
        warnings, "fine-tuned",
    )
    base_call, tuned_call = sum(base_parts.values(), Decimal(0)), sum(tuned_parts.values(), Decimal(0))
    calls = Decimal(params.calls_per_month)
    base_month, tuned_month = base_call * calls, tuned_call * calls
    training_cost, trained_tokens, training_warnings = _training(params, tuned_rates, catalog=catalog, today=today)
    warnings.extend(training_warnings)

    horizon_end, horizon_months = _horizon(params, today, tuned_entry, base_entry, warnings)
    trainings = _trainings(params, today, horizon_months, tuned_entry, warnings)
    saving = base_call - tuned_call
    break_even_calls: int | None = None
    if saving > 0:
        break_even_calls = math.ceil(training_cost / saving) if training_cost > 0 else 0
        if params.retrain_every and saving * calls * params.retrain_every < training_cost:
            warnings.append(
                f"Retraining every {params.retrain_every} months costs more than the savings of "
                f"{params.retrain_every} months at this volume: the tuned path never pays back."
            )
            break_even_calls = None
    break_even_months = None
    if break_even_calls is not None and calls > 0:
        break_even_months = (Decimal(break_even_calls) / calls).quantize(CENT, rounding=ROUND_HALF_UP)
    if break_even_calls is None:
        verdict: Verdict = "never_pays_back"
    elif break_even_months is None or break_even_months > horizon_months:
        verdict = "pays_back_after_horizon"
    else:
        verdict = "pays_back"
    base_total = base_month * horizon_months
    tuned_total = tuned_month * horizon_months + training_cost * trainings
    result = CompareResult(
        base=PathCost(
            model=params.base_model or params.model, snapshot=base_entry.snapshot,
            prompt_tokens=params.system_prompt_tokens + params.input_tokens, cost_per_call_usd=plain(base_call),
            monthly_cost_usd=cents(base_month), horizon_cost_usd=cents(base_total),
            breakdown_per_call_usd={k: plain(v) for k, v in base_parts.items()},
        ),
        tuned=PathCost(
            model=params.model, snapshot=tuned_entry.snapshot,
            prompt_tokens=params.tuned_system_prompt_tokens + params.input_tokens,
            cost_per_call_usd=plain(tuned_call), monthly_cost_usd=cents(tuned_month),
            training_cost_usd=cents(training_cost), trainings=trainings, horizon_cost_usd=cents(tuned_total),
            breakdown_per_call_usd={k: plain(v) for k, v in tuned_parts.items()},
        ),
        saving_per_call_usd=plain(saving),
        monthly_savings_usd=cents(base_month - tuned_month),
        trained_tokens=trained_tokens,
        break_even_calls=break_even_calls,
        break_even_months=break_even_months,
        today=today,
        horizon_months=horizon_months,
        horizon_end=horizon_end,
        net_savings_over_horizon_usd=cents(base_total - tuned_total),
        verdict=verdict,
        summary="",
        warnings=warnings,
        inputs=params,
    )
    result.summary = summarize(result)
    return result


def _path_parts(
    standard, batch, params: CompareInput, prompt: int, cached: Decimal, warnings: list[str], label: str
) -> dict[str, Decimal]:
    """Per-call parts of one path, blending standard and batch prices."""
    def priced(prices: tuple[Decimal, Decimal, Decimal]) -> dict[str, Decimal]:
        return per_call_cost(prices, prompt_tokens=prompt, cached_tokens=cached, input_tokens=params.input_tokens,
                             output_tokens=params.output_tokens)

    parts = priced(standard)
    if params.batch_fraction > 0:
        if batch is None:
            warnings.append(f"No Batch API prices for the {label} path: batch calls priced at standard rates.")
            batch = standard
        parts = _mixed(parts, priced(batch), params.batch_fraction)
    return parts


def usd(value: Decimal, places: int = 2) -> str:
    """A Decimal as a dollar string rounded half-up to `places` decimals."""
    return f"${value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


def summarize(result: CompareResult) -> str:
    """One readable sentence for the verdict."""
    b, t = result.base, result.tuned
    head = (
        f"{t.model} fine-tuned costs {usd(t.cost_per_call_usd, 6)} a call against {usd(b.cost_per_call_usd, 6)} "
        f"for {b.model} with the long prompt; training costs {usd(t.training_cost_usd)}."
    )
    if result.verdict == "never_pays_back":
        return head + " The tuned path never pays back."
    if result.break_even_calls == 0:
        return head + " With no training cost to repay, it is cheaper from the first call."
    when = f"{result.break_even_calls:,} calls"
    if result.break_even_months is not None:
        when += f" ({result.break_even_months} months at this volume)"
    if result.verdict == "pays_back_after_horizon":
        return head + f" It pays back after {when}, beyond the {result.horizon_months}-month horizon."
    return head + f" It pays back after {when}."
