"""A per-seat subscription's life on SQLite with the in-memory FakeGateway.

A trial, its conversion, a seat change previewed and made with prorations, a
plan change scheduled for the period's end, a failed renewal and its recovery,
and a cancellation with a reason, printing what each step bills.

    python examples/subscription_lifecycle.py [path/to/database.db]
"""

from __future__ import annotations

import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy.orm import Session

import paykit
from paykit.models import PaymentMethod, Price, PriceType, Product, ProductStatus, ProductType, User


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "subs.db"
    engine = paykit.create_engine(f"sqlite:///{path}")
    paykit.migrate(engine)
    clock = paykit.FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    gateway = paykit.FakeGateway(clock=clock)  # in production: paykit.gateways.StripeGateway
    run = uuid.uuid4().hex[:6]  # this run's rows: run the example again on the same file
    price_seat = gateway.add_price(unit_amount=1000, currency="usd", price_id=f"price_seat_{run}")
    price_team = gateway.add_price(unit_amount=1500, currency="usd", price_id=f"price_team_{run}")

    with Session(engine, expire_on_commit=False) as session, session.begin():
        team = Product(
            name="Team plan",
            description="Per seat, per month.",
            slug=f"team-{run}",
            type=ProductType.SUBSCRIPTION,
            status=ProductStatus.PUBLISHED,
            base_price=Decimal("10.00"),
        )
        monthly = {"interval": "month", "interval_count": 1}
        seat = Price(
            product=team,
            stripe_price_id=price_seat,
            unit_amount=Decimal("10.00"),
            type=PriceType.RECURRING,
            recurring=monthly,
        )
        better = Price(
            product=team,
            stripe_price_id=price_team,
            unit_amount=Decimal("15.00"),
            type=PriceType.RECURRING,
            recurring=monthly,
        )
        ada = User(email=f"ada-{run}@example.com", name="Ada Lovelace")
        session.add_all([team, seat, better, ada])
        session.flush()
        customer = paykit.ensure_gateway_customer(session, ada, gateway, clock=clock)
        card = gateway.attach_payment_method(
            "pm_card_visa", customer_id=customer, idempotency_key=f"pm-{run}"
        )  # Stripe's test card token; the attached card gets an id of its own
        saved = PaymentMethod(user_id=ada.id, stripe_payment_method_id=card.id, type="card")
        session.add(saved)
        sub = paykit.subscribe(
            session,
            user_id=ada.id,
            price_id=seat.id,
            quantity=3,
            trial_days=14,
            gateway=gateway,
            clock=clock,
        )
        print(f"subscribed: {sub.status.value}, 3 seats, trial ends {sub.trial_end:%Y-%m-%d}")

    # Trial ending soon, then over: a daily job.
    clock.advance(timedelta(days=12))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for notice in paykit.trial_ending_notices(session, clock=clock):
            print(f"notice: {notice.kind} on {notice.due_at:%Y-%m-%d}")
    clock.advance(timedelta(days=2, seconds=1))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for notice in paykit.end_trials(session, gateway=gateway, clock=clock):
            print(f"notice: {notice.kind}, {notice.details['outcome']}")

    # Ten days into the first paid period: preview, then add two seats.
    clock.advance(timedelta(days=10))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        preview = paykit.preview_subscription_change(
            session, subscription_id=sub.id, quantity=5, clock=clock
        )
        for line in preview.next_invoice_lines:
            print(f"next invoice line: {line.kind:<18} {line.amount:>8}")
        print(
            f"next invoice total {preview.next_invoice_total}"
            f" on {preview.next_invoice_date:%Y-%m-%d}"
        )
        sub = paykit.change_subscription(
            session,
            subscription_id=sub.id,
            quantity=5,
            gateway=gateway,
            clock=clock,
            idempotency_key=f"add-two-seats-{run}",
        )
        print(f"seats now {sub.quantity}, prorations waiting {sub.pending_proration}")
        paykit.change_subscription(
            session,
            subscription_id=sub.id,
            price_id=better.id,
            at_period_end=True,
            gateway=gateway,
            clock=clock,
        )
        print(f"plan change scheduled for {sub.pending_change_at:%Y-%m-%d}")
        upcoming = paykit.upcoming_invoice(session, subscription_id=sub.id, clock=clock)
        print(f"upcoming invoice {upcoming.total} on {upcoming.next_payment_date:%Y-%m-%d}")
        paykit.set_subscription_default_payment_method(
            session,
            subscription_id=sub.id,
            payment_method_id=saved.id,
            gateway=gateway,
            clock=clock,
            idempotency_key=f"team-card-{run}",
        )
        print("renewals charge the team card first")

    # The period ends: the scheduled change is made; the renewal fails once, then is paid.
    clock.set(sub.current_period_end + timedelta(minutes=5))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        for changed in paykit.apply_scheduled_changes(session, gateway=gateway, clock=clock):
            print(f"scheduled change made: {changed.quantity} seats at {changed.unit_amount}")
        failed = paykit.record_payment_failure(
            session, subscription_id=sub.id, amount_due="75.00", attempt=1, clock=clock
        )
        print(f"notice: {failed.kind}, retry on {failed.due_at:%Y-%m-%d}")
    clock.advance(timedelta(days=3))
    with Session(engine, expire_on_commit=False) as session, session.begin():
        paid = paykit.record_payment_success(session, subscription_id=sub.id, clock=clock)
        assert paid is not None
        print(f"notice: {paid.kind}")
        done = paykit.cancel_subscription(
            session,
            subscription_id=sub.id,
            gateway=gateway,
            feedback="too_expensive",
            comment="Budget cut for next year.",
            clock=clock,
        )
        print(
            f"cancelled at period end: {done.cancel_at_period_end}, "
            f"reason {done.cancellation_reason}, feedback {done.cancellation_feedback}"
        )


if __name__ == "__main__":
    main()
