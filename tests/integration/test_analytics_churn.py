"""Customer churn rate, revenue churn, ARPU and LTV against an independent computation
from the same history, written by paykit's own services, on both databases."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.integration.test_analytics_rollup_mrr import _customer, _price

import paykit
from paykit import models as m
from paykit.analytics.definitions import day_end
from paykit.clock import FrozenClock
from paykit.errors import ValidationError
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import cancel_subscription, change_subscription, subscribe

T0 = datetime(2026, 3, 5, 10, 0, tzinfo=UTC)
APRIL = (date(2026, 4, 1), date(2026, 4, 30))


def _history(session: Session) -> None:
    """Four customers from March; in April one churns, one contracts, one expands, one is new."""
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    eur = _price(session, gateway, "EUR", "month")
    users = [_customer(session, gateway, clock) for _ in range(5)]
    subs = [
        subscribe(session, user_id=u.id, price_id=eur.id, gateway=gateway, clock=clock)
        for u in users[:4]
    ]
    clock.advance(days=2)
    change_subscription(
        session, subscription_id=subs[1].id, quantity=3, gateway=gateway, clock=clock
    )
    clock.advance(days=30)  # April 6
    cancel_subscription(
        session, subscription_id=subs[0].id, at_period_end=False, gateway=gateway, clock=clock
    )
    clock.advance(days=3)
    change_subscription(
        session, subscription_id=subs[1].id, quantity=2, gateway=gateway, clock=clock
    )
    change_subscription(
        session, subscription_id=subs[2].id, quantity=4, gateway=gateway, clock=clock
    )
    clock.advance(days=5)
    subscribe(session, user_id=users[4].id, price_id=eur.id, gateway=gateway, clock=clock)


def _per_customer(session: Session, at: datetime) -> dict[str, Fraction]:
    """Independent: each subscription's latest row at ``at`` in Python, summed per customer."""
    latest: dict[str, m.SubscriptionMrrHistory] = {}
    for row in session.scalars(sa.select(m.SubscriptionMrrHistory)).all():
        if row.currency == "EUR" and row.effective_at <= at:
            seen = latest.get(row.subscription_id)
            if seen is None or row.effective_at > seen.effective_at:
                latest[row.subscription_id] = row
    out: dict[str, Fraction] = defaultdict(Fraction)
    for row in latest.values():
        out[row.user_id] += Fraction(row.mrr)
    return {user: v for user, v in out.items() if v > 0}


def _round(value: Fraction) -> Decimal:
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(
        Decimal("0.0001"), rounding=ROUND_HALF_UP
    )


def _independent(session: Session, start: date, end: date) -> dict[str, Fraction]:
    base = _per_customer(session, day_end(start - timedelta(days=1)))
    churned: set[str] = set()
    lost = Fraction(0)
    day = start
    while day <= end:
        before = _per_customer(session, day_end(day - timedelta(days=1)))
        after = _per_customer(session, day_end(day))
        for user, was in before.items():
            now = after.get(user, Fraction(0))
            lost += max(was - now, Fraction(0))
            churned |= {user} if now == 0 else set()
        day += timedelta(days=1)
    final = _per_customer(session, day_end(end))
    return {
        "base": Fraction(len(base)),
        "churned": Fraction(len(churned)),
        "lost": lost,
        "start_mrr": sum(base.values(), Fraction(0)),
        "end_mrr": sum(final.values(), Fraction(0)),
        "paying": Fraction(len(final)),
    }


def test_churn_arpu_ltv_match_an_independent_computation(session: Session) -> None:
    _history(session)
    start, end = APRIL
    want = _independent(session, start, end)
    assert (want["base"], want["churned"]) == (4, 1)
    assert paykit.customer_churn_rate(session, start=start, end=end, currency="EUR") == _round(
        want["churned"] / want["base"]
    )
    assert paykit.revenue_churn(session, start=start, end=end, currency="EUR") == _round(
        want["lost"] / want["start_mrr"]
    )
    arpu = want["end_mrr"] / want["paying"]
    assert paykit.arpu(session, at=day_end(end), currency="EUR") == _round(arpu)
    churn = want["lost"] / want["start_mrr"]
    assert paykit.ltv(session, month=date(2026, 4, 17), currency="EUR") == _round(arpu / churn)
    for day in (date(2026, 3, 4), date(2026, 3, 5), date(2026, 4, 7), date(2026, 4, 20)):
        paying = _per_customer(session, day_end(day))
        expected = _round(sum(paying.values(), Fraction(0)) / len(paying)) if paying else None
        assert paykit.arpu(session, at=day_end(day), currency="eur") == expected


def test_undefined_ratios_are_none(session: Session) -> None:
    _history(session)
    march = (date(2026, 3, 1), date(2026, 3, 31))  # nobody paid at its start
    assert paykit.customer_churn_rate(session, start=march[0], end=march[1], currency="EUR") is None
    assert paykit.revenue_churn(session, start=march[0], end=march[1], currency="EUR") is None
    assert paykit.ltv(session, month=march[0], currency="EUR") is None
    assert paykit.arpu(session, at=day_end(march[1]), currency="USD") is None
    may = date(2026, 5, 1)  # MRR at the start, no churn: LTV undefined
    assert paykit.revenue_churn(session, start=may, end=date(2026, 5, 31), currency="EUR") == 0
    assert paykit.customer_churn_rate(session, start=may, end=may, currency="EUR") == 0
    assert paykit.ltv(session, month=may, currency="EUR") is None


def test_bad_arguments_are_refused(session: Session) -> None:
    with pytest.raises(ValidationError):
        paykit.customer_churn_rate(
            session, start=date(2026, 4, 2), end=date(2026, 4, 1), currency="EUR"
        )
    with pytest.raises(ValidationError):
        paykit.ltv(session, month=datetime(2026, 4, 1, tzinfo=UTC), currency="EUR")
    with pytest.raises(paykit.errors.PaykitError):
        paykit.arpu(session, at=datetime(2026, 4, 1, tzinfo=UTC), currency="E")
