"""MRR at an instant and its movements over a range of days (docs/analytics.md).

Both read ``subscription_mrr_history`` only, never write, so they run on any
session, a read-only replica's included. ``mrr`` is one set-based query: the
latest row of each subscription at ``at``, summed. ``mrr_movements`` reads the
rows of the currency up to the range's end in one ordered query and walks each
customer's day-end values once, which is what makes the invariant exact:
every day of every customer is classified as exactly one movement, whose
amount is that customer's whole change that day.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics.definitions import MRR_QUANTUM, day_end, day_of
from paykit.clock import ensure_utc
from paykit.errors import ValidationError
from paykit.models import SubscriptionMrrHistory as H
from paykit.models.types import ExactDecimal
from paykit.money import normalize_currency

__all__ = ["MrrMovements", "mrr", "mrr_movements"]

_ZERO = Decimal("0.0000")
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


def mrr_statement(at: datetime, currency: str) -> sa.Select[Any]:
    """The query of :func:`mrr`: each subscription's latest row at ``at``, summed."""
    latest = (
        sa.select(
            H.mrr,
            sa.func.row_number()
            .over(partition_by=H.subscription_id, order_by=H.effective_at.desc())
            .label("rank"),
        )
        .where(H.currency == currency, H.effective_at <= at)
        .subquery()
    )
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


def _day_totals(rows: Iterable[Any]) -> list[tuple[date, Decimal]]:
    """One customer's MRR at the end of each day on which it changed, in day order."""
    current: dict[str, Decimal] = {}
    total = _ZERO
    days: list[tuple[date, Decimal]] = []
    for _, subscription_id, effective_at, value in rows:
        total += value - current.get(subscription_id, _ZERO)
        current[subscription_id] = value
        day = day_of(effective_at)
        if days and days[-1][0] == day:
            days[-1] = (day, total)
        else:
            days.append((day, total))
    return days


@checked
def mrr_movements(session: Session, *, start: date, end: date, currency: str) -> MrrMovements:
    """MRR movements in ``currency`` over the days ``start`` to ``end`` (both included).

    Per customer, day by day (UTC, a day ends at midnight): 0 to > 0 for the
    first time ever is new, 0 to > 0 again a reactivation, a rise while > 0
    an expansion, a fall staying > 0 a contraction, a fall to 0 churned.
    Read only.
    """
    if isinstance(start, datetime) or isinstance(end, datetime):
        raise ValidationError("start and end are dates", code="invalid_argument")
    if end < start:
        raise ValidationError("end is before start", code="invalid_argument")
    code = normalize_currency(currency)
    rows = session.execute(
        sa.select(H.user_id, H.subscription_id, H.effective_at, H.mrr)
        .where(H.currency == code, H.effective_at <= day_end(end))
        .order_by(H.user_id, H.effective_at, H.subscription_id)
    )
    sums = dict.fromkeys(
        ("start", "new", "expansion", "contraction", "churned", "react", "end"), _ZERO
    )
    for _, customer_rows in itertools.groupby(rows, key=lambda row: row[0]):
        ever = False
        before = _ZERO
        started = False
        for day, total in _day_totals(customer_rows):
            if day >= start and not started:
                sums["start"] += before
                started = True
            if day >= start:
                _classify(sums, before, total, ever)
            ever = ever or total > 0
            before = total
        if not started:
            sums["start"] += before
        sums["end"] += before
    return MrrMovements(
        code,
        start,
        end,
        sums["start"],
        sums["new"],
        sums["expansion"],
        sums["contraction"],
        sums["churned"],
        sums["react"],
        sums["end"],
    )


def _classify(sums: dict[str, Decimal], before: Decimal, after: Decimal, ever: bool) -> None:
    if after == before:
        return
    if before == 0:
        sums["react" if ever else "new"] += after
    elif after == 0:
        sums["churned"] += before
    elif after > before:
        sums["expansion"] += after - before
    else:
        sums["contraction"] += before - after
