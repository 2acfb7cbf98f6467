"""ftsim.pricing.costs.money: Decimal helpers, explicit rounding, floats refused, one rule for money strings."""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ftsim.pricing.costs.money import (
    CENT,
    format_usd,
    per_million,
    quantize,
    to_decimal,
)


@pytest.mark.parametrize("bad", [0.1, 3.0, float("nan"), True])
def test_floats_are_refused_everywhere(bad: object) -> None:
    with pytest.raises(TypeError):
        to_decimal(bad)
    with pytest.raises(TypeError):
        quantize(bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        per_million(bad, 10)  # type: ignore[arg-type]


def test_tokens_must_be_int() -> None:
    with pytest.raises(TypeError):
        per_million(Decimal(3), 1.5)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["abc", "NaN", "Infinity"])
def test_bad_strings(bad: str) -> None:
    with pytest.raises(ValueError):
        to_decimal(bad)


def test_per_million_is_exact() -> None:
    assert per_million(Decimal("3.00"), 300_000) == Decimal("0.9")
    assert per_million(Decimal("0.075"), 1) == Decimal("0.000000075")


def test_rounding_is_explicit() -> None:
    assert quantize(Decimal("0.125"), CENT) == Decimal("0.13")  # half up, not banker's
    assert quantize(Decimal("0.125"), CENT, ROUND_DOWN) == Decimal("0.12")
    assert quantize(Decimal("0.2583649")) == Decimal("0.258365")


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        (Decimal("1234.5"), "$1,234.50"),
        (Decimal("0.9"), "$0.90"),
        (Decimal("0.00148"), "$0.00148"),
        (Decimal("0.25836"), "$0.25836"),
        (Decimal("0"), "$0.00"),
        (Decimal("-2.4"), "-$2.40"),
    ],
)
def test_format_usd(amount: Decimal, text: str) -> None:
    assert format_usd(amount) == text


@given(
    rate=st.decimals(min_value=0, max_value=1000, places=4, allow_nan=False, allow_infinity=False),
    tokens=st.integers(min_value=0, max_value=10**10),
)
def test_per_million_properties(rate: Decimal, tokens: int) -> None:
    cost = per_million(rate, tokens)
    assert isinstance(cost, Decimal)
    assert cost == rate * tokens / 1_000_000
    assert per_million(rate, tokens + 1) >= cost


@pytest.mark.parametrize("amount, text", [
    ("64.000000", "64.00"), ("0.0195840", "0.019584"), ("0.56", "0.56"), ("0", "0.00"), ("-0.000", "0.00"),
    ("0.0000004", "0.0000004"), ("1E+2", "100.00"), ("-1.5", "-1.50"), ("12345.678900", "12345.6789"),
])
def test_money_strings_follow_one_rule(amount: str, text: str) -> None:
    from ftsim.pricing.costs.money import normalize_usd, usd_text

    assert usd_text(Decimal(amount)) == text
    assert normalize_usd(Decimal(amount)) == Decimal(amount)


@given(st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**9, max_value=10**9, places=8))
def test_money_strings_are_exact_positional_and_keep_cents(amount: Decimal) -> None:
    from pydantic import BaseModel

    from ftsim.pricing.costs.money import UsdAmount, usd_text

    class Priced(BaseModel):
        cost_usd: UsdAmount

    text = usd_text(amount)
    whole, _, frac = text.partition(".")
    assert Decimal(text) == amount and "E" not in text.upper()
    assert len(frac) == 2 or (len(frac) > 2 and not frac.endswith("0"))
    assert Priced(cost_usd=amount).model_dump(mode="json")["cost_usd"] == text
