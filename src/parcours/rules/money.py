"""Money and rates as exact integers.

Every amount in the rules is an integer number of cents and every rate an integer number of basis points
(70 % = 7000). Integer arithmetic gives the same result, to the cent, whether a formula runs on one Python int
or on a numpy column of a hundred million rows: that is what lets the scalar and columnar paths be compared
exactly.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import TypeVar

Cents = int
BasisPoints = int

_BP_SCALE = 10_000
_HALF = _BP_SCALE // 2

N = TypeVar("N")


def to_cents(value: Decimal | float | int | str) -> Cents:
    """Euros (as written in a law, a YAML file or a JSON request) to an exact number of cents.

    Floats go through their shortest decimal representation, so 26.5 becomes 2650 and never 2649.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 100
    if isinstance(value, Decimal) and value.is_finite():
        scaled = value * 100
        if scaled == scaled.to_integral_value():  # the common case: two decimals at most, no rounding to check
            return int(scaled)
    try:
        amount = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc
    cents = (amount * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if cents != amount * 100:
        raise ValueError(f"amount {value!r} has more than two decimals")
    return int(cents)


def to_basis_points(percent: Decimal | float | int | str) -> BasisPoints:
    """A percentage (70, 17.5) to basis points (7000, 1750)."""
    scaled = Decimal(str(percent)) * 100
    if scaled != scaled.to_integral_value():
        raise ValueError(f"percentage {percent!r} is finer than a basis point")
    return int(scaled)


def euros(cents: int) -> Decimal:
    """Cents to a two-decimal Decimal, for output."""
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def euros_text(cents: int) -> str:
    """``str(euros(cents))`` ("12.50", "-0.05") in integer arithmetic, for JSON states written per event."""
    whole, frac = divmod(abs(int(cents)), 100)
    return f"{'-' if cents < 0 else ''}{whole}.{frac:02d}"


def apply_rate(cents: N, rate: N) -> N:
    """round(amount × rate, 2), half up, in integers: works on ints and on numpy int64 arrays alike.

    Amounts are never negative here, so floor division after adding half a unit is a half-up rounding.
    """
    return (cents * rate + _HALF) // _BP_SCALE  # type: ignore[operator, no-any-return]


def ceil_to_euro(cents: N) -> N:
    """Round an amount up to the next whole euro (the dépassement autorisé is rounded this way)."""
    return -((-cents) // 100) * 100  # type: ignore[operator, no-any-return]


@lru_cache(maxsize=16_384)
def format_eur(cents: int) -> str:
    """French display: 1 234,50 €. Integer arithmetic: explanations format a dozen amounts per event."""
    whole, frac = divmod(abs(int(cents)), 100)
    grouped = f"{whole:,}".replace(",", "\u202f")
    sign = "-" if cents < 0 else ""
    return f"{sign}{grouped},{frac:02d} €"


@lru_cache(maxsize=1_024)
def format_rate(rate: int) -> str:
    """French display of basis points: 7000 → '70 %', 1750 → '17,5 %'."""
    value = Decimal(rate) / 100
    text = f"{value.normalize():f}".replace(".", ",")
    return f"{text} %"
