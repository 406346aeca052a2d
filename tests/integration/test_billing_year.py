"""A year of a per-seat subscription with FrozenClock, on both databases and both gateways.

Trial, conversion, two seat changes with prorations, a failed renewal and its
recovery, a plan change at the period's end, a cancellation with a reason.
Time passes at the gateway as at Stripe (``FakeGateway.advance_clock``, a test
clock; behind StripeGateway the test server's account): it issues each renewal
invoice and charges it, and every event it sends is delivered through
``paykit.webhooks.handle_webhook``, which is how paykit records the invoices.
Each gateway-issued invoice total, and each stored one, is held against an
independent computation below (integer cents and ``Fraction`` seconds, written
apart from ``paykit.pricing.proration`` and from the fake's billing engine);
paykit's own preview of the next invoice is held against it too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa
import stripe
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import StripeServer, serve

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway, PaymentGateway
from paykit.gateways.stripe import StripeGateway
from paykit.services.billing import retry_invoice, set_default_payment_method
from paykit.services.subscriptions import (
    apply_scheduled_changes,
    cancel_subscription,
    change_subscription,
    end_trials,
    ensure_gateway_customer,
    preview_subscription_change,
    subscribe,
)
from paykit.testing import sign_webhook
from paykit.webhooks import handle_webhook

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SECRET = "whsec_year"


# ------------------------------------------------------------------ the independent computation


def half_up(numerator: int, denominator: int) -> int:
    """round(numerator / denominator), ties away from zero, for numerator >= 0."""
    whole, rest = divmod(numerator, denominator)
    return whole + (1 if 2 * rest >= denominator else 0)


def proration_cents(
    start: datetime, end: datetime, at: datetime, old_cents: int, new_cents: int
) -> int:
    """Charge for the new plan minus credit for the old, over the rest of the period."""
    left = Fraction(int((end - at).total_seconds()), int((end - start).total_seconds()))
    credit = half_up(old_cents * left.numerator, left.denominator)
    charge = half_up(new_cents * left.numerator, left.denominator)
    return charge - credit


def cents(amount: Decimal) -> int:
    return int(amount * 100)


# ------------------------------------------------------------------ the world


@dataclass
class Year:
    session: Session
    clock: FrozenClock
    gateway: PaymentGateway
    account: FakeGateway  # the gateway's account: FakeGateway itself, or the server's
    user: m.User
    seat: m.Price
    team: m.Price
    visa: m.PaymentMethod
    issued: list[int]  # every invoice total the gateway issued, in order


@pytest.fixture(params=["fake", "stripe"])
def year(request: pytest.FixtureRequest, session: Session) -> Iterator[Year]:
    clock = FrozenClock(T0)
    server: StripeServer | None = None
    if request.param == "fake":
        account = FakeGateway(clock=clock)
        gateway: PaymentGateway = account
    else:
        stripe.enable_telemetry = False
        servers = serve(clock)
        server = next(servers)
        account = server.fake
        gateway = StripeGateway(api_key="sk_test_year", api_base=server.url)
    account.add_price(unit_amount=1000, currency="usd", price_id="price_seat")
    account.add_price(unit_amount=1500, currency="usd", price_id="price_team")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("10.00"))
    monthly = {"interval": "month", "interval_count": 1}
    seat = f.price(
        session,
        product,
        stripe_price_id="price_seat",
        unit_amount=Decimal("10.00"),
        type=m.PriceType.RECURRING,
        recurring=monthly,
    )
    team = f.price(
        session,
        product,
        stripe_price_id="price_team",
        unit_amount=Decimal("15.00"),
        type=m.PriceType.RECURRING,
        recurring=monthly,
    )
    user = f.user(session)
    customer = ensure_gateway_customer(session, user, gateway, clock=clock)
    card = gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    visa = m.PaymentMethod(user_id=user.id, stripe_payment_method_id=card.id, type="card")
    session.add(visa)
    session.flush()
    yield Year(session, clock, gateway, account, user, seat, team, visa, [])
    if server is not None:
        server.stop()


def deliver(y: Year) -> None:
    """Every event the gateway's account sent so far, through paykit's webhook path."""
    for event in y.account.drain_events():
        body = json.dumps(event).encode()
        response = handle_webhook(
            y.session,
            body,
            sign_webhook(body, SECRET, y.clock.now()),
            secrets=[SECRET],
            gateway=y.gateway,
            clock=y.clock,
        )
        assert response.status_code == 200, (event["type"], response.body)


def upcoming(y: Year, row: m.Subscription) -> int:
    """The next invoice's total in cents as paykit previews it (the scheduled plan, if any)."""
    preview = preview_subscription_change(
        y.session,
        subscription_id=row.id,
        price_id=row.pending_price_id or row.price_id,
        quantity=row.pending_quantity or row.quantity,
        at_period_end=True,
        clock=y.clock,
    )
    return cents(preview.next_invoice_total)


def advance(y: Year, to: datetime) -> None:
    """Time passes at the gateway (a test clock); what it billed reaches paykit by webhook."""
    y.issued.extend(invoice.invoice.total_minor for invoice in y.account.advance_clock(to))
    deliver(y)


def renew(y: Year, row: m.Subscription, previews: list[int]) -> m.Subscription:
    """Just before the period ends, paykit's preview; then the gateway renews."""
    y.clock.set(row.current_period_end - timedelta(minutes=30))
    apply_scheduled_changes(y.session, gateway=y.gateway, clock=y.clock, ahead=timedelta(hours=1))
    deliver(y)
    previews.append(upcoming(y, row))
    advance(y, row.current_period_end + timedelta(minutes=1))
    y.session.refresh(row)
    return row


def test_a_year_of_a_per_seat_subscription(year: Year) -> None:
    y = year
    previews: list[int] = []
    expected: list[int] = []
    row = subscribe(
        y.session,
        user_id=y.user.id,
        price_id=y.seat.id,
        quantity=3,
        trial_days=14,
        gateway=y.gateway,
        clock=y.clock,
    )
    deliver(y)
    assert row.status is m.SubscriptionStatus.TRIALING

    # Trial end (Jan 15): the gateway converts it and invoices the first period, 3 seats;
    # the webhooks already told paykit, so the trial job finds nothing left to settle.
    row = renew(y, row, previews)
    assert row.status is m.SubscriptionStatus.ACTIVE
    assert end_trials(y.session, gateway=y.gateway, clock=y.clock) == []
    expected.append(3 * 1000)

    row = renew(y, row, previews)  # Feb 15
    expected.append(3 * 1000)

    # Mar 1: 3 -> 5 seats, prorated onto the next invoice.
    y.clock.set(datetime(2026, 3, 1, tzinfo=UTC))
    start, end, at = row.current_period_start, row.current_period_end, y.clock.now()
    change_subscription(
        y.session,
        subscription_id=row.id,
        quantity=5,
        gateway=y.gateway,
        clock=y.clock,
        idempotency_key="seats-5",
    )
    deliver(y)
    first_proration = proration_cents(start, end, at, 3 * 1000, 5 * 1000)
    row = renew(y, row, previews)  # Mar 15
    expected.append(5 * 1000 + first_proration)
    row = renew(y, row, previews)  # Apr 15
    expected.append(5 * 1000)

    # May 10: 5 -> 4 seats, a net credit on the next invoice.
    y.clock.set(datetime(2026, 5, 10, 12, tzinfo=UTC))
    start, end, at = row.current_period_start, row.current_period_end, y.clock.now()
    change_subscription(
        y.session,
        subscription_id=row.id,
        quantity=4,
        gateway=y.gateway,
        clock=y.clock,
        idempotency_key="seats-4",
    )
    deliver(y)
    second_proration = proration_cents(start, end, at, 5 * 1000, 4 * 1000)
    assert second_proration < 0
    row = renew(y, row, previews)  # May 15
    expected.append(4 * 1000 + second_proration)

    # Jun 15: the card on file now declines, so the renewal fails and dunning starts.
    declining = y.gateway.attach_payment_method(
        "pm_card_chargeDeclined",
        customer_id=y.user.stripe_customer_id,
        idempotency_key="declining",
    )
    deliver(y)
    row = renew(y, row, previews)  # Jun 15
    expected.append(4 * 1000)
    assert row.status is m.SubscriptionStatus.PAST_DUE
    assert declining.id not in {y.visa.stripe_payment_method_id}
    failed = y.session.scalars(
        sa.select(m.Invoice).where(
            m.Invoice.subscription_id == row.id, m.Invoice.status == m.InvoiceStatus.OPEN
        )
    ).one()
    # Three days later the customer makes the visa card the default again; the retry pays.
    y.clock.advance(timedelta(days=3))
    set_default_payment_method(
        y.session, payment_method_id=y.visa.id, gateway=y.gateway, clock=y.clock
    )
    retried = retry_invoice(y.session, invoice_id=failed.id, gateway=y.gateway, clock=y.clock)
    assert retried.paid
    deliver(y)
    y.session.refresh(row)
    assert (row.status, row.payment_attempts) == (m.SubscriptionStatus.ACTIVE, 0)

    # Jul 1: the team plan from the next period on.
    y.clock.set(datetime(2026, 7, 1, tzinfo=UTC))
    change_subscription(
        y.session,
        subscription_id=row.id,
        price_id=y.team.id,
        at_period_end=True,
        gateway=y.gateway,
        clock=y.clock,
    )
    row = renew(y, row, previews)  # Jul 15: the scheduled change reached the gateway first
    expected.append(4 * 1500)
    assert (row.price_id, row.quantity, row.pending_price_id) == (y.team.id, 4, None)
    for _ in range(5):  # Aug 15 .. Dec 15
        row = renew(y, row, previews)
        expected.append(4 * 1500)

    # Dec 20: cancelled at the period's end, with why.
    y.clock.set(datetime(2026, 12, 20, tzinfo=UTC))
    done = cancel_subscription(
        y.session,
        subscription_id=row.id,
        gateway=y.gateway,
        feedback="switched_service",
        comment="Moved to an in-house tool.",
        clock=y.clock,
    )
    deliver(y)
    assert (done.cancel_at_period_end, done.cancellation_feedback) == (True, "switched_service")
    advance(y, done.current_period_end + timedelta(minutes=1))
    y.session.refresh(row)
    assert row.status is m.SubscriptionStatus.CANCELLED
    assert row.cancellation_reason == "cancellation_requested"

    assert len(expected) == 12
    assert y.issued == expected  # what the gateway billed
    assert previews == expected  # what paykit previewed just before each renewal
    stored = y.session.scalars(
        sa.select(m.Invoice)
        .where(m.Invoice.subscription_id == row.id)
        .order_by(m.Invoice.period_start)
    ).all()
    assert [cents(invoice.total) for invoice in stored] == expected  # what the webhooks stored
    assert {invoice.status for invoice in stored} == {m.InvoiceStatus.PAID}
