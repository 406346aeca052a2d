"""Proration: what a plan or seat change in the middle of a period credits and charges.

Pure arithmetic, no clock and no database (layer 4). The rules, which
``docs/subscriptions.md`` repeats with examples, are Stripe's:

* **Time is counted in whole seconds.** The share of a period still to run
  at the change is ``(period_end - at) / (period_end - period_start)``, both
  truncated to seconds. A change at midnight of a day-aligned period is
  therefore exactly "by day".
* **Two lines per change.** A *credit* for the unused time on the old
  price and quantity (negative), and a *charge* for the same remaining time
  on the new ones (positive). Each line is rounded on its own to the
  currency's minor unit, half away from zero, from the exact fraction
  (integer arithmetic, no decimal context). A line that rounds to zero is
  left out; a change that changes nothing has no lines.
* **The net** is the sum of the rounded lines, so it always equals what an
  invoice that lists the lines adds up to.
* A change at ``period_start`` credits and charges whole periods; a change
  at ``period_end`` credits and charges nothing.

Amounts are quantized per currency (:mod:`paykit.money`); a time outside the
period, a naive datetime, a quantity below zero or a negative unit amount
raise :class:`~paykit.errors.ValidationError` / :class:`~paykit.errors.InvalidAmount`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from paykit._arguments import checked
from paykit.errors import ValidationError
from paykit.money import (
    Currency,
    MoneyInput,
    _clean_zero,
    _from_scaled_int,
    _scaled_int,
    get_currency,
)
from paykit.pricing._units import _half_up, _units

__all__ = [
    "ProratedChange",
    "ProrationLine",
    "next_period_end",
    "period_amount",
    "prorate_change",
    "remaining_fraction",
]


@dataclass(frozen=True, slots=True)
class ProrationLine:
    """One line of a proration: a credit (``amount < 0``) or a charge (``amount > 0``).

    ``unit_amount`` and ``quantity`` are the price and seats the line is for;
    ``period_start``/``period_end`` the stretch of time it covers (from the
    change to the end of the period).
    """

    kind: str
    currency: str
    unit_amount: Decimal
    quantity: int
    amount: Decimal
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True)
class ProratedChange:
    """The lines of one change and their sum (``net``; negative means a credit)."""

    currency: str
    lines: tuple[ProrationLine, ...]
    net: Decimal
    fraction: Fraction


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be timezone-aware", details={"field": field, "value": str(value)}
        )
    return value


def _seconds(start: datetime, end: datetime) -> int:
    # Whole seconds, truncated: Stripe prorates to the second.
    delta = end - start
    return delta.days * 86_400 + delta.seconds


@checked
def remaining_fraction(*, period_start: datetime, period_end: datetime, at: datetime) -> Fraction:
    """The exact share of the period still to run at ``at`` (0 at the end, 1 at the start).

    Raises :class:`~paykit.errors.ValidationError` for a naive datetime, an
    empty or inverted period, or ``at`` outside ``[period_start, period_end]``.
    """
    start = _aware(period_start, "period_start")
    end = _aware(period_end, "period_end")
    moment = _aware(at, "at")
    total = _seconds(start, end)
    if total <= 0:
        raise ValidationError(
            "period_end must be after period_start",
            details={"field": "period_end", "value": str(period_end)},
        )
    if moment < start or moment > end:
        raise ValidationError(
            "the change time is outside the current period",
            code="proration_outside_period",
            details={"field": "at", "value": str(at)},
        )
    return Fraction(_seconds(moment, end), total)


def _quantity(value: int, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(
            f"{field} must be a whole number of seats, 0 or more",
            details={"field": field, "value": str(value)},
        )
    return value


def _scaled(units: int, fraction: Fraction) -> int:
    # round(units * fraction), ties away from zero; units >= 0 here.
    return _half_up(units * fraction.numerator, fraction.denominator)


@checked
def period_amount(*, unit_amount: MoneyInput, quantity: int, currency: str) -> Decimal:
    """A full period's charge: ``unit_amount * quantity``, exact in the currency's minor unit."""
    cur = get_currency(currency)
    units = _units(unit_amount, cur, "unit_amount") * _quantity(quantity, "quantity")
    return _from_scaled_int(units, cur.exponent)


def _line(
    kind: str,
    cur: Currency,
    unit_units: int,
    quantity: int,
    fraction: Fraction,
    span: tuple[datetime, datetime],
) -> ProrationLine | None:
    amount = _scaled(unit_units * quantity, fraction)
    if amount == 0:
        return None
    signed = -amount if kind == "credit" else amount
    return ProrationLine(
        kind=kind,
        currency=cur.code,
        unit_amount=_from_scaled_int(unit_units, cur.exponent),
        quantity=quantity,
        amount=_from_scaled_int(signed, cur.exponent),
        period_start=span[0],
        period_end=span[1],
    )


@checked
def prorate_change(
    *,
    currency: str,
    period_start: datetime,
    period_end: datetime,
    at: datetime,
    old_unit_amount: MoneyInput,
    old_quantity: int,
    new_unit_amount: MoneyInput,
    new_quantity: int,
) -> ProratedChange:
    """The credit and charge of switching price and/or seats at ``at`` (rules in the module doc).

    >>> from datetime import UTC, datetime
    >>> change = prorate_change(
    ...     currency="USD",
    ...     period_start=datetime(2026, 1, 1, tzinfo=UTC),
    ...     period_end=datetime(2026, 1, 31, tzinfo=UTC),
    ...     at=datetime(2026, 1, 16, tzinfo=UTC),
    ...     old_unit_amount="10.00", old_quantity=3,
    ...     new_unit_amount="10.00", new_quantity=5,
    ... )
    >>> [str(line.amount) for line in change.lines], str(change.net)
    (['-15.00', '25.00'], '10.00')
    """
    cur = get_currency(currency)
    fraction = remaining_fraction(period_start=period_start, period_end=period_end, at=at)
    old_units = _units(old_unit_amount, cur, "old_unit_amount")
    new_units = _units(new_unit_amount, cur, "new_unit_amount")
    old_qty = _quantity(old_quantity, "old_quantity")
    new_qty = _quantity(new_quantity, "new_quantity")
    lines: list[ProrationLine] = []
    if (old_units, old_qty) != (new_units, new_qty):
        span = (at, period_end)
        for line in (
            _line("credit", cur, old_units, old_qty, fraction, span),
            _line("charge", cur, new_units, new_qty, fraction, span),
        ):
            if line is not None:
                lines.append(line)
    net = sum(_scaled_int(line.amount, cur.exponent) or 0 for line in lines)
    return ProratedChange(
        currency=cur.code,
        lines=tuple(lines),
        net=_clean_zero(_from_scaled_int(net, cur.exponent)),
        fraction=fraction,
    )


def _add_months(value: datetime, months: int) -> datetime:
    total = value.month - 1 + months
    year, month = value.year + total // 12, total % 12 + 1
    day = min(value.day, calendar.monthrange(year, month)[1])
    return value.replace(year=year, month=month, day=day)


@checked
def next_period_end(*, period_start: datetime, interval: str, interval_count: int = 1) -> datetime:
    """The end of a billing period that starts at ``period_start`` (Stripe's calendar rules).

    ``interval`` is ``day``, ``week``, ``month`` or ``year``; a month from the
    31st ends on the last day of a shorter month.
    """
    start = _aware(period_start, "period_start")
    if isinstance(interval_count, bool) or interval_count < 1:
        raise ValidationError(
            "interval_count must be 1 or more", details={"field": "interval_count"}
        )
    if interval == "day":
        return start + timedelta(days=interval_count)
    if interval == "week":
        return start + timedelta(weeks=interval_count)
    if interval == "month":
        return _add_months(start, interval_count)
    if interval == "year":
        return _add_months(start, 12 * interval_count)
    raise ValidationError(
        f"unknown billing interval {interval!r}",
        details={"field": "interval", "value": str(interval)},
    )
