"""Integer arithmetic in minor units, shared by every pricing module."""

from __future__ import annotations

from collections.abc import Sequence

from paykit.errors import InvalidAmount
from paykit.money import Currency, _scaled_int, to_decimal

__all__: list[str] = []


def _half_up(numerator: int, denominator: int) -> int:
    # round(numerator / denominator), ties up; both are >= 0 everywhere here.
    return (2 * numerator + denominator) // (2 * denominator)


def _largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    shares: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append(remainder)
    left = total - sum(shares)
    if left:
        ranked = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in ranked[:left]:
            shares[i] += 1
    return shares


def _signed_units(value: object, cur: Currency, field: str) -> int:
    units = _scaled_int(to_decimal(value, field=field), cur.exponent)
    if units is None:
        raise InvalidAmount(
            f"{field} {value!r} has more decimals than {cur.code} allows",
            details={"field": field, "value": str(value)},
        )
    return units


def _units(value: object, cur: Currency, field: str) -> int:
    units = _signed_units(value, cur, field)
    if units < 0:
        raise InvalidAmount(
            f"{field} must not be negative, got {value}",
            details={"field": field, "value": str(value)},
        )
    return units
