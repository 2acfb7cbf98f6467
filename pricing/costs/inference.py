"""Inference cost per call and per month, tuned or base, with cached-input and batch shares.

Per call: uncached input × input price + cached input × cached price (the input price where the model has no
cache discount) + output × output price. Batch calls use the tier's stored batch prices (not derived as 50%,
contradiction C3); a model without batch prices refuses a batch share. A month mixes standard and batch calls
by `batch_share` (a Decimal in [0, 1]); `cached_share` is the fraction of input tokens served from cache.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from ftsim.pricing.catalog.catalog import ModelEntry, PriceSet, TierPrices
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.money import per_million, to_decimal

__all__ = ["call_cost", "monthly_cost", "prices_for", "InferenceCost", "inference_cost"]

Variant = Literal["tuned", "base"]


def prices_for(entry: ModelEntry, variant: Variant = "tuned", *, data_sharing: bool = False) -> TierPrices:
    """The tier prices of `entry`'s tuned (optionally data-sharing) or base inference."""
    if variant == "tuned":
        tier = entry.tuned_data_sharing if data_sharing and entry.tuned_data_sharing else entry.tuned
        if data_sharing and entry.tuned_data_sharing is None:
            raise PricingError(f"{entry.snapshot} has no data-sharing inference prices")
    elif variant == "base":
        tier = entry.base
    else:
        raise PricingError(f"variant must be 'tuned' or 'base', got {variant!r}")
    if tier is None:
        raise PricingError(f"no {variant} inference prices for {entry.snapshot}")
    return tier


def _share(value: Decimal | str | int, what: str) -> Decimal:
    dec = to_decimal(value, what=what)
    if not 0 <= dec <= 1:
        raise PricingError(f"{what} must be between 0 and 1, got {dec}")
    return dec


def _priced(prices: PriceSet, input_tokens: Decimal, cached_tokens: Decimal, output_tokens: Decimal) -> Decimal:
    return (
        prices.input * (input_tokens - cached_tokens)
        + prices.effective_cached_input * cached_tokens
        + prices.output * output_tokens
    ) / Decimal(1_000_000)


def call_cost(
    tier: TierPrices, *, input_tokens: int, output_tokens: int, cached_input_tokens: int = 0, batch: bool = False
) -> Decimal:
    """Exact cost of one call; `cached_input_tokens` is the part of `input_tokens` served from cache."""
    if min(input_tokens, output_tokens, cached_input_tokens) < 0:
        raise PricingError("token counts must be >= 0")
    if cached_input_tokens > input_tokens:
        raise PricingError("cached_input_tokens cannot exceed input_tokens")
    prices = tier.batch if batch else tier.standard
    if prices is None:
        raise PricingError("this model has no Batch API prices")
    return (
        per_million(prices.input, input_tokens - cached_input_tokens)
        + per_million(prices.effective_cached_input, cached_input_tokens)
        + per_million(prices.output, output_tokens)
    )


def monthly_cost(
    tier: TierPrices,
    *,
    calls_per_month: int,
    input_tokens: int,
    output_tokens: int,
    cached_share: Decimal | str | int = 0,
    batch_share: Decimal | str | int = 0,
) -> Decimal:
    """Exact monthly cost of `calls_per_month` calls with the given per-call tokens and shares."""
    if calls_per_month < 0 or input_tokens < 0 or output_tokens < 0:
        raise PricingError("calls and token counts must be >= 0")
    cached, batch = _share(cached_share, "cached_share"), _share(batch_share, "batch_share")
    if batch > 0 and tier.batch is None:
        raise PricingError("this model has no Batch API prices; batch_share must be 0")
    calls = Decimal(calls_per_month)
    inp, out = Decimal(input_tokens), Decimal(output_tokens)
    total = (1 - batch) * calls * _priced(tier.standard, inp, inp * cached, out)
    if batch > 0 and tier.batch is not None:
        total += batch * calls * _priced(tier.batch, inp, inp * cached, out)
    return total


class InferenceCost(BaseModel):
    """Per-call and per-month cost of one model variant."""

    model_config = ConfigDict(frozen=True)

    model: str
    variant: Variant
    data_sharing: bool
    cost_per_call_usd: Decimal
    cost_per_month_usd: Decimal
    calls_per_month: int


def inference_cost(
    entry: ModelEntry,
    *,
    variant: Variant = "tuned",
    calls_per_month: int,
    input_tokens: int,
    output_tokens: int,
    cached_share: Decimal | str | int = 0,
    batch_share: Decimal | str | int = 0,
    data_sharing: bool = False,
) -> InferenceCost:
    """Per-call (average over the shares) and per-month cost of `entry`'s tuned or base inference."""
    tier = prices_for(entry, variant, data_sharing=data_sharing)
    one = monthly_cost(
        tier,
        calls_per_month=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cached_share=cached_share,
        batch_share=batch_share,
    )
    return InferenceCost(
        model=entry.snapshot,
        variant=variant,
        data_sharing=data_sharing,
        cost_per_call_usd=one,
        cost_per_month_usd=one * calls_per_month,
        calls_per_month=calls_per_month,
    )
