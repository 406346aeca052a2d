"""Property: the analytics figures equal an independent Python computation, on both databases.

Random orders (status, currency, amount, a moment near UTC midnights given in
various time zones) and refunds; ``revenue``, ``new_customers`` and what
``backfill`` writes must equal the same definitions computed in Python from
the same rows (docs/analytics.md).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock

START = date(2026, 1, 1)
DAYS = 4
CLOCK = FrozenClock(datetime(2026, 2, 1, tzinfo=UTC))
PAID = (m.OrderStatus.COMPLETED, m.OrderStatus.REFUNDED)

moments = st.builds(
    lambda seconds, hours: (
        datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    ).astimezone(timezone(timedelta(hours=hours))),
    st.integers(0, DAYS * 86400 - 1) | st.sampled_from([0, 86399, 86400, 2 * 86400 - 1]),
    st.sampled_from([0, 5, -8, 14]),
)
orders = st.lists(
    st.fixed_dictionaries(
        {
            "user": st.integers(0, 3),
            "status": st.sampled_from(list(m.OrderStatus)),
            "currency": st.sampled_from(["USD", "EUR", "JPY"]),
            "cents": st.integers(1, 100_000),
            "at": moments,
            "refund": st.none() | st.tuples(st.integers(1, 100), moments),
        }
    ),
    max_size=12,
)


def _amount(cents: int, currency: str) -> Decimal:
    return Decimal(cents) if currency == "JPY" else Decimal(cents).scaleb(-2)


def _expected(rows: list[dict[str, Any]]) -> tuple[dict[Any, Any], dict[date, int]]:
    figures: dict[tuple[date, str], dict[str, Any]] = defaultdict(
        lambda: {"gross": Decimal(0), "refunds": Decimal(0), "orders": 0}
    )
    firsts: dict[int, datetime] = {}
    for row in rows:
        if row["status"] in PAID:
            key = (row["at"].astimezone(UTC).date(), row["currency"])
            figures[key]["gross"] += _amount(row["cents"], row["currency"])
            figures[key]["orders"] += 1
            firsts[row["user"]] = min(firsts.get(row["user"], row["at"]), row["at"])
        if row["refund"] is not None and row["status"] in PAID:
            cents, when = row["refund"]
            key = (when.astimezone(UTC).date(), row["currency"])
            figures[key]["refunds"] += _amount(cents, row["currency"])
    new: dict[date, int] = defaultdict(int)
    for first in firsts.values():
        new[first.astimezone(UTC).date()] += 1
    return dict(figures), dict(new)


def _insert(session: Session, rows: list[dict[str, Any]]) -> None:
    users = [m.User(email=f"p{n}@example.com", name=f"P {n}") for n in range(4)]
    session.add_all(users)
    session.flush()
    for n, row in enumerate(rows):
        amount = _amount(row["cents"], row["currency"])
        paid = row["status"] in PAID
        order = m.Order(
            user_id=users[row["user"]].id,
            order_number=f"PROP-{n}",
            status=row["status"],
            currency=row["currency"],
            subtotal=amount,
            total_amount=amount,
            billing_address={},
            completed_at=row["at"] if paid else None,
            created_at=row["at"],
        )
        session.add(order)
        session.flush()
        if row["refund"] is not None and paid:
            cents, when = row["refund"]
            session.add(
                m.Refund(
                    order_id=order.id,
                    stripe_refund_id=f"re_prop_{n}",
                    amount=_amount(cents, row["currency"]),
                    currency=row["currency"],
                    reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
                    status=m.RefundStatus.SUCCEEDED,
                    processed_at=when,
                )
            )
    session.flush()


@pytest.mark.partial_state("random orders without items, payments or audit rows")
@given(rows=orders)
@settings(suppress_health_check=list(HealthCheck), database=None)
def test_figures_equal_an_independent_computation(
    engine: Engine, rows: list[dict[str, Any]]
) -> None:
    with engine.connect() as conn:
        outer = conn.begin()
        session = Session(bind=conn, join_transaction_mode="create_savepoint")
        try:
            _insert(session, rows)
            first, last = START - timedelta(days=1), START + timedelta(days=DAYS)
            figures, new = _expected(rows)
            got = analytics.revenue(session, start=first, end=last, clock=CLOCK)
            assert {
                (r.day, r.currency): {"gross": r.gross, "refunds": r.refunds, "orders": r.orders}
                for r in got
            } == figures
            assert all(r.net == r.gross - r.refunds for r in got)
            assert analytics.new_customers(session, start=first, end=last, clock=CLOCK) == new
            analytics.backfill(session, start=first, end=last, clock=CLOCK)
            written = {
                (d, metric): value
                for d, metric, value in session.execute(
                    sa.select(m.Analytics.date, m.Analytics.metric, m.Analytics.value).where(
                        m.Analytics.metric.like("gross_revenue:%")
                    )
                )
            }
            assert written == {
                (day, f"gross_revenue:{currency}"): v["gross"]
                for (day, currency), v in figures.items()
            }
        finally:
            session.close()
            outer.rollback()
