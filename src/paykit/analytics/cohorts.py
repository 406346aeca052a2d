"""Monthly signup cohorts and their retention, computed set-based in SQL.

A customer's cohort is the UTC month of their first payment (a paid order or
a paid invoice). They are retained in month ``k`` of their cohort when they
paid in that month (docs/analytics.md, "Cohorts").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics._checks import check_day, today
from paykit.analytics._sql import midnight, month_of, payments
from paykit.clock import Clock
from paykit.errors import ValidationError

__all__ = ["Cohort", "CohortTable", "cohorts"]

MAX_MONTHS = 120


def _month_index(month: str) -> int:
    year, number = month.split("-")
    return int(year) * 12 + int(number) - 1


def _month_name(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


@dataclass(frozen=True)
class Cohort:
    """One signup month: its size and how many of it paid in months 0, 1, 2, …"""

    month: str
    customers: int
    retained: tuple[int, ...]

    @property
    def rates(self) -> tuple[Decimal, ...]:
        """``retained[k] ÷ customers``, rounded half-up to 4 decimals."""
        if not self.customers:
            return tuple(Decimal("0") for _ in self.retained)
        return tuple(
            (Decimal(n) / self.customers).quantize(Decimal("0.0001"), ROUND_HALF_UP)
            for n in self.retained
        )


@dataclass(frozen=True)
class CohortTable:
    """Cohorts from ``first_month`` on, each with retention up to the current month."""

    first_month: str
    months: int
    cohorts: tuple[Cohort, ...]


def cohort_rows(session: Session, first: date, months: int, latest: date) -> CohortTable:
    """:func:`cohorts` without the argument checks."""
    start = first.year * 12 + first.month - 1
    now = latest.year * 12 + latest.month - 1
    last = min(start + months - 1, now)
    end_index = min(start + 2 * months - 1, now) + 1
    window_end = midnight(date(end_index // 12, end_index % 12 + 1, 1))
    paid = payments(None, window_end)
    month = month_of(session, paid.c.at)
    activity = (
        sa.select(paid.c.user_id.label("user_id"), month.label("month"))
        .group_by(paid.c.user_id, month)
        .subquery("activity")
    )
    firsts = (
        sa.select(activity.c.user_id, sa.func.min(activity.c.month).label("cohort"))
        .group_by(activity.c.user_id)
        .subquery("firsts")
    )
    counts = session.execute(
        sa.select(firsts.c.cohort, activity.c.month, sa.func.count())
        .join(activity, activity.c.user_id == firsts.c.user_id)
        .where(firsts.c.cohort >= _month_name(start), firsts.c.cohort <= _month_name(last))
        .group_by(firsts.c.cohort, activity.c.month)
    ).all()
    table: dict[int, dict[int, int]] = {}
    for cohort, active, n in counts:
        c = _month_index(str(cohort))
        table.setdefault(c, {})[_month_index(str(active)) - c] = int(n)
    rows = []
    for c in range(start, last + 1):
        seen = table.get(c, {})
        width = min(months, now - c + 1)
        rows.append(
            Cohort(
                month=_month_name(c),
                customers=seen.get(0, 0),
                retained=tuple(seen.get(k, 0) for k in range(width)),
            )
        )
    return CohortTable(first_month=_month_name(start), months=months, cohorts=tuple(rows))


@checked
def cohorts(
    session: Session, *, first_month: date, months: int, clock: Clock | None = None
) -> CohortTable:
    """Monthly signup cohorts from ``first_month``'s month, ``months`` of them (1..120).

    Each cohort has its retention for months 0 … ``months`` - 1 of its life, as far
    as they have happened (a cohort never shows a month that is still to come).
    Read-only; ``first_month`` is a ``datetime.date`` (its day is ignored).
    """
    latest = today(clock)
    first = check_day(first_month, "first_month", latest=latest)
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= MAX_MONTHS:
        raise ValidationError(
            f"months must be an integer in 1..{MAX_MONTHS}",
            code="invalid_argument",
            details={"parameter": "months"},
        )
    return cohort_rows(session, first, months, latest)
