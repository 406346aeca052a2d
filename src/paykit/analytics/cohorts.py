"""Monthly signup cohorts and their retention, computed set-based in SQL.

A customer's cohort is the UTC month of their first payment (a paid order or
a paid invoice). They are retained in month ``k`` of their cohort when they
had MRR > 0 at some instant of that month (``subscription_mrr_history``) or
paid in it (docs/analytics.md, "Cohorts").
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
from paykit.models import SubscriptionMrrHistory as H
from paykit.models.types import UTCDateTime

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


def _month_start(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def _months(first: int, end: int) -> sa.Subquery:
    """The months ``first`` … ``end - 1`` (indexes) as rows: ``month`` (text), ``lo``, ``hi``."""
    stamp = UTCDateTime()
    rows = [
        sa.select(
            sa.literal(_month_name(n), sa.Text()).label("month"),
            sa.literal(midnight(_month_start(n)), stamp).label("lo"),
            sa.literal(midnight(_month_start(n + 1)), stamp).label("hi"),
        )
        for n in range(first, end)
    ]
    return sa.union_all(*rows).subquery("months")


def mrr_months(first: int, end: int) -> sa.Select[tuple[str, str]]:
    """``(user_id, month)`` for each month of ``first`` … ``end - 1`` in which the customer
    had MRR > 0 at some instant: a subscription's history row with ``mrr > 0`` whose
    span (from its ``effective_at`` to the subscription's next row) meets the month."""
    following = sa.func.lead(H.effective_at).over(
        partition_by=H.subscription_id, order_by=H.effective_at
    )
    spans = sa.select(
        H.user_id, H.mrr, H.effective_at.label("since"), following.label("until")
    ).subquery("spans")
    months = _months(first, end)
    return (
        sa.select(spans.c.user_id, months.c.month)
        .join(
            months,
            sa.and_(
                spans.c.since < months.c.hi,
                sa.or_(spans.c.until.is_(None), spans.c.until > months.c.lo),
            ),
        )
        .where(spans.c.mrr > 0)
    )


def cohort_rows(session: Session, first: date, months: int, latest: date) -> CohortTable:
    """:func:`cohorts` without the argument checks."""
    start = first.year * 12 + first.month - 1
    now = latest.year * 12 + latest.month - 1
    last = min(start + months - 1, now)
    end_index = min(start + 2 * months - 1, now) + 1
    paid = payments(None, midnight(_month_start(end_index)))
    month = month_of(session, paid.c.at)
    paying = sa.select(paid.c.user_id.label("user_id"), month.label("month"))
    paid_months = paying.subquery("paid_months")
    firsts = (
        sa.select(paid_months.c.user_id, sa.func.min(paid_months.c.month).label("cohort"))
        .group_by(paid_months.c.user_id)
        .subquery("firsts")
    )
    # union, not union all: one row per customer and month, however they were active.
    activity = sa.union(paying, mrr_months(start, end_index)).subquery("activity")
    counts = session.execute(
        sa.select(firsts.c.cohort, activity.c.month, sa.func.count())
        .join(activity, activity.c.user_id == firsts.c.user_id)
        .where(
            firsts.c.cohort >= _month_name(start),
            firsts.c.cohort <= _month_name(last),
            activity.c.month >= firsts.c.cohort,
        )
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
