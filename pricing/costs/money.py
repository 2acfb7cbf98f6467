"""Money in Decimal, with explicit rounding. Floats never touch a price: every entry point refuses them.

`Money` is an immutable USD amount in the style of the `prices` library (frozen, Decimal, a float argument
refused). `TokenRate` is a price per 1M tokens and `HourlyRate` a price per hour. Amounts are exact until a
caller rounds them with `quantize`/`round_cents` (ROUND_HALF_UP unless told otherwise).

One rule for money strings in every JSON output (`normalize_usd`, `usd_text`, the `UsdAmount` field type): the
exact Decimal value, positional (never an exponent), with trailing zeros stripped down to cents and never
fewer than two decimals: 64.000000 -> "64.00", 0.0195840 -> "0.019584", 0.56 -> "0.56", 0 -> "0.00".
Rounding (to the cent, or not at all) is the computing module's choice; the string never hides or adds digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Union

from pydantic import AfterValidator, PlainSerializer

__all__ = [
    "Money",
    "TokenRate",
    "HourlyRate",
    "to_decimal",
    "per_million",
    "quantize",
    "round_cents",
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

Number = Union[Decimal, int, str]


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


def round_cents(amount: Decimal, rounding: str = ROUNDING) -> Decimal:
    """Round to whole cents (ROUND_HALF_UP by default)."""
    return quantize(amount, CENT, rounding)


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


@dataclass(frozen=True, slots=True)
class Money:
    """An immutable USD amount: Decimal inside, floats refused, explicit rounding."""

    amount: Decimal
    currency: str = "USD"

    def __post_init__(self) -> None:
        object.__setattr__(self, "amount", to_decimal(self.amount))
        if self.currency != "USD":
            raise ValueError(f"only USD is supported, got {self.currency!r}")

    @classmethod
    def zero(cls) -> "Money":
        """Zero dollars."""
        return cls(Decimal(0))

    def _other(self, other: object) -> Decimal:
        if isinstance(other, Money):
            return other.amount
        raise TypeError(f"cannot combine Money with {type(other).__name__}")

    def __add__(self, other: "Money") -> "Money":
        return Money(self.amount + self._other(other))

    def __radd__(self, other: object) -> "Money":
        if other == 0:  # lets sum() start from 0
            return self
        return Money(self._other(other) + self.amount)

    def __sub__(self, other: "Money") -> "Money":
        return Money(self.amount - self._other(other))

    def __mul__(self, factor: Number) -> "Money":
        return Money(self.amount * to_decimal(factor, what="factor"))

    __rmul__ = __mul__

    def __truediv__(self, divisor: Number) -> "Money":
        return Money(self.amount / to_decimal(divisor, what="divisor"))

    def __neg__(self) -> "Money":
        return Money(-self.amount)

    def __lt__(self, other: "Money") -> bool:
        return self.amount < self._other(other)

    def __le__(self, other: "Money") -> bool:
        return self.amount <= self._other(other)

    def __gt__(self, other: "Money") -> bool:
        return self.amount > self._other(other)

    def __ge__(self, other: "Money") -> bool:
        return self.amount >= self._other(other)

    def quantize(self, places: Decimal = CENT, rounding: str = ROUNDING) -> "Money":
        """This amount rounded to `places` (cents by default)."""
        return Money(quantize(self.amount, places, rounding))

    def __str__(self) -> str:
        return format_usd(self.amount)


@dataclass(frozen=True, slots=True)
class TokenRate:
    """A price in USD per 1M tokens."""

    per_1m: Decimal

    def __post_init__(self) -> None:
        value = to_decimal(self.per_1m, what="rate")
        if value < 0:
            raise ValueError("a rate must be >= 0")
        object.__setattr__(self, "per_1m", value)

    def cost(self, tokens: int) -> Money:
        """Exact cost of `tokens` tokens."""
        return Money(per_million(self.per_1m, tokens))


@dataclass(frozen=True, slots=True)
class HourlyRate:
    """A price in USD per hour, prorated to the second."""

    per_hour: Decimal

    def __post_init__(self) -> None:
        value = to_decimal(self.per_hour, what="rate")
        if value < 0:
            raise ValueError("a rate must be >= 0")
        object.__setattr__(self, "per_hour", value)

    def cost_hours(self, hours: Number) -> Money:
        """Exact cost of `hours` (Decimal, int or decimal string)."""
        return Money(self.per_hour * to_decimal(hours, what="hours"))

    def cost_seconds(self, seconds: int) -> Money:
        """Cost of whole `seconds`, prorated (rate × seconds / 3600, unrounded)."""
        if isinstance(seconds, bool) or not isinstance(seconds, int):
            raise TypeError("seconds must be an int")
        return Money(self.per_hour * seconds / SECONDS_PER_HOUR)
