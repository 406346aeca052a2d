"""The definitions of docs/analytics.md: normalisation to a month, rounding, day boundaries."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from paykit.analytics.definitions import day_end, day_of, interval_of, monthly_amount
from paykit.errors import ValidationError


@pytest.mark.parametrize(
    ("amount", "quantity", "interval", "count", "expected"),
    [
        ("29.00", 1, "month", 1, "29.0000"),
        ("10.00", 1, "month", 3, "3.3333"),
        ("100.00", 1, "year", 1, "8.3333"),
        ("333.33", 1, "year", 2, "13.8888"),  # 13.88875 exactly: a tie, rounded up
        ("10.00", 3, "week", 1, "130.0000"),
        ("7.77", 1, "week", 2, "16.8350"),
        ("1.01", 1, "day", 7, "4.3887"),
        ("0.05", 1, "year", 1, "0.0042"),
        ("0.06", 1, "year", 1, "0.0050"),  # 0.005 exactly: a tie, rounded up
        ("980", 2, "month", 1, "1960.0000"),
    ],
)
def test_monthly_amount(
    amount: str, quantity: int, interval: str, count: int, expected: str
) -> None:
    assert monthly_amount(Decimal(amount), quantity, interval, count) == Decimal(expected)


def test_unknown_interval_and_bad_count_are_refused() -> None:
    with pytest.raises(ValidationError):
        monthly_amount(Decimal("1"), 1, "fortnight", 1)
    with pytest.raises(ValidationError):
        monthly_amount(Decimal("1"), 1, "month", 0)


def test_interval_of_defaults_to_monthly() -> None:
    assert interval_of(None) == ("month", 1)
    assert interval_of({"interval": "year", "interval_count": 2}) == ("year", 2)


def test_a_change_at_midnight_belongs_to_the_day_it_starts() -> None:
    """Days are [00:00, 24:00) UTC, for MRR as for revenue (docs/analytics.md)."""
    assert day_of(datetime(2026, 3, 2, tzinfo=UTC)) == date(2026, 3, 2)
    assert day_of(datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)) == date(2026, 3, 1)
    assert day_end(date(2026, 3, 1)) == datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC)
    assert day_of(day_end(date(2026, 3, 1))) == date(2026, 3, 1)
