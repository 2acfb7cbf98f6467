"""ftsim.pricing.costs.inference: per call and per month, tuned and base, cached and batch shares."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftsim.pricing.catalog.catalog import PriceSet, TierPrices, load_catalog
from ftsim.pricing.errors import PricingError
from ftsim.pricing.costs.inference import call_cost, inference_cost, monthly_cost, prices_for

CAT = load_catalog()


def tier(name: str, variant: str = "tuned") -> TierPrices:
    return prices_for(CAT.resolve(name), variant)  # type: ignore[arg-type]


def test_tv8_break_even_calls() -> None:
    base, tuned = tier("gpt-4.1-mini", "base"), tier("gpt-4.1-mini")
    base_call = call_cost(base, input_tokens=2_500, output_tokens=300)
    tuned_call = call_cost(tuned, input_tokens=500, output_tokens=300)
    assert base_call == Decimal("0.00148") and tuned_call == Decimal("0.00136")
    assert Decimal("12.00") / (base_call - tuned_call) == 100_000
    cached = call_cost(base, input_tokens=2_500, cached_input_tokens=2_000, output_tokens=300)
    assert cached == Decimal("0.00088") and cached < tuned_call  # never breaks even
    b4, t4 = tier("gpt-4o-mini", "base"), tier("gpt-4o-mini")
    saving = call_cost(b4, input_tokens=2_500, output_tokens=300) - call_cost(t4, input_tokens=500, output_tokens=300)
    assert saving == Decimal("0.000045") and Decimal("7.20") / saving == 160_000


def test_tv9_monthly_with_illustrative_prices() -> None:
    def flat(i: str, o: str) -> TierPrices:
        return TierPrices(standard=PriceSet(input=i, output=o, source="novacalculator", as_of="2025"))  # type: ignore[arg-type]

    large = monthly_cost(flat("10", "30"), calls_per_month=200_000, input_tokens=500, output_tokens=300)
    tuned = monthly_cost(flat("3", "6"), calls_per_month=200_000, input_tokens=500, output_tokens=300)
    assert (large, tuned, large - tuned) == (Decimal(2800), Decimal(660), Decimal(2140))
    months = Decimal(5300) / (large - tuned)
    assert months.quantize(Decimal("0.01")) == Decimal("2.48")


def test_tv11_batch_irregularity() -> None:
    t = tier("gpt-4o-2024-08-06")
    assert call_cost(t, input_tokens=1_000_000, output_tokens=1_000_000, batch=True) == Decimal("14.725")
    assert call_cost(t, input_tokens=1_000_000, output_tokens=1_000_000) == Decimal("18.75")
    assert monthly_cost(t, calls_per_month=1, input_tokens=10**6, output_tokens=10**6, batch_share=1) == Decimal("14.725")


def test_shares_mix_linearly() -> None:
    t = tier("gpt-4o-mini")
    std = monthly_cost(t, calls_per_month=100, input_tokens=1000, output_tokens=100)
    batch = monthly_cost(t, calls_per_month=100, input_tokens=1000, output_tokens=100, batch_share=1)
    half = monthly_cost(t, calls_per_month=100, input_tokens=1000, output_tokens=100, batch_share=Decimal("0.5"))
    assert half == (std + batch) / 2
    cached = monthly_cost(t, calls_per_month=100, input_tokens=1000, output_tokens=100, cached_share=1)
    assert cached == 100 * (1000 * Decimal("0.15") + 100 * Decimal("1.20")) / 10**6


def test_no_cache_discount_means_input_price() -> None:
    t = tier("gpt-3.5-turbo")
    assert call_cost(t, input_tokens=1000, cached_input_tokens=1000, output_tokens=0) == call_cost(
        t, input_tokens=1000, output_tokens=0
    )


def test_data_sharing_and_inference_cost() -> None:
    entry = CAT.resolve("o4-mini")
    shared = inference_cost(entry, calls_per_month=10, input_tokens=10**6, output_tokens=0, data_sharing=True)
    normal = inference_cost(entry, calls_per_month=10, input_tokens=10**6, output_tokens=0)
    assert shared.cost_per_call_usd == Decimal(2) and normal.cost_per_month_usd == Decimal(40)
    with pytest.raises(PricingError):
        inference_cost(CAT.resolve("gpt-4o"), calls_per_month=1, input_tokens=1, output_tokens=1, data_sharing=True)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cached_share": Decimal("1.5")},
        {"batch_share": Decimal("-0.1")},
        {"input_tokens": -1},
        {"calls_per_month": -1},
    ],
)
def test_bad_usage_refused(kwargs: dict) -> None:
    args = {"calls_per_month": 1, "input_tokens": 1, "output_tokens": 1} | kwargs
    with pytest.raises(PricingError):
        monthly_cost(tier("gpt-4o-mini"), **args)


def test_float_share_refused() -> None:
    with pytest.raises(TypeError):
        monthly_cost(tier("gpt-4o-mini"), calls_per_month=1, input_tokens=1, output_tokens=1, cached_share=0.5)  # type: ignore[arg-type]


def test_cached_cannot_exceed_input_and_batch_needs_prices() -> None:
    with pytest.raises(PricingError):
        call_cost(tier("gpt-4o-mini"), input_tokens=1, cached_input_tokens=2, output_tokens=0)
    no_batch = TierPrices(standard=PriceSet(input="1", output="1", source="x", as_of="x"))  # type: ignore[arg-type]
    with pytest.raises(PricingError):
        call_cost(no_batch, input_tokens=1, output_tokens=1, batch=True)


@given(
    calls=st.integers(0, 10**7),
    inp=st.integers(0, 10**5),
    out=st.integers(0, 10**5),
    cached=st.decimals(0, 1, places=2),
    model=st.sampled_from(["gpt-4o-mini", "gpt-4.1", "gpt-4o", "babbage-002"]),
)
def test_monthly_properties(calls: int, inp: int, out: int, cached: Decimal, model: str) -> None:
    t = tier(model)
    cost = monthly_cost(t, calls_per_month=calls, input_tokens=inp, output_tokens=out, cached_share=cached)
    assert isinstance(cost, Decimal) and cost >= 0
    full = monthly_cost(t, calls_per_month=calls, input_tokens=inp, output_tokens=out)
    assert cost <= full  # caching never costs more
    assert monthly_cost(t, calls_per_month=calls + 1, input_tokens=inp, output_tokens=out) >= full
