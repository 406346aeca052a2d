"""MRR at an instant and its movements over a range of days (docs/analytics.md).

Both read ``subscription_mrr_history`` only, never write, so they run on any
session, a read-only replica's included. ``mrr`` is one set-based query: the
latest row of each subscription at ``at``, summed. ``mrr_movements`` is one
set-based query too (window functions, on SQLite and PostgreSQL alike), and
what makes its invariant exact is that every day of every customer is
classified as exactly one movement whose amount is that customer's whole
change that day, so the movements telescope to ``end_mrr - start_mrr``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics.definitions import MRR_QUANTUM, day_end
from paykit.clock import ensure_utc
from paykit.errors import ValidationError
from paykit.models import SubscriptionMrrHistory as H
from paykit.models.types import ExactDecimal
from paykit.money import normalize_currency

__all__ = [
    "MrrMovements",
    "check_days",
    "daily_movements_statement",
    "first_day",
    "in_force",
    "movements_statement",
    "mrr",
    "mrr_movements",
    "mrr_statement",
    "steps_statement",
]

_MRR_TYPE = ExactDecimal(15, 4)


@dataclass(frozen=True, slots=True)
class MrrMovements:
    """MRR over a range of days in one currency, and what moved it.

    ``start_mrr + new + reactivation + expansion - contraction - churned ==
    end_mrr``, exactly (:attr:`balanced`). ``start_mrr`` is MRR at the start
    of the first day (the end of the day before), ``end_mrr`` at the end of
    the last day.
    """

    currency: str
    start: date
    end: date
    start_mrr: Decimal
    new: Decimal
    expansion: Decimal
    contraction: Decimal
    churned: Decimal
    reactivation: Decimal
    end_mrr: Decimal

    @property
    def balanced(self) -> bool:
        """Whether the invariant holds (it always does; a test checks it)."""
        moved = self.new + self.reactivation + self.expansion - self.contraction - self.churned
        return self.start_mrr + moved == self.end_mrr


def in_force(at: datetime, currency: str, *columns: Any, name: str | None = None) -> sa.Subquery:
    """Each subscription's history rows up to ``at`` in ``currency``, ranked newest first:
    ``columns`` and ``rank``; its row in force at ``at`` is the one of ``rank == 1``."""
    return (
        sa.select(
            *columns,
            sa.func.row_number()
            .over(partition_by=H.subscription_id, order_by=H.effective_at.desc())
            .label("rank"),
        )
        .where(H.currency == currency, H.effective_at <= at)
        .subquery(name)
    )


def mrr_statement(at: datetime, currency: str) -> sa.Select[Any]:
    """The query of :func:`mrr`: each subscription's latest row at ``at``, summed."""
    latest = in_force(at, currency, H.mrr)
    total = sa.func.coalesce(sa.func.sum(latest.c.mrr), 0)
    return sa.select(sa.type_coerce(total, _MRR_TYPE)).where(latest.c.rank == 1)


@checked
def mrr(session: Session, *, at: datetime, currency: str) -> Decimal:
    """MRR at the instant ``at`` in ``currency``: the monthly amounts of the
    subscriptions that were ACTIVE or PAST_DUE at ``at``, summed exactly.

    A change recorded at exactly ``at`` is in force at ``at``. Read only.
    """
    code = normalize_currency(currency)
    value: Decimal = session.execute(mrr_statement(ensure_utc(at), code)).scalar_one()
    return Decimal(value).quantize(MRR_QUANTUM)


def _day(moment: Any, dialect: str) -> Any:
    """The UTC day a change belongs to (:func:`day_of`), in SQL: its calendar day in UTC."""
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone("UTC", moment), sa.Date)
    # SQLite holds 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC (paykit.models.types.UTCDateTime).
    return sa.func.substr(moment, 1, 10)


def _steps(end: date, currency: str, dialect: str) -> Any:
    """Each customer's days with a change up to ``end``: ``day``, ``before``, ``after``, ``ever``.

    Set-based: each history row's change over its subscription's previous
    row; summed per customer and day; a running sum per customer gives its
    MRR at the end of each day it changed (``after``; ``before`` is
    ``after - change``); whether it was ever > 0 at an earlier day end.
    """
    previous = sa.func.lag(H.mrr).over(partition_by=H.subscription_id, order_by=H.effective_at)
    rows = (
        sa.select(
            H.user_id,
            _day(H.effective_at, dialect).label("day"),
            (H.mrr - sa.func.coalesce(previous, 0)).label("delta"),
        )
        .where(H.currency == currency, H.effective_at <= day_end(end))
        .subquery("rows")
    )
    daily = (
        sa.select(rows.c.user_id, rows.c.day, sa.func.sum(rows.c.delta).label("change"))
        .group_by(rows.c.user_id, rows.c.day)
        .subquery("daily")
    )
    running = sa.func.sum(daily.c.change).over(
        partition_by=daily.c.user_id, order_by=daily.c.day, rows=(None, 0)
    )
    days = (
        sa.select(daily.c.day, daily.c.change, running.label("after"))
        .add_columns(daily.c.user_id)
        .subquery("days")
    )
    ever = sa.func.max(sa.case((days.c.after > 0, 1), else_=0)).over(
        partition_by=days.c.user_id, order_by=days.c.day, rows=(None, -1)
    )
    return sa.select(
        days.c.user_id,
        days.c.day,
        days.c.after,
        (days.c.after - days.c.change).label("before"),
        sa.func.coalesce(ever, 0).label("ever"),
    ).subquery("steps")


def _movement_totals(steps: Any) -> list[Any]:
    """new, expansion, contraction, churned, reactivation: each day one movement of its change."""
    before, after = steps.c.before, steps.c.after
    rising = sa.and_(before == 0, after > 0)

    def total(condition: Any, amount: Any) -> Any:
        summed = sa.func.coalesce(sa.func.sum(sa.case((condition, amount), else_=0)), 0)
        return sa.type_coerce(summed, _MRR_TYPE)

    return [
        total(sa.and_(rising, steps.c.ever == 0), after),
        total(sa.and_(before > 0, after > before), after - before),
        total(sa.and_(after > 0, after < before), before - after),
        total(sa.and_(before > 0, after == 0), before),
        total(sa.and_(rising, steps.c.ever == 1), after),
    ]


def _first(start: date, dialect: str) -> Any:
    return start.isoformat() if dialect != "postgresql" else start


def movements_statement(start: date, end: date, currency: str, dialect: str) -> sa.Select[Any]:
    """The query of :func:`mrr_movements`: new, expansion, contraction, churned, reactivation.

    Each customer's change on each day (:func:`_steps`) in the range is
    classified as one movement of its whole change, and the movements summed.
    """
    steps = _steps(end, currency, dialect)
    return sa.select(*_movement_totals(steps)).where(steps.c.day >= _first(start, dialect))


def daily_movements_statement(
    start: date, end: date, currency: str, dialect: str
) -> sa.Select[Any]:
    """:func:`movements_statement` per day: ``day`` then the five movements, for each
    day of ``[start, end]`` with a change (a day without a row moved nothing)."""
    steps = _steps(end, currency, dialect)
    return (
        sa.select(steps.c.day, *_movement_totals(steps))
        .where(steps.c.day >= _first(start, dialect))
        .group_by(steps.c.day)
    )


def check_days(start: date, end: date) -> None:
    """Refuse a range of days that is not one: datetimes, ``end < start``, the calendar's edges."""
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise ValidationError("start and end are dates", code="invalid_argument")
    if end < start:
        raise ValidationError("end is before start", code="invalid_argument")
    if start.year < 2 or end.year > 9998:
        raise ValidationError("start and end must lie within years 2-9998", code="invalid_argument")


def steps_statement(end: date, currency: str, dialect: str) -> Any:
    """Each customer's days with a change up to ``end`` (``user_id``, ``day``, ``before``,
    ``after``, ``ever``), as a subquery: what the movements classify."""
    return _steps(end, currency, dialect)


def first_day(start: date, dialect: str) -> Any:
    """``start`` as the SQL of :func:`steps_statement`'s ``day`` compares it."""
    return _first(start, dialect)


@checked
def mrr_movements(session: Session, *, start: date, end: date, currency: str) -> MrrMovements:
    """MRR movements in ``currency`` over the days ``start`` to ``end`` (both included).

    Per customer, day by day (UTC days, ``[00:00, 24:00)``): 0 to > 0 for the
    first time ever is new, 0 to > 0 again a reactivation, a rise while > 0
    an expansion, a fall staying > 0 a contraction, a fall to 0 churned.
    Read only.
    """
    check_days(start, end)
    code = normalize_currency(currency)
    dialect = session.get_bind().dialect.name
    found = session.execute(movements_statement(start, end, code, dialect)).one()
    new, expansion, contraction, churned, reactivation = (Decimal(v) for v in found)
    first = session.execute(mrr_statement(day_end(start - timedelta(days=1)), code)).scalar_one()
    last = session.execute(mrr_statement(day_end(end), code)).scalar_one()
    return MrrMovements(
        code,
        start,
        end,
        Decimal(first).quantize(MRR_QUANTUM),
        new,
        expansion,
        contraction,
        churned,
        reactivation,
        Decimal(last).quantize(MRR_QUANTUM),
    )
