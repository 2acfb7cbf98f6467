"""Reinforcement fine-tuning cost: hours in the core training loop × hourly rate, plus grader-model tokens.

Billing rules (help article 11323177, pricing reference §2.4):
- wall-clock time in the core training loop (rollouts, grading, weight updates, validation steps) is billed,
  prorated to the second; queueing, file validation, safety evals and OpenAI-side lost work are not;
- model graders' tokens are a separate line at the grader model's standard per-token API rate;
- "captured forward progress": each billing event (success, pause, cancel, failure) bills the work since the
  last charge; on failure only up to the last checkpoint; pause writes a checkpoint and bills up to it.

Duration model (a MODELLING ASSUMPTION; OpenAI publishes no duration statistics): when `hours` is not given,
    train_seconds = samples × SECONDS_PER_SAMPLE × effort × compute_multiplier × grader_factor
    eval_seconds  = n_evals × n_validation × eval_samples × SECONDS_PER_SAMPLE × EVAL_FRACTION × effort × grader_factor
with samples = n_examples × n_epochs, steps = n_epochs × ceil(n_examples / batch_size),
n_evals = max(1, steps // eval_interval) when there is a validation set (auto eval_interval: min(steps, 10)
evaluations, so the estimate grows monotonically with the dataset; auto eval_samples = 1), effort factors low 0.5 / medium (default) 1 / high 2, grader factors string or python 1,
model 1.3, reasoning model 2. The expected figure is reported with a range: low = ×0.5, high = ×2. Anchor: 100
examples + 50 validation rows, auto settings, medium effort -> about 3.3 h, near the reference's worked example
(4 billable hours).
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.catalog.catalog import Catalog, ModelEntry
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.hyperparameters import auto_batch_size, auto_n_epochs
from ftsim.pricing.costs.money import CENT, MICRO, SECONDS_PER_HOUR, per_million, quantize, to_decimal

__all__ = [
    "GraderUsage",
    "GraderSpec",
    "RftDuration",
    "RftCost",
    "estimate_duration",
    "grader_cost",
    "rft_cost",
    "billable_seconds",
    "given_duration",
    "GraderLine",
]

SECONDS_PER_SAMPLE = 24
EVAL_FRACTION = Decimal("0.4")
EFFORT_FACTOR = {"low": Decimal("0.5"), "medium": Decimal(1), "default": Decimal(1), "high": Decimal(2)}
GRADER_FACTOR = {"string": Decimal(1), "python": Decimal(1), "model": Decimal("1.3"), "reasoning_model": Decimal(2)}
AUTO_EVALS = 10
MAX_HOURS = Decimal(100_000)  # = ftsim.pricing.planning.bounds.MAX_TRAINING_HOURS (costs may not import planning)
RANGE_LOW = Decimal("0.5")
RANGE_HIGH = Decimal(2)
BillingEvent = Literal["success", "pause", "cancel", "failure"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class GraderUsage(_Frozen):
    """Tokens a model grader consumed (or is expected to), priced at that model's base standard rate."""

    model: str
    input_tokens: int = 0
    cached_input_tokens: int = 0
    output_tokens: int = 0


class GraderSpec(_Frozen):
    """A model grader for estimates: tokens per graded sample."""

    model: str
    input_tokens_per_call: int
    output_tokens_per_call: int


class RftDuration(_Frozen):
    """Billable training-loop time as a range, in seconds and in hours (2 decimals, as on the invoice)."""

    seconds_low: int
    seconds_expected: int
    seconds_high: int
    hours_low: Decimal
    hours_expected: Decimal
    hours_high: Decimal
    given: bool
    samples: int
    n_evals: int
    graded_calls: int


class GraderLine(_Frozen):
    """One grader model's line item."""

    model: str
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    cost_usd: Decimal


class RftCost(_Frozen):
    """RFT cost: hourly training (low / expected / high) plus grader tokens."""

    rate_per_hour: Decimal
    duration: RftDuration
    training_cost_usd_low: Decimal
    training_cost_usd: Decimal
    training_cost_usd_high: Decimal
    graders: tuple[GraderLine, ...]
    grader_cost_usd: Decimal
    total_cost_usd: Decimal


def _hours(seconds: int) -> Decimal:
    return quantize(Decimal(seconds) / SECONDS_PER_HOUR, CENT)


def estimate_duration(
    *,
    n_examples: int,
    n_validation: int = 0,
    n_epochs: int | str = "auto",
    batch_size: int | str = "auto",
    compute_multiplier: Decimal | str = "auto",
    reasoning_effort: str = "default",
    eval_interval: int | str = "auto",
    eval_samples: int | str = "auto",
    grader_kind: str = "string",
) -> RftDuration:
    """Billable training-loop time by the documented duration model (see the module docstring)."""
    if n_examples < 1:
        raise PricingError("an RFT estimate needs at least one training example")
    epochs = auto_n_epochs(n_examples) if n_epochs == "auto" else int(n_epochs)
    batch = auto_batch_size(n_examples) if batch_size == "auto" else int(batch_size)
    if epochs < 1 or batch < 1:
        raise PricingError("n_epochs and batch_size must be >= 1")
    mult = Decimal(1) if compute_multiplier == "auto" else to_decimal(compute_multiplier, what="compute_multiplier")
    if not Decimal("0.00001") < mult <= 10:
        raise PricingError(f"compute_multiplier must be in (0.00001, 10], got {mult}")
    if reasoning_effort not in EFFORT_FACTOR:
        raise PricingError(f"reasoning_effort must be one of {', '.join(EFFORT_FACTOR)}, got {reasoning_effort!r}")
    if grader_kind not in GRADER_FACTOR:
        raise PricingError(f"grader kind must be one of {', '.join(GRADER_FACTOR)}, got {grader_kind!r}")
    effort, grader = EFFORT_FACTOR[reasoning_effort], GRADER_FACTOR[grader_kind]
    samples = n_examples * epochs
    steps = epochs * math.ceil(n_examples / batch)
    interval = AUTO_EVALS if eval_interval == "auto" else int(eval_interval)
    per_eval = 1 if eval_samples == "auto" else int(eval_samples)
    if interval < 1 or per_eval < 1:
        raise PricingError("eval_interval and eval_samples must be >= 1")
    if n_validation <= 0:
        n_evals = 0
    elif eval_interval == "auto":
        n_evals = min(steps, AUTO_EVALS)
    else:
        n_evals = max(1, steps // interval)
    train = samples * SECONDS_PER_SAMPLE * effort * mult * grader
    evals = n_evals * n_validation * per_eval * SECONDS_PER_SAMPLE * EVAL_FRACTION * effort * grader
    expected = int((train + evals).to_integral_value())
    low, high = int((expected * RANGE_LOW).to_integral_value()), int(expected * RANGE_HIGH)
    return RftDuration(
        seconds_low=low,
        seconds_expected=expected,
        seconds_high=high,
        hours_low=_hours(low),
        hours_expected=_hours(expected),
        hours_high=_hours(high),
        given=False,
        samples=samples,
        n_evals=n_evals,
        graded_calls=samples + n_evals * n_validation * per_eval,
    )


def given_duration(hours: Decimal | str | int) -> RftDuration:
    """A duration the user measured or read off an invoice (hours, e.g. 2.55)."""
    value = to_decimal(hours, what="hours")
    if value < 0 or value > MAX_HOURS:
        raise PricingError(f"hours must be between 0 and {MAX_HOURS:,}, got {value}")
    seconds = int((value * SECONDS_PER_HOUR).to_integral_value())
    return RftDuration(
        seconds_low=seconds,
        seconds_expected=seconds,
        seconds_high=seconds,
        hours_low=value,
        hours_expected=value,
        hours_high=value,
        given=True,
        samples=0,
        n_evals=0,
        graded_calls=0,
    )


def grader_cost(usage: GraderUsage, catalog: Catalog) -> GraderLine:
    """A grader model's tokens at its base (not fine-tuned) standard per-token rate."""
    entry = catalog.resolve(usage.model)
    if entry.base is None:
        raise PricingError(f"no base inference price for grader model {usage.model!r}")
    prices = entry.base.standard
    if usage.cached_input_tokens > usage.input_tokens:
        raise PricingError("cached_input_tokens cannot exceed input_tokens")
    cost = (
        per_million(prices.input, usage.input_tokens - usage.cached_input_tokens)
        + per_million(prices.effective_cached_input, usage.cached_input_tokens)
        + per_million(prices.output, usage.output_tokens)
    )
    return GraderLine(
        model=entry.snapshot,
        input_tokens=usage.input_tokens,
        cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens,
        cost_usd=cost,
    )


def rft_cost(
    entry: ModelEntry,
    duration: RftDuration,
    *,
    catalog: Catalog,
    graders: Sequence[GraderUsage] = (),
    grader_specs: Sequence[GraderSpec] = (),
) -> RftCost:
    """Hourly training cost over `duration` plus grader lines (given usage, or specs × graded calls)."""
    if entry.training is None or entry.training.unit != "per_hour":
        raise PricingError(f"{entry.snapshot} is not billed per hour; reinforcement needs an RFT model")
    rate = entry.training.price
    usages = list(graders) + [
        GraderUsage(
            model=spec.model,
            input_tokens=spec.input_tokens_per_call * duration.graded_calls,
            output_tokens=spec.output_tokens_per_call * duration.graded_calls,
        )
        for spec in grader_specs
    ]
    lines = tuple(grader_cost(usage, catalog) for usage in usages)
    grader_total = sum((line.cost_usd for line in lines), Decimal(0))

    def cost(seconds: int, hours: Decimal) -> Decimal:
        exact = rate * hours if duration.given else rate * seconds / SECONDS_PER_HOUR
        return quantize(exact, MICRO)

    expected = cost(duration.seconds_expected, duration.hours_expected)
    return RftCost(
        rate_per_hour=rate,
        duration=duration,
        training_cost_usd_low=cost(duration.seconds_low, duration.hours_low),
        training_cost_usd=expected,
        training_cost_usd_high=cost(duration.seconds_high, duration.hours_high),
        graders=lines,
        grader_cost_usd=grader_total,
        total_cost_usd=expected + grader_total,
    )


def billable_seconds(
    event: BillingEvent, *, elapsed_seconds: int, last_checkpoint_seconds: int, already_billed_seconds: int = 0
) -> int:
    """Seconds a billing event charges under "captured forward progress" (failure: up to the last checkpoint)."""
    if min(elapsed_seconds, last_checkpoint_seconds, already_billed_seconds) < 0:
        raise PricingError("times must be >= 0")
    if last_checkpoint_seconds > elapsed_seconds:
        raise PricingError("the last checkpoint cannot be after the elapsed training time")
    if event == "failure":
        progress = last_checkpoint_seconds
    elif event in ("success", "pause", "cancel"):
        progress = elapsed_seconds
    else:
        raise PricingError(f"unknown billing event {event!r}")
    return max(0, progress - already_billed_seconds)
