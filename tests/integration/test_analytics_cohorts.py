"""Cohort retention by the definition: MRR > 0 or a payment in the month, on both databases.

A customer's cohort is the UTC month of their first payment; they are retained
in month k when they had MRR > 0 at some instant of that month or paid in it
(docs/analytics.md, "Cohorts").
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways.base import GatewayInvoice, GatewaySubscription
from paykit.services.subscriptions import sync_invoice, sync_subscription

CLOCK = FrozenClock(datetime(2026, 4, 15, 12, 0, tzinfo=UTC))


def _subscription(session: Session, name: str, at: datetime, status: str = "active") -> None:
    snapshot = GatewaySubscription(
        id=f"sub_c_{name}",
        customer_id=f"cus_c_{name}",
        status=status,  # type: ignore[arg-type]
        price_id="p_c_year",
        product_id=None,
        quantity=1,
        unit_amount_minor=None,
        currency="USD",
        current_period_start=at,
        current_period_end=at + timedelta(days=365),
        cancel_at_period_end=False,
        canceled_at=at if status == "canceled" else None,
        trial_start=at if status == "trialing" else None,
        trial_end=at + timedelta(days=90) if status == "trialing" else None,
    )
    sync_subscription(session, snapshot, clock=CLOCK, event_created=at)


def _paid_invoice(session: Session, name: str, at: datetime) -> None:
    sync_invoice(
        session,
        GatewayInvoice(
            id=f"in_c_{name}",
            subscription_id=f"sub_c_{name}",
            status="paid",  # type: ignore[arg-type]
            currency="usd",
            number=f"C-{name}",
            subtotal_minor=12000,
            tax_minor=0,
            total_minor=12000,
            amount_paid_minor=12000,
            amount_due_minor=12000,
            period_start=at,
            period_end=at + timedelta(days=365),
            paid_at=at,
        ),
        clock=CLOCK,
    )


def _order(session: Session, user: m.User, at: datetime) -> None:
    f.order(
        session, user, status=m.OrderStatus.COMPLETED, total_amount=Decimal("9.00"), created_at=at
    )


def test_a_subscriber_without_orders_is_retained_while_their_mrr_lasts(session: Session) -> None:
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    f.price(
        session,
        product,
        stripe_price_id="p_c_year",
        currency="USD",
        unit_amount=Decimal("120.00"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "year", "interval_count": 1},
    )
    users = {name: f.user(session, stripe_customer_id=f"cus_c_{name}") for name in "abcdef"}
    jan = datetime(2026, 1, 10, 9, tzinfo=UTC)
    # a: only a yearly subscription and its one paid invoice in January, no order ever.
    _subscription(session, "a", jan)
    _paid_invoice(session, "a", jan)
    # b: one order in January, nothing else.
    _order(session, users["b"], jan)
    # c: a subscription paid in January, cancelled on 20 February.
    _subscription(session, "c", jan)
    _paid_invoice(session, "c", jan)
    _subscription(session, "c", datetime(2026, 2, 20, 9, tzinfo=UTC), status="canceled")
    # d: MRR but no payment at all: no cohort (a cohort is the month of a first payment).
    _subscription(session, "d", jan)
    # e: an order in January and a subscription cancelled exactly at midnight on 1 March:
    # its MRR ends at that instant, so March (which starts then) never sees it.
    _order(session, users["e"], jan)
    _subscription(session, "e", jan)
    _subscription(session, "e", datetime(2026, 3, 1, tzinfo=UTC), status="canceled")
    # f: an order in January and a trial (MRR 0): the trial retains nobody.
    _order(session, users["f"], jan)
    _subscription(session, "f", jan, status="trialing")

    table = analytics.cohorts(session, first_month=date(2026, 1, 1), months=4, clock=CLOCK)
    january = table.cohorts[0]
    assert (january.month, january.customers) == ("2026-01", 5)
    #                            Jan  Feb (a, c, e)  Mar (a)  Apr (a)
    assert january.retained == (5, 3, 1, 1)
    assert [c.customers for c in table.cohorts[1:]] == [0, 0, 0]


def test_cohorts_and_the_report_run_in_a_read_only_transaction(
    engine: sa.Engine, backend: str
) -> None:
    """What a PostgreSQL replica allows: the cohorts and the report's MRR charts never write."""
    if backend != "postgresql":
        pytest.skip("READ ONLY transactions are PostgreSQL's")
    with engine.connect() as conn:
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        session = Session(bind=conn)
        table = analytics.cohorts(session, first_month=date(2026, 1, 1), months=4, clock=CLOCK)
        assert len(table.cohorts) == 4
        html = analytics.render_report(
            session, start=date(2026, 1, 1), end=date(2026, 4, 15), clock=CLOCK
        )
        assert "Churn by month" in html
        conn.rollback()
