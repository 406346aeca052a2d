"""The definitions of docs/analytics.md as pure functions: no database, no clock.

A subscription's **monthly amount** is ``unit_amount * quantity`` normalised to
a month by its price's interval, computed exactly (as a fraction) and rounded
once, half-up, to 4 decimals per subscription. MRR is the exact sum of those
rounded amounts, so every figure built from them adds up to the last digit.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

from paykit.errors import ValidationError

__all__ = [
    "COUNTING_STATUSES",
    "MRR_QUANTUM",
    "RESOLUTION",
    "day_end",
    "day_of",
    "interval_of",
    "monthly_amount",
    "subscription_monthly_amount",
]

#: Statuses whose subscriptions count towards MRR (the values of ``SubscriptionStatus``).
COUNTING_STATUSES: frozenset[str] = frozenset({"ACTIVE", "PAST_DUE"})

#: MRR figures carry 4 decimals (the seed's ``Decimal(15, 4)`` for analytics).
MRR_QUANTUM = Decimal("0.0001")

# How many times a price of each interval unit is charged in a month.
_PER_MONTH: dict[str, Fraction] = {
    "month": Fraction(1),
    "year": Fraction(1, 12),
    "week": Fraction(52, 12),
    "day": Fraction(365, 12),
}


def _exact_monthly(
    unit_amount: Decimal, quantity: int, interval: str, interval_count: int
) -> Fraction:
    factor = _PER_MONTH.get(interval)
    if factor is None:
        raise ValidationError(f"unknown billing interval {interval!r}")
    if interval_count < 1:
        raise ValidationError(f"interval_count must be at least 1, not {interval_count}")
    return Fraction(unit_amount) * quantity * factor / interval_count


def monthly_amount(
    unit_amount: Decimal, quantity: int, interval: str = "month", interval_count: int = 1
) -> Decimal:
    """``unit_amount * quantity`` per month, rounded half-up to 4 decimals.

    month / ``interval_count``; year / (12 * ``interval_count``); week * 52 /
    (12 * ``interval_count``); day * 365 / (12 * ``interval_count``). The
    product is exact (a fraction) and is rounded once, at the end.
    """
    return _round_half_up(_exact_monthly(unit_amount, quantity, interval, interval_count))


def subscription_monthly_amount(items: Iterable[tuple[Decimal, int, Any]]) -> Decimal:
    """A subscription's monthly amount: the sum over its items, rounded once.

    Each item is ``(unit_amount, quantity, recurring)`` (``recurring`` is its
    price's JSON, :func:`interval_of`); each is normalised to a month exactly,
    the exact sum is rounded half-up to 4 decimals: per subscription, not per
    item. No items is 0.
    """
    total = Fraction(0)
    for unit_amount, quantity, recurring in items:
        total += _exact_monthly(unit_amount, quantity, *interval_of(recurring))
    return _round_half_up(total)


def _round_half_up(value: Fraction) -> Decimal:
    scaled = value * 10**4
    units = (abs(scaled.numerator) * 2 + scaled.denominator) // (2 * scaled.denominator)
    return (Decimal(units if value >= 0 else -units) * MRR_QUANTUM).quantize(
        MRR_QUANTUM, rounding=ROUND_HALF_UP
    )


def interval_of(recurring: Any) -> tuple[str, int]:
    """A price's ``recurring`` JSON (``{"interval", "interval_count"}``) as a pair.

    A price without one counts as monthly.
    """
    if not isinstance(recurring, dict):
        return "month", 1
    interval = str(recurring.get("interval") or "month")
    count = recurring.get("interval_count") or 1
    return interval, int(count)


#: The resolution of paykit's instants (Python, PostgreSQL's timestamptz, SQLite's text).
RESOLUTION = timedelta(microseconds=1)


def day_end(day: date) -> datetime:
    """The last instant of UTC day ``day``: one microsecond before the next midnight.

    A day is ``[midnight, next midnight)``, the calendar day of a timestamp
    (``datetime.date()``, SQL's ``date``), the same for MRR as for revenue. So
    the state in force at the end of ``day`` is the one in force at this
    instant: every change stamped before the next midnight, none stamped at it.
    """
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC) - RESOLUTION


def day_of(moment: datetime) -> date:
    """The UTC day a change at ``moment`` belongs to: its calendar day in UTC.

    A day is ``[midnight, next midnight)``: a change stamped exactly at
    midnight belongs to the day that midnight starts.
    """
    return moment.astimezone(UTC).date()
