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

Providers (`provider`): `openai` prices both paths from the OpenAI catalog; `azure` from Azure OpenAI's
(`ftsim.pricing.catalog.providers`): tuned inference costs the base model's price (regional and Data Zone
deployments pay the uplift), and each fine-tuned deployment pays hosting per hour whatever its traffic
(`deployments` x rate x 730 h a month; the Developer tier pays none). `compare_providers` runs both.

One definition of break-even, used everywhere: **the monthly call volume at which the tuned path's total cost
over the horizon equals the base path's** (training, retraining, hosting and any after-shutdown cost included):
`break_even_calls_per_month = (trainings x training cost + after-shutdown cost + hosting a month x H) /
(saving per call x H)`, rounded up; null when the tuned call is not cheaper. At the given volume the result
also gives the payback time (`break_even_months`, `break_even_calls` cumulative calls) and the cached share
of the system prompt at which the tuned path stops paying back (`break_even_cached_fraction`).

Caching: OpenAI and Azure cache prompts of 1,024 tokens or more automatically. When `cached_fraction` is not
given and S >= 1,024, `DEFAULT_CACHED_FRACTION` of S is assumed cached, and a warning says so.

The horizon is `months` from `today` (default: the catalog's effective date; the CLI passes today's date and
HTTP the simulated clock's), capped at the models' shutdown (`ftsim.pricing.planning.horizon`; on Azure the
fine-tuned deployments' retirement). Whether the provider will train at all on `today` decides the verdict
`cannot_train` (OpenAI's wind-down; a model's training end). Money strings follow
`ftsim.pricing.costs.money.usd_text` (exact, trailing zeros stripped to cents).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ftsim.pricing.planning.bounds import (
    MAX_AS_OF, MAX_CALLS_PER_MONTH, MAX_DEPLOYMENTS, MAX_TOKENS_PER_CALL, MAX_TRAINING_HOURS, MAX_TRAINING_TOKENS,
    MAX_USD,
)
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
    "Provider",
    "ProviderComparison",
    "compare_providers",
    "DEFAULT_CACHED_FRACTION",
    "CACHE_MIN_TOKENS",
]

MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")

Verdict = Literal["pays_back", "pays_back_after_horizon", "never_pays_back", "cannot_train"]
Provider = Literal["openai", "azure"]

CACHE_MIN_TOKENS = 1024  # OpenAI and Azure cache prompts of at least 1,024 tokens automatically
# The share of a long system prompt billed as cached when the user does not say. No source gives a typical hit
# rate (it depends on traffic spacing and prefix stability); half is ftsim's middle assumption, always warned
# about, and every result also gives the share at which the verdict flips.
DEFAULT_CACHED_FRACTION = Decimal("0.5")
SHARE = Decimal("0.0001")


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
    calls_per_month: int = Field(ge=0, le=MAX_CALLS_PER_MONTH)
    system_prompt_tokens: int = Field(
        ge=0, le=MAX_TOKENS_PER_CALL, description="S: the long system prompt of the base path"
    )
    input_tokens: int = Field(ge=0, le=MAX_TOKENS_PER_CALL, description="I: user input per call, both paths")
    output_tokens: int = Field(ge=0, le=MAX_TOKENS_PER_CALL, description="O: output per call, both paths")
    base_model: str | None = Field(default=None, description="default: the tuned model's own base")
    tuned_system_prompt_tokens: int = Field(
        default=0, ge=0, le=MAX_TOKENS_PER_CALL, description="T: the tuned path's short prompt"
    )
    cached_fraction: Decimal | None = Field(
        default=None, ge=0, le=1,
        description="share of S billed as cached; default 0.5 when S >= 1,024 tokens (warned), else 0",
    )
    batch_fraction: Decimal = Field(default=Decimal(0), ge=0, le=1)
    training_tokens: int | None = Field(
        default=None, ge=0, le=MAX_TRAINING_TOKENS, description="billed tokens, epochs included"
    )
    training_file: str | None = Field(default=None, description="a dataset to estimate (CLI / local use)")
    training_hours: Decimal | None = Field(
        default=None, ge=0, le=MAX_TRAINING_HOURS, description="RFT: billed training-loop hours"
    )
    method: Literal["supervised", "dpo", "reinforcement"] = "supervised"
    epochs: int | Literal["auto"] | None = Field(default=None, description="with training_file; default auto")
    months: int = Field(default=12, ge=1, le=120, description="horizon, before the lifecycle cap")
    retrain_every: int | None = Field(default=None, ge=1, le=120, description="months between retrainings")
    today: dt.date | None = Field(default=None, le=MAX_AS_OF,
                                  description="the as-of date; default: the catalog's effective date")
    provider: Literal["openai", "azure", "both"] = Field(default="openai", description="where the model is tuned")
    azure_tier: Literal["global", "data_zone", "regional_us", "regional_sweden", "developer"] = Field(
        default="global", description="Azure training and deployment type"
    )
    deployments: int = Field(default=1, ge=1, le=MAX_DEPLOYMENTS, description="Azure: fine-tuned deployments kept")
    hosting_region: Literal["default", "southeast_asia"] = Field(default="default", description="Azure hosting rate")
    azure_existing_customer: bool = Field(
        default=False, description="Azure: already fine-tunes there (keeps training past the base's retirement)"
    )
    has_fine_tuned_before: bool | None = Field(default=None, description="OpenAI: the organization has fine-tuned")
    recent_fine_tuned_inference: bool | None = Field(
        default=None, description="OpenAI: inference on a fine-tuned model in the last 60 days"
    )
    after_shutdown_cost_usd: Decimal = Field(
        default=Decimal(0), ge=0, le=MAX_USD,
        description="one-off cost of retraining elsewhere when the tuned model shuts down inside the horizon",
    )

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
    hosting_monthly_usd: UsdAmount = Decimal("0.00")
    horizon_cost_usd: UsdAmount
    breakdown_per_call_usd: dict[str, UsdAmount]


class CompareResult(BaseModel):
    """Outputs of `ftsim compare --json` and `POST /planning/compare`."""

    model_config = ConfigDict(protected_namespaces=())

    provider: Provider = "openai"
    as_of: dt.date
    base: PathCost
    tuned: PathCost
    saving_per_call_usd: UsdAmount
    monthly_savings_usd: UsdAmount
    trained_tokens: int | None
    break_even_calls_per_month: int | None = Field(
        description="the volume at which the tuned path's horizon total equals the base path's"
    )
    break_even_cached_fraction: Decimal | None = Field(
        description="at this volume, the cached share of S above which the tuned path no longer pays back "
        "(0: not even uncached; 1: even fully cached; null: caching does not change the answer)"
    )
    break_even_calls: int | None = Field(description="payback: cumulative calls until the savings repay the costs")
    break_even_months: Decimal | None = Field(description="payback time at this volume")
    cached_fraction: Decimal
    cached_fraction_assumed: bool
    today: dt.date
    horizon_months: Decimal
    horizon_end: dt.date
    net_savings_over_horizon_usd: UsdAmount
    verdict: Verdict
    can_train: bool | None
    eligibility: str
    summary: str
    warnings: list[str]
    catalog_version: str
    price_sources: list[str]
    inputs: CompareInput


class ProviderComparison(BaseModel):
    """`compare --provider both`: the same scenario on OpenAI and on Azure OpenAI, side by side."""

    as_of: dt.date
    results: list[CompareResult]
    unavailable: dict[str, str] = Field(default_factory=dict, description="provider -> why it has no result")
    best: str | None = Field(description="the provider and path with the lowest horizon total that can run")
    summary: str
    warnings: list[str]


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


@dataclass(frozen=True)
class _Lifecycle:
    """What the horizon and retraining rules read: a snapshot with its training end and shutdown."""

    snapshot: str
    training_until: dt.date | None
    inference_until: dt.date | None


@dataclass
class _Plan:
    """One provider's prices and rules for the two paths."""

    provider: str
    base_snapshot: str
    tuned_snapshot: str
    base_std: tuple[Decimal, Decimal, Decimal]
    base_batch: tuple[Decimal, Decimal, Decimal] | None
    tuned_std: tuple[Decimal, Decimal, Decimal]
    tuned_batch: tuple[Decimal, Decimal, Decimal] | None
    training_per_1m: Decimal | None
    training_per_hour: Decimal | None
    hosting_monthly: Decimal
    job_cap: Decimal | None
    tuned_life: _Lifecycle
    base_life: _Lifecycle
    can_train: bool | None
    eligibility: str
    sources: list[str]


def _training(params: CompareInput, plan: _Plan, *, catalog, today: dt.date,
              progress: Callable[[int, int], None] | None = None) -> tuple[Decimal, int | None, list[str]]:
    """Training cost, trained tokens and warnings from tokens, hours or a dataset."""
    warnings: list[str] = []
    if params.training_tokens is None and params.training_file is None and params.training_hours is None:
        warnings.append(
            "No training cost given (training_tokens, training_file or training_hours): training counted as "
            "$0.00, so the break-even reflects inference only."
        )
        return Decimal(0), None, warnings
    if params.training_hours is not None:
        if plan.training_per_hour is None:
            raise PricingError(f"{plan.tuned_snapshot} is not billed by the hour; give training_tokens instead")
        cost = params.training_hours * plan.training_per_hour
        if plan.job_cap is not None and cost > plan.job_cap:
            warnings.append(
                f"Azure caps an RFT job at {usd(plan.job_cap)}: {params.training_hours} h at "
                f"{usd(plan.training_per_hour)}/h would cost {usd(cost)}; training pauses at the cap with a "
                "deployable checkpoint (resuming continues without a cap)."
            )
            cost = plan.job_cap
        return cost, None, warnings
    if plan.training_per_1m is None:
        raise PricingError(f"{plan.tuned_snapshot} is billed by the hour (RFT); give training_hours instead")
    if params.training_file is not None:
        from ftsim.pricing.costs.estimate import estimate

        path = Path(params.training_file)
        result = estimate(
            path, model=params.model, method=params.method, epochs=params.epochs or "auto", catalog=catalog,
            today=today, progress=progress,
        )
        warnings.extend(getattr(result, "warnings", []) or [])
        tokens = result.trained_tokens
    else:
        tokens = int(params.training_tokens or 0)
    return Decimal(tokens) * plan.training_per_1m / MILLION, tokens, warnings


def _openai_plan(params: CompareInput, catalog, today: dt.date) -> _Plan:
    from ftsim.pricing.catalog.providers import load_providers, openai_training_block

    tuned_entry = catalog.resolve(params.model)
    base_entry = catalog.resolve(params.base_model) if params.base_model else tuned_entry
    tuned_rates, base_rates = rates_of(tuned_entry), rates_of(base_entry)
    if tuned_rates.tuned is None:
        raise PricingError(f"{tuned_entry.snapshot} has no fine-tuned inference prices: it cannot be compared")
    if base_rates.base is None:
        raise PricingError(f"{base_entry.snapshot} has no base inference prices in the catalog")
    providers = load_providers()
    eligibility = openai_training_block(
        providers, today, has_fine_tuned_before=params.has_fine_tuned_before,
        recent_fine_tuned_inference=params.recent_fine_tuned_inference,
    )
    can_train, reason = eligibility.allowed, eligibility.reason
    if not tuned_entry.training_open(today):
        can_train = False
        reason = (f"OpenAI will not train this: {tuned_entry.snapshot} accepts no new fine-tuning jobs since "
                  f"{tuned_entry.training_until.isoformat()}.")
    elif _method(params) not in tuned_entry.methods and tuned_entry.methods:
        can_train = False
        reason = f"OpenAI will not train this: {tuned_entry.snapshot} does not allow the {_method(params)} method."
    sources = sorted({catalog.source_text(t.source) for t in _sources_of(tuned_entry) + _sources_of(base_entry)})
    sources.append(providers.source_text("OAI-DEP"))  # the wind-down rules applied to every OpenAI result
    return _Plan(
        provider="openai", base_snapshot=base_entry.snapshot, tuned_snapshot=tuned_entry.snapshot,
        base_std=base_rates.base, base_batch=base_rates.base_batch, tuned_std=tuned_rates.tuned,
        tuned_batch=tuned_rates.tuned_batch, training_per_1m=tuned_rates.training_per_1m,
        training_per_hour=tuned_rates.training_per_hour, hosting_monthly=Decimal(0), job_cap=None,
        tuned_life=_Lifecycle(tuned_entry.snapshot, tuned_entry.training_until, tuned_entry.inference_until),
        base_life=_Lifecycle(base_entry.snapshot, base_entry.training_until, base_entry.inference_until),
        can_train=can_train, eligibility=reason, sources=sources,
    )


def _method(params: CompareInput) -> str:
    """The training method: hours of training mean reinforcement fine-tuning."""
    return "reinforcement" if params.training_hours is not None else params.method


def _sources_of(entry) -> list:
    out = [entry.training] if entry.training else []
    for tier in (entry.tuned, entry.base):
        if tier is not None:
            out.append(tier.standard)
    return out


def _azure_plan(params: CompareInput, today: dt.date, warnings: list[str]) -> _Plan:
    from ftsim.pricing.catalog.providers import load_providers

    providers = load_providers()
    azure = providers.azure
    tuned = azure.resolve(params.model)
    if params.base_model and azure.resolve(params.base_model).snapshot != tuned.snapshot:
        raise PricingError("on Azure the base path is the tuned model's own base (tuned inference costs its price)")
    tier = azure.tiers[params.azure_tier]
    inf = azure.inference_prices(tuned, params.azure_tier)  # one source with the simulator's Azure bill
    prices = (inf.input, inf.cached_input, inf.output)
    rate = tuned.training_price(params.azure_tier, azure.tiers)
    per_1m = rate if tuned.training_unit == "per_1m_tokens" else None
    per_hour = rate if tuned.training_unit == "per_hour" else None
    if rate is None:
        raise PricingError(f"Azure publishes no {tier.label} training price for {tuned.snapshot}")
    hosting = Decimal(0)
    if tier.hosting:
        hosting = azure.hosting_rate(params.hosting_region) * azure.hours_per_month * params.deployments
    else:
        warnings.append(
            "Azure Developer tier: no hosting fee, but deployments are deleted after 24 hours and carry no SLA: "
            "figures for evaluation, not for serving production traffic."
        )
    if params.batch_fraction > 0:
        warnings.append("Azure Batch prices for fine-tuned deployments are not in the catalog: batch calls priced "
                        "at standard rates.")
    training_until = tuned.training_until(params.azure_existing_customer)
    can_train: bool | None = True
    reason = f"Azure OpenAI accepts {tier.label} fine-tuning of {tuned.snapshot}"
    reason += f" until {training_until.isoformat()}." if training_until else " (no announced end)."
    if _method(params) not in tuned.methods:
        can_train, reason = False, f"Azure will not train this: {tuned.snapshot} does not allow {_method(params)} there."
    elif training_until is not None and today >= training_until:
        can_train = False
        who = "existing customers" if params.azure_existing_customer else "new customers"
        reason = (f"Azure will not train this: {tuned.snapshot} training ended for {who} on "
                  f"{training_until.isoformat()}" + ("" if params.azure_existing_customer else
                                                      " (existing Azure fine-tuning customers keep it until "
                                                      f"{tuned.training_until_existing})") + ".")
    life = _Lifecycle(tuned.snapshot, training_until, tuned.deployment_until)
    sources = sorted({providers.source_text(tuned.source), providers.source_text(tuned.lifecycle_source),
                      providers.source_text(azure.hosting_source)})
    return _Plan(
        provider="azure", base_snapshot=tuned.snapshot, tuned_snapshot=tuned.snapshot, base_std=prices,
        base_batch=None, tuned_std=prices, tuned_batch=None, training_per_1m=per_1m, training_per_hour=per_hour,
        hosting_monthly=hosting, job_cap=azure.rft_job_cap_usd, tuned_life=life, base_life=life,
        can_train=can_train, eligibility=reason, sources=sources,
    )


def _cached_share(params: CompareInput, warnings: list[str]) -> tuple[Decimal, bool]:
    if params.cached_fraction is not None:
        return params.cached_fraction, False
    if params.system_prompt_tokens >= CACHE_MIN_TOKENS:
        return DEFAULT_CACHED_FRACTION, True
    return Decimal(0), False


def compare(params: CompareInput, *, catalog, progress: Callable[[int, int], None] | None = None) -> CompareResult:
    """Both paths' costs, the break-even and a verdict on one provider (`provider` both: use compare_providers).

    `progress(done, total)`: bytes scanned of `training_file`, when one is given.
    """
    if params.provider == "both":
        raise PricingError("provider 'both' gives two results: use compare_providers")
    today = params.today or catalog.effective_date
    catalog.check_as_of(today)
    warnings: list[str] = []
    plan = _azure_plan(params, today, warnings) if params.provider == "azure" else _openai_plan(params, catalog, today)
    share, assumed = _cached_share(params, warnings)

    cached = Decimal(params.system_prompt_tokens) * share
    base_parts = _path_parts(plan.base_std, plan.base_batch, params, params.system_prompt_tokens, cached, warnings,
                             "base", plan.provider)
    tuned_parts = _path_parts(plan.tuned_std, plan.tuned_batch, params, params.tuned_system_prompt_tokens,
                              Decimal(0), warnings, "fine-tuned", plan.provider)
    base_call, tuned_call = sum(base_parts.values(), Decimal(0)), sum(tuned_parts.values(), Decimal(0))
    calls = Decimal(params.calls_per_month)
    base_month, tuned_month = base_call * calls, tuned_call * calls + plan.hosting_monthly
    training_cost, trained_tokens, training_warnings = _training(params, plan, catalog=catalog, today=today,
                                                                 progress=progress)
    warnings.extend(training_warnings)

    horizon_end, horizon_months = _horizon(params, today, plan.tuned_life, plan.base_life, warnings)
    trainings = _trainings(params, today, horizon_months, plan.tuned_life, warnings)
    after_shutdown = Decimal(0)
    # Only the fine-tune's own shutdown forces retraining elsewhere; a horizon ended by the base model's shutdown
    # (the first of the two, `horizon`) leaves the fine-tune serving.
    tuned_ends = plan.tuned_life.inference_until
    if params.after_shutdown_cost_usd and horizon_months < params.months and tuned_ends is not None \
            and tuned_ends <= horizon_end:
        after_shutdown = params.after_shutdown_cost_usd
        warnings.append(f"The tuned model stops serving on {horizon_end.isoformat()}, inside the {params.months} "
                        f"months asked: {usd(after_shutdown)} of retraining elsewhere is added to the tuned path.")
    saving = base_call - tuned_call
    fixed_total = training_cost * trainings + after_shutdown + plan.hosting_monthly * horizon_months

    be_volume: int | None = None
    if saving > 0 and horizon_months > 0:
        be_volume = math.ceil(fixed_total / (saving * horizon_months))
    monthly_net = saving * calls - plan.hosting_monthly
    break_even_calls: int | None = None
    break_even_months: Decimal | None = None
    if saving > 0 and plan.hosting_monthly == 0:
        break_even_calls = math.ceil(training_cost / saving) if training_cost > 0 else 0
        if calls > 0:
            break_even_months = (Decimal(break_even_calls) / calls).quantize(CENT, rounding=ROUND_HALF_UP)
    elif monthly_net > 0:
        break_even_months = (training_cost / monthly_net).quantize(CENT, rounding=ROUND_HALF_UP)
        break_even_calls = math.ceil(training_cost / monthly_net * calls)
    if break_even_calls is not None and params.retrain_every and monthly_net * params.retrain_every < training_cost:
        warnings.append(
            f"Retraining every {params.retrain_every} months costs more than the savings of "
            f"{params.retrain_every} months at this volume: the tuned path never pays back."
        )
        break_even_calls, break_even_months = None, None
    if break_even_calls is not None and after_shutdown and monthly_net * horizon_months < (
            training_cost * trainings + after_shutdown):
        # The model serves no longer than the horizon, so savings after it cannot repay the retraining elsewhere.
        warnings.append(
            f"Over the {horizon_months} months the tuned model serves, its savings ({usd(monthly_net * horizon_months)})"
            f" do not cover its training and the {usd(after_shutdown)} of retraining after it stops serving: the tuned"
            " path never pays back."
        )
        break_even_calls, break_even_months = None, None

    base_total = base_month * horizon_months
    tuned_total = tuned_month * horizon_months + training_cost * trainings + after_shutdown
    be_share = _break_even_share(params, plan, calls, horizon_months, tuned_call, fixed_total, warnings)
    if plan.can_train is False:
        verdict: Verdict = "cannot_train"
    elif break_even_calls is None or (calls == 0 and break_even_calls > 0):
        verdict = "never_pays_back"  # no calls a month never add up to the calls that repay the training
    elif break_even_months is None or break_even_months > horizon_months:
        verdict = "pays_back_after_horizon"
    else:
        verdict = "pays_back"
    if plan.can_train is None:
        warnings.append(plan.eligibility)
    if assumed:
        flip = ""
        if be_share is not None:
            flip = ("; the tuned path does not pay back even uncached" if be_share <= 0 else
                    "; the tuned path pays back even fully cached" if be_share >= 1 else
                    f"; the tuned path stops paying back above a cached share of {_pct(be_share)}")
        warnings.insert(0, (
            f"Cached share not given: {_pct(share)} of the {params.system_prompt_tokens:,}-token system prompt is "
            f"assumed billed as cached (prompts of {CACHE_MIN_TOKENS:,} tokens or more are cached automatically)"
            f"{flip}. Pass cached_fraction (--cached-fraction) for your traffic."
        ))
    result = CompareResult(
        provider=plan.provider,  # type: ignore[arg-type]
        as_of=today,
        base=PathCost(
            model=params.base_model or params.model, snapshot=plan.base_snapshot,
            prompt_tokens=params.system_prompt_tokens + params.input_tokens, cost_per_call_usd=plain(base_call),
            monthly_cost_usd=cents(base_month), horizon_cost_usd=cents(base_total),
            breakdown_per_call_usd={k: plain(v) for k, v in base_parts.items()},
        ),
        tuned=PathCost(
            model=params.model, snapshot=plan.tuned_snapshot,
            prompt_tokens=params.tuned_system_prompt_tokens + params.input_tokens,
            cost_per_call_usd=plain(tuned_call), monthly_cost_usd=cents(tuned_month),
            training_cost_usd=cents(training_cost), trainings=trainings,
            hosting_monthly_usd=cents(plan.hosting_monthly), horizon_cost_usd=cents(tuned_total),
            breakdown_per_call_usd={k: plain(v) for k, v in tuned_parts.items()},
        ),
        saving_per_call_usd=plain(saving),
        monthly_savings_usd=cents(base_month - tuned_month),
        trained_tokens=trained_tokens,
        break_even_calls_per_month=be_volume,
        break_even_cached_fraction=be_share,
        break_even_calls=break_even_calls,
        break_even_months=break_even_months,
        cached_fraction=share,
        cached_fraction_assumed=assumed,
        today=today,
        horizon_months=horizon_months,
        horizon_end=horizon_end,
        net_savings_over_horizon_usd=cents(base_total - tuned_total),
        verdict=verdict,
        can_train=plan.can_train,
        eligibility=plan.eligibility,
        summary="",
        warnings=warnings,
        catalog_version=catalog.catalog_version if plan.provider == "openai" else _providers_version(),
        price_sources=plan.sources,
        inputs=params,
    )
    result.summary = summarize(result)
    return result


def _providers_version() -> str:
    from ftsim.pricing.catalog.providers import load_providers

    return load_providers().version


def _pct(share: Decimal) -> str:
    """0.5 -> '50%', 0.1234 -> '12.34%'."""
    text = format((share * 100).quantize(CENT, rounding=ROUND_HALF_UP).normalize(), "f")
    return f"{text}%"


def _break_even_share(params, plan, calls, horizon_months, tuned_call, fixed_total, warnings) -> Decimal | None:
    """The cached share of S at which the horizon totals are equal, at this volume; clamped to [0, 1]."""
    if params.system_prompt_tokens == 0 or calls == 0 or horizon_months == 0:
        return None
    s = params.system_prompt_tokens

    def base_call(share: Decimal) -> Decimal:
        parts = _path_parts(plan.base_std, plan.base_batch, params, s, Decimal(s) * share, [], "base", plan.provider)
        return sum(parts.values(), Decimal(0))

    uncached, full = base_call(Decimal(0)), base_call(Decimal(1))
    drop = uncached - full
    if drop <= 0:
        return None
    volume = calls * horizon_months
    share = (volume * (uncached - tuned_call) - fixed_total) / (volume * drop)
    return min(max(share, Decimal(0)), Decimal(1)).quantize(SHARE, rounding=ROUND_DOWN)


def compare_providers(params: CompareInput, *, catalog,
                      progress: Callable[[int, int], None] | None = None) -> ProviderComparison:
    """The scenario on OpenAI and on Azure OpenAI; a provider the model is not on is listed with the reason."""
    catalog.check_as_of(params.today or catalog.effective_date)  # once, not once per provider
    results: list[CompareResult] = []
    unavailable: dict[str, str] = {}
    for provider in ("openai", "azure"):
        try:
            results.append(compare(params.model_copy(update={"provider": provider}), catalog=catalog,
                                   progress=progress))
        except PricingError as exc:
            unavailable[provider] = str(exc)
    if not results:
        raise PricingError("; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    as_of = results[0].as_of
    # Horizons differ by provider (OpenAI's fine-tunes stop serving long before Azure's deployments retire), so
    # the paths are ranked by their average monthly cost over their own horizon, training and hosting included.
    options: list[tuple[Decimal, str]] = []
    for r in results:
        if r.horizon_months <= 0:
            continue
        options.append((r.base.horizon_cost_usd / r.horizon_months, f"{r.provider} base"))
        if r.can_train is not False:
            options.append((r.tuned.horizon_cost_usd / r.horizon_months, f"{r.provider} fine-tuned"))
    best = min(options)[1] if options else None
    lines = [f"As of {as_of.isoformat()}:"]
    for r in results:
        lines.append(f"{_PROVIDER_NAMES[r.provider]}: {r.summary}")
    for provider, why in unavailable.items():
        lines.append(f"{_PROVIDER_NAMES[provider]}: not available ({why}).")
    if best:
        lines.append(f"Lowest average monthly cost over its horizon (training and hosting included): {best}.")
    warnings = [f"{r.provider}: {w}" for r in results for w in r.warnings]
    return ProviderComparison(as_of=as_of, results=results, unavailable=unavailable, best=best,
                              summary=" ".join(lines), warnings=warnings)


_PROVIDER_NAMES = {"openai": "OpenAI", "azure": "Azure OpenAI"}


def _path_parts(
    standard, batch, params: CompareInput, prompt: int, cached: Decimal, warnings: list[str], label: str,
    provider: str = "openai",
) -> dict[str, Decimal]:
    """Per-call parts of one path, blending standard and batch prices."""
    def priced(prices: tuple[Decimal, Decimal, Decimal]) -> dict[str, Decimal]:
        return per_call_cost(prices, prompt_tokens=prompt, cached_tokens=cached, input_tokens=params.input_tokens,
                             output_tokens=params.output_tokens)

    parts = priced(standard)
    if params.batch_fraction > 0:
        if batch is None:
            if provider == "openai":  # Azure warns once for both paths
                warnings.append(f"No Batch API prices for the {label} path: batch calls priced at standard rates.")
            batch = standard
        parts = _mixed(parts, priced(batch), params.batch_fraction)
    return parts


def usd(value: Decimal, places: int = 2) -> str:
    """A Decimal as a dollar string rounded half-up to `places` decimals."""
    return f"${value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"


def summarize(result: CompareResult) -> str:
    """Readable sentences for the verdict: the answer first, then the figures behind it."""
    b, t = result.base, result.tuned
    where = _PROVIDER_NAMES[result.provider]
    net = result.net_savings_over_horizon_usd
    horizon = f"the {result.horizon_months}-month horizon (to {result.horizon_end.isoformat()})"
    figures = (
        f"On {where}, {t.model} fine-tuned costs {usd(t.cost_per_call_usd, 6)} a call against "
        f"{usd(b.cost_per_call_usd, 6)} for {b.model} with the long prompt ({_pct(result.cached_fraction)} of it "
        f"cached); training costs {usd(t.training_cost_usd)}"
        + (f" x {t.trainings}" if t.trainings > 1 else "")
        + (f", hosting {usd(t.hosting_monthly_usd)} a month" if t.hosting_monthly_usd else "") + "."
    )
    volume = (f" Break-even volume: {result.break_even_calls_per_month:,} calls a month over {horizon}."
              if result.break_even_calls_per_month is not None else
              " The tuned call is not cheaper, so no volume breaks even.")
    if result.verdict == "cannot_train":
        return f"{result.eligibility} {figures}{volume}"
    if result.verdict == "never_pays_back":
        answer = f"Does not pay back at {result.inputs.calls_per_month:,} calls a month: net {usd(net)} over {horizon}."
    elif result.verdict == "pays_back_after_horizon":
        answer = (f"Pays back only after {horizon} ends: net {usd(net)} within it"
                  + (f" (payback after {result.break_even_months} months)." if result.break_even_months else "."))
    elif result.break_even_calls == 0 and not t.hosting_monthly_usd:
        answer = f"Pays back from the first call: net saving {usd(net)} over {horizon}."
    else:
        answer = (f"Pays back after {result.break_even_months} months: net saving {usd(net)} over {horizon}."
                  if result.break_even_months is not None else f"Net saving {usd(net)} over {horizon}.")
    share = ""
    if result.break_even_cached_fraction is not None and result.verdict != "never_pays_back":
        share = f" It stops paying back above a cached share of {_pct(result.break_even_cached_fraction)}."
    return f"{answer}{share} {figures}{volume}"
