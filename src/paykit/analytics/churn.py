"""Customer churn rate, revenue churn, ARPU and LTV (docs/analytics.md, "Churn, ARPU and LTV").

Read only, set-based over ``subscription_mrr_history`` like :mod:`recurring`:
customers are counted in SQL (each subscription's latest row at an instant,
summed per customer), churned customers are the customer-days the movements
classify as churned. Ratios are computed exactly (as fractions) and rounded
once, half-up, to 4 decimals; a ratio whose denominator is 0 is ``None``.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics.definitions import MRR_QUANTUM, day_end
from paykit.analytics.recurring import (
    check_days,
    first_day,
    in_force,
    mrr_movements,
    steps_statement,
)
from paykit.clock import ensure_utc
from paykit.errors import ValidationError
from paykit.models import SubscriptionMrrHistory as H
from paykit.models.types import ExactDecimal
from paykit.money import normalize_currency

__all__ = ["arpu", "customer_churn_rate", "ltv", "paying_statement", "revenue_churn"]

_MRR_TYPE = ExactDecimal(15, 4)


def ratio(numerator: Decimal | Fraction | int, denominator: Decimal | int) -> Decimal | None:
    """``numerator ÷ denominator`` (≥ 0) rounded once, half-up, to 4 decimals; ``None`` over 0."""
    if not denominator:
        return None
    scaled = Fraction(numerator) / Fraction(denominator) * 10_000
    whole = scaled.numerator // scaled.denominator  # floor
    if scaled - whole >= Fraction(1, 2):
        whole += 1
    return Decimal(whole).scaleb(-4).quantize(MRR_QUANTUM)


def paying_statement(at: datetime, currency: str) -> sa.Select[int, Decimal]:
    """Paying customers at ``at`` (MRR > 0) and their MRR: ``(count, total)``, one row."""
    latest = in_force(at, currency, H.user_id, H.mrr, name="latest")
    per_customer = (
        sa.select(sa.func.sum(latest.c.mrr).label("mrr"))
        .where(latest.c.rank == 1)
        .group_by(latest.c.user_id)
        .having(sa.func.sum(latest.c.mrr) > 0)
        .subquery("customers")
    )
    total = sa.type_coerce(sa.func.coalesce(sa.func.sum(per_customer.c.mrr), 0), _MRR_TYPE)
    return sa.select(sa.func.count(), total).select_from(per_customer)


def _paying(session: Session, at: datetime, currency: str) -> tuple[int, Decimal]:
    count, total = session.execute(paying_statement(at, currency)).one()
    return int(count), Decimal(total)


@checked
def customer_churn_rate(
    session: Session, *, start: date, end: date, currency: str
) -> Decimal | None:
    """Churned customers ÷ customers with MRR at the start of ``[start, end]``, in ``currency``.

    A customer is churned in the range when their MRR fell to 0 on one of its
    days (the ``churned`` movement; counted once however often it happened);
    the base is the customers with MRR > 0 at the end of the day before ``start``.
    ``None`` when that base is empty. Read only.
    """
    check_days(start, end)
    code = normalize_currency(currency)
    base, _ = _paying(session, day_end(start - timedelta(days=1)), code)
    dialect = session.get_bind().dialect.name
    steps = steps_statement(end, code, dialect)
    churned = session.execute(
        sa.select(sa.func.count(sa.distinct(steps.c.user_id))).where(
            steps.c.day >= first_day(start, dialect), steps.c.before > 0, steps.c.after == 0
        )
    ).scalar_one()
    return ratio(int(churned), base)


@checked
def revenue_churn(session: Session, *, start: date, end: date, currency: str) -> Decimal | None:
    """MRR lost over ``[start, end]`` (``churned + contraction``) ÷ MRR at its start.

    Gross revenue churn: expansion and reactivation do not offset it. ``None``
    when MRR at the start is 0. Read only.
    """
    moved = mrr_movements(session, start=start, end=end, currency=currency)
    return ratio(moved.churned + moved.contraction, moved.start_mrr)


@checked
def arpu(session: Session, *, at: datetime, currency: str) -> Decimal | None:
    """MRR at ``at`` ÷ the customers paying at ``at`` (MRR > 0) in ``currency``.

    ``None`` when nobody pays. Read only.
    """
    count, total = _paying(session, ensure_utc(at), normalize_currency(currency))
    return ratio(total, count)


@checked
def ltv(session: Session, *, month: date, currency: str) -> Decimal | None:
    """ARPU ÷ monthly revenue churn for the calendar month of ``month`` (its day is ignored).

    ARPU at the month's end over :func:`revenue_churn` of the month, computed
    exactly and rounded once. ``None`` when the churn is 0 (or undefined: no
    MRR at the month's start) or nobody pays at its end. Read only.
    """
    if isinstance(month, datetime):
        raise ValidationError("month is a date", code="invalid_argument")
    first = month.replace(day=1)
    last = month.replace(day=monthrange(month.year, month.month)[1])
    moved = mrr_movements(session, start=first, end=last, currency=currency)
    lost = moved.churned + moved.contraction
    count, total = _paying(session, day_end(last), moved.currency)
    if not lost or not moved.start_mrr or not count:
        return None
    return ratio(Fraction(total) * Fraction(moved.start_mrr) / Fraction(lost), count)
