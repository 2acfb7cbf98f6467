"""Money in Decimal, with explicit rounding. Floats never touch a price: every entry point refuses them.

Amounts are exact until a caller rounds them with `quantize` (ROUND_HALF_UP unless told otherwise).

One rule for money strings in every JSON output (`normalize_usd`, `usd_text`, the `UsdAmount` field type): the
exact Decimal value, positional (never an exponent), with trailing zeros stripped down to cents and never
fewer than two decimals: 64.000000 -> "64.00", 0.0195840 -> "0.019584", 0.56 -> "0.56", 0 -> "0.00".
Rounding (to the cent, or not at all) is the computing module's choice; the string never hides or adds digits.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer

__all__ = [
    "to_decimal",
    "per_million",
    "quantize",
    "format_usd",
    "normalize_usd",
    "usd_text",
    "UsdAmount",
    "MILLION",
    "CENT",
    "MICRO",
    "ROUNDING",
]

MILLION = Decimal(1_000_000)
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
ROUNDING = ROUND_HALF_UP
SECONDS_PER_HOUR = Decimal(3600)


def to_decimal(value: object, *, what: str = "amount") -> Decimal:
    """Decimal from a Decimal, int or decimal string; a float (or bool, or anything else) raises TypeError."""
    if isinstance(value, bool) or isinstance(value, float):
        raise TypeError(f"{what} must be a Decimal, int or decimal string, never a float: {value!r}")
    if isinstance(value, Decimal):
        dec = value
    elif isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what} is not a decimal number: {value!r}") from None
    else:
        raise TypeError(f"{what} must be a Decimal, int or decimal string, not {type(value).__name__}")
    if not dec.is_finite():
        raise ValueError(f"{what} must be finite: {value!r}")
    return dec


def quantize(amount: Decimal, places: Decimal = MICRO, rounding: str = ROUNDING) -> Decimal:
    """Round `amount` to `places` (e.g. CENT) with an explicit rounding mode."""
    return to_decimal(amount).quantize(places, rounding=rounding)


def per_million(rate_per_1m: Decimal, tokens: int) -> Decimal:
    """Exact cost of `tokens` at `rate_per_1m` USD per 1M tokens (no rounding)."""
    if isinstance(tokens, bool) or not isinstance(tokens, int):
        raise TypeError(f"tokens must be an int, got {type(tokens).__name__}")
    return to_decimal(rate_per_1m, what="rate") * tokens / MILLION


def format_usd(amount: Decimal, places: int | None = None) -> str:
    """`$1,234.56`; amounts under a cent keep their significant digits (`$0.00148`) unless `places` is given."""
    dec = to_decimal(amount)
    if places is None:
        places = 2
        if dec != 0 and abs(dec) < 1:
            exact = dec.normalize()
            places = max(2, min(6, -exact.as_tuple().exponent))  # type: ignore[operator]
    q = dec.quantize(Decimal(1).scaleb(-places), rounding=ROUNDING)
    sign = "-" if q < 0 else ""
    return f"{sign}${abs(q):,.{places}f}"


def usd_text(amount: Decimal) -> str:
    """The money-string rule: exact, positional, trailing zeros stripped down to cents ("64.00", "0.019584")."""
    dec = to_decimal(amount)
    text = format(abs(dec) if dec.is_zero() else dec, "f")  # never "-0.00"
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"


def normalize_usd(amount: Decimal) -> Decimal:
    """The same amount with the exponent of the money-string rule (Decimal("64.000000") -> Decimal("64.00"))."""
    return Decimal(usd_text(amount))


UsdAmount = Annotated[
    Decimal,
    AfterValidator(normalize_usd),
    PlainSerializer(usd_text, return_type=str, when_used="json"),
]
"""A pydantic field type for USD amounts: normalized on input, serialized by the money-string rule in JSON."""
