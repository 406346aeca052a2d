"""A year of a per-seat subscription with FrozenClock, on both databases and both gateways.

Trial, conversion, two seat changes with prorations, a failed renewal and its
recovery, a plan change at the period's end, a cancellation with a reason.
Each renewal's invoice total is what ``preview_subscription_change`` shows just
before the period ends (FakeGateway issues no invoices; the host would see
this figure), stored through ``sync_invoice``, and held against an independent
computation below (integer cents and ``Fraction`` seconds, written apart from
``paykit.pricing.proration``).
"""

from __future__ import annotations

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
from paykit.gateways import FakeGateway, GatewayInvoice, PaymentGateway
from paykit.gateways.stripe import StripeGateway
from paykit.services.subscriptions import (
    apply_scheduled_changes,
    cancel_subscription,
    change_subscription,
    end_trials,
    ensure_gateway_customer,
    preview_subscription_change,
    record_payment_failure,
    record_payment_success,
    subscribe,
    sync_invoice,
    sync_subscription,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


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
    user: m.User
    seat: m.Price
    team: m.Price


@pytest.fixture(params=["fake", "stripe"])
def year(request: pytest.FixtureRequest, session: Session) -> Iterator[Year]:
    clock = FrozenClock(T0)
    server: StripeServer | None = None
    if request.param == "fake":
        account = gateway_fake = FakeGateway(clock=clock)
        gateway: PaymentGateway = gateway_fake
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
    gateway.attach_payment_method("pm_card_visa", customer_id=customer, idempotency_key="pm")
    session.add(
        m.PaymentMethod(user_id=user.id, stripe_payment_method_id="pm_card_visa", type="card")
    )
    session.flush()
    yield Year(session, clock, gateway, user, seat, team)
    if server is not None:
        server.stop()


def upcoming(y: Year, row: m.Subscription) -> Decimal:
    """The next invoice's total as paykit previews it (the scheduled plan, if any)."""
    preview = preview_subscription_change(
        y.session,
        subscription_id=row.id,
        price_id=row.pending_price_id or row.price_id,
        quantity=row.pending_quantity or row.quantity,
        at_period_end=True,
        clock=y.clock,
    )
    return preview.next_invoice_total


def renew(y: Year, row: m.Subscription, invoices: list[Decimal]) -> m.Subscription:
    """Just before the period ends: take the invoice total; then cross into the next period."""
    y.clock.set(row.current_period_end - timedelta(seconds=1))
    total = upcoming(y, row)
    start, end = row.current_period_end, row.current_period_end
    y.clock.set(row.current_period_end + timedelta(minutes=1))
    apply_scheduled_changes(y.session, gateway=y.gateway, clock=y.clock)
    row = sync_subscription(
        y.session, y.gateway.retrieve_subscription(row.stripe_subscription_id), clock=y.clock
    )
    number = len(invoices) + 1
    sync_invoice(
        y.session,
        GatewayInvoice(
            id=f"in_year_{number}",
            subscription_id=row.stripe_subscription_id,
            status="paid",
            currency="usd",
            number=f"YEAR-{number:04d}",
            subtotal_minor=cents(total),
            tax_minor=0,
            total_minor=cents(total),
            amount_paid_minor=cents(total),
            amount_due_minor=cents(total),
            period_start=start,
            period_end=row.current_period_end if row.current_period_end > end else end,
            paid_at=y.clock.now(),
        ),
        clock=y.clock,
    )
    invoices.append(total)
    return row


def test_a_year_of_a_per_seat_subscription(year: Year) -> None:
    y = year
    invoices: list[Decimal] = []
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
    assert row.status is m.SubscriptionStatus.TRIALING

    # Trial end (Jan 15): it converts; the first invoice is 3 seats.
    y.clock.set(row.trial_end - timedelta(seconds=1))
    first = upcoming(y, row)
    y.clock.set(row.trial_end + timedelta(seconds=1))
    notices = end_trials(y.session, gateway=y.gateway, clock=y.clock)
    assert [n.details["outcome"] for n in notices] == ["converted"]
    assert row.status is m.SubscriptionStatus.ACTIVE
    invoices.append(first)
    expected.append(3 * 1000)

    row = renew(y, row, invoices)  # Feb 15
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
    first_proration = proration_cents(start, end, at, 3 * 1000, 5 * 1000)
    row = renew(y, row, invoices)  # Mar 15
    expected.append(5 * 1000 + first_proration)
    row = renew(y, row, invoices)  # Apr 15
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
    second_proration = proration_cents(start, end, at, 5 * 1000, 4 * 1000)
    assert second_proration < 0
    row = renew(y, row, invoices)  # May 15
    expected.append(4 * 1000 + second_proration)

    # Jun 15: the renewal fails, dunning starts; the retry three days later succeeds.
    row = renew(y, row, invoices)  # Jun 15
    expected.append(4 * 1000)
    failed = record_payment_failure(
        y.session, subscription_id=row.id, amount_due=invoices[-1], attempt=1, clock=y.clock
    )
    assert row.status is m.SubscriptionStatus.PAST_DUE
    assert failed.due_at == y.clock.now() + timedelta(days=3)
    y.clock.set(failed.due_at)
    paid = record_payment_success(
        y.session, subscription_id=row.id, amount_paid=invoices[-1], clock=y.clock
    )
    assert paid is not None
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
    row = renew(y, row, invoices)  # Jul 15: the scheduled change is made first
    expected.append(4 * 1500)
    assert (row.price_id, row.quantity, row.pending_price_id) == (y.team.id, 4, None)
    for _ in range(5):  # Aug 15 .. Dec 15
        row = renew(y, row, invoices)
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
    assert (done.cancel_at_period_end, done.cancellation_feedback) == (True, "switched_service")
    y.clock.set(done.current_period_end + timedelta(minutes=1))
    ended = sync_subscription(
        y.session, y.gateway.retrieve_subscription(row.stripe_subscription_id), clock=y.clock
    )
    assert ended.status is m.SubscriptionStatus.CANCELLED
    assert ended.cancellation_reason == "cancellation_requested"

    assert [cents(total) for total in invoices] == expected
    assert len(invoices) == 12
    stored = y.session.scalars(
        sa.select(m.Invoice.total)
        .where(m.Invoice.subscription_id == row.id)
        .order_by(m.Invoice.period_start)
    ).all()
    assert [cents(total) for total in stored] == expected[1:]
