"""Notifications: events delivered after the commit, never for a rollback; e-mail to a
real local SMTP server (aiosmtpd); careless hosts (raising notifiers, double attach,
sessions never committed, savepoints rolled back)."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.notifications import (
    BackgroundNotifier,
    EmailNotifier,
    Event,
    FanOutNotifier,
    OrderPaid,
    PasswordResetRequested,
    RecordingNotifier,
    RefundIssued,
    attach_notifier,
    detach_notifier,
    notify,
)

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
T0 = datetime(2026, 3, 1, tzinfo=UTC)


@dataclass
class Shop:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    customer: m.User

    def checkout(self) -> m.Order:
        product = f.product(self.session, base_price=Decimal("40.00"), tax_rate=Decimal("0.10"))
        order = paykit.place_order(
            self.session,
            customer_id=self.customer.id,
            billing_address=ADDRESS,
            items=[{"price_id": f.price(self.session, product).id, "quantity": 1}],
            payment_method_id="pm_card_visa",
            gateway=self.gateway,
            clock=self.clock,
        ).order
        return paykit.pay_order(
            self.session, order_id=order.id, gateway=self.gateway, clock=self.clock
        ).order


@pytest.fixture
def shop(session: Session) -> Shop:
    clock = FrozenClock(T0)
    customer = f.user(session, email=f"buyer-{id(session)}@example.com")
    session.commit()  # the setup is not what the tests below look at
    return Shop(session, clock, FakeGateway(clock=clock), customer)


class Exploding:
    def send(self, event: Event) -> None:
        raise RuntimeError("the notifier is down")


def test_events_wait_for_the_commit(shop: Shop) -> None:
    recorder = RecordingNotifier()
    box = attach_notifier(shop.session, recorder)
    order = shop.checkout()
    assert [type(e) for e in box.pending] == [OrderPaid]
    assert recorder.events == []
    shop.session.commit()
    [paid] = recorder.of_type(OrderPaid)
    assert (paid.order_id, paid.amount, paid.currency) == (order.id, Decimal("44.00"), "USD")
    assert (paid.user_id, paid.email) == (shop.customer.id, shop.customer.email)
    assert paid.occurred_at == T0
    support = f.user(shop.session, role=m.UserRole.SUPPORT)
    paykit.issue_refund(
        shop.session,
        order_id=order.id,
        amount=Decimal("4.00"),
        reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
        actor_id=support.id,
        gateway=shop.gateway,
        clock=shop.clock,
    )
    assert recorder.of_type(RefundIssued) == []
    shop.session.commit()
    [refund] = recorder.of_type(RefundIssued)
    # The customer hears of it, not the support agent who issued it.
    assert (refund.email, refund.amount, refund.order_id) == (
        shop.customer.email,
        Decimal("4.00"),
        order.id,
    )
    assert (box.delivered, box.failed) == (2, 0)


def test_a_rolled_back_transaction_sends_nothing(shop: Shop) -> None:
    recorder = RecordingNotifier()
    attach_notifier(shop.session, recorder)
    shop.checkout()
    shop.session.rollback()
    shop.session.commit()  # a later, empty commit does not resurrect them
    assert recorder.events == []


def test_a_rolled_back_savepoint_drops_only_its_events(shop: Shop) -> None:
    recorder = RecordingNotifier()
    attach_notifier(shop.session, recorder)
    kept = shop.checkout()
    savepoint = shop.session.begin_nested()
    shop.checkout()
    inner = shop.session.begin_nested()
    shop.checkout()
    inner.commit()  # released, but inside the savepoint rolled back next
    savepoint.rollback()
    shop.session.commit()
    assert [e.order_id for e in recorder.of_type(OrderPaid)] == [kept.id]


def test_a_session_never_committed_sends_nothing(shop: Shop) -> None:
    recorder = RecordingNotifier()
    attach_notifier(shop.session, recorder)
    shop.checkout()
    shop.session.close()  # the host forgot to commit
    notify(
        shop.session,
        PasswordResetRequested(
            user_id=None, email="x@example.com", occurred_at=T0, reset_url="https://x/r"
        ),
    )
    shop.session.commit()
    assert [type(e) for e in recorder.events] == [PasswordResetRequested]


def test_attaching_twice_delivers_once(shop: Shop) -> None:
    recorder = RecordingNotifier()
    first = attach_notifier(shop.session, recorder)
    assert attach_notifier(shop.session, recorder) is first
    shop.checkout()
    shop.session.commit()
    assert len(recorder.events) == 1
    detach_notifier(shop.session)
    shop.checkout()
    shop.session.commit()
    assert len(recorder.events) == 1


def test_a_notifier_that_raises_is_logged_and_counted_and_the_commit_stands(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = RecordingNotifier()
    box = attach_notifier(shop.session, Exploding())
    attach_notifier(shop.session, recorder)
    with caplog.at_level(logging.ERROR, logger="paykit.notifications"):
        order = shop.checkout()
        shop.session.commit()
    assert (box.failed, box.delivered) == (1, 1)
    assert "the notifier is down" in caplog.text
    assert len(recorder.events) == 1  # the other notifier still got it
    shop.session.refresh(order)
    assert order.status is m.OrderStatus.COMPLETED  # committed


def test_fan_out_isolates_a_failing_notifier() -> None:
    recorder = RecordingNotifier()
    fan = FanOutNotifier([Exploding(), recorder])
    event = PasswordResetRequested(user_id=None, email=None, occurred_at=T0, reset_url="u")
    fan.send(event)
    assert (fan.failed, recorder.events) == (1, [event])


# --------------------------------------------------------------------- e-mail over SMTP


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.arrived = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        self.arrived.set()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_the_email_notifier_delivers_to_a_local_smtp_server(
    shop: Shop, smtp: tuple[Inbox, int]
) -> None:
    import email

    inbox, port = smtp
    mailer = BackgroundNotifier(
        EmailNotifier(
            sender="shop@example.com",
            host="127.0.0.1",
            port=port,
            context={"shop_url": "https://shop.example.com/orders"},
        )
    )
    attach_notifier(shop.session, mailer)
    shop.checkout()
    shop.session.rollback()  # nothing for this one
    order = shop.checkout()
    shop.session.commit()
    mailer.close()
    assert (mailer.sent, mailer.failed) == (1, 0)
    [envelope] = inbox.messages
    assert envelope.rcpt_tos == [shop.customer.email]
    message = email.message_from_bytes(envelope.content)
    assert message["Subject"] == f"Payment received for order {order.order_number}"
    parts = {
        p.get_content_type(): p.get_payload(decode=True).decode()
        for p in message.walk()
        if not p.is_multipart()
    }
    assert "44.00 USD" in parts["text/plain"]
    assert "https://shop.example.com/orders" in parts["text/plain"]
    assert "<strong>44.00 USD</strong>" in parts["text/html"]


def test_a_failing_smtp_server_does_not_break_the_commit(
    shop: Shop, caplog: pytest.LogCaptureFixture
) -> None:
    dead = EmailNotifier(sender="shop@example.com", host="127.0.0.1", port=_free_port(), timeout=2)
    box = attach_notifier(shop.session, dead)
    background = BackgroundNotifier(dead)
    attach_notifier(shop.session, background)
    with caplog.at_level(logging.ERROR, logger="paykit.notifications"):
        order = shop.checkout()
        shop.session.commit()
        background.close()
    assert box.failed == 1  # the direct one: raised inside commit, logged, counted
    assert box.delivered == 1  # the background one accepted it...
    assert background.failed == 1  # ...and counted its failure
    assert "ConnectionRefusedError" in caplog.text
    shop.session.refresh(order)
    assert order.status is m.OrderStatus.COMPLETED


def test_html_is_escaped_and_the_subject_is_one_line() -> None:
    notifier = EmailNotifier(sender="shop@example.com")
    message = notifier.render(
        PasswordResetRequested(
            user_id=None,
            email="a@example.com",
            occurred_at=T0,
            reset_url='https://x/r?t=1"><script>',
        )
    )
    assert message is not None
    html = message.get_body(("html",))
    assert html is not None
    assert "<script>" not in html.get_content()
    assert "\n" not in message["Subject"]
    no_one = PasswordResetRequested(user_id=None, email=None, occurred_at=T0, reset_url="u")
    assert notifier.render(no_one) is None


# --------------------------------------------------------------------- subscriptions


def test_subscription_events_from_webhooks(shop: Shop) -> None:
    import json

    from tests.stripe_server import fixture, make_event, sign

    from paykit.notifications import (
        InvoicePaymentFailed,
        SubscriptionCancelled,
        SubscriptionCreated,
        SubscriptionRenewalFailed,
        TrialEnding,
    )
    from paykit.services.subscriptions import ensure_gateway_customer
    from paykit.webhooks import handle_webhook

    session, gateway, now = shop.session, shop.gateway, int(T0.timestamp())
    customer_id = ensure_gateway_customer(session, shop.customer, gateway, clock=shop.clock)
    stripe_price = gateway.add_price(unit_amount=1000, currency="usd")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    f.price(session, product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="a")
    sub = gateway.create_subscription(
        customer_id=customer_id, price_id=stripe_price, trial_days=7, idempotency_key="t"
    )
    session.commit()
    recorder = RecordingNotifier()
    attach_notifier(session, recorder)

    def deliver(kind: str, raw: dict[str, Any], created: int) -> None:
        body = json.dumps(make_event(kind, raw, created=created)).encode()
        response = handle_webhook(
            session,
            body,
            sign(body, "whsec_n", timestamp=now),
            secrets="whsec_n",
            gateway=gateway,
            clock=shop.clock,
        )
        assert response.status_code == 200, response.body
        session.commit()

    deliver("customer.subscription.created", dict(sub.raw), now)
    deliver("customer.subscription.trial_will_end", dict(sub.raw), now + 1)
    deliver("customer.subscription.updated", {**sub.raw, "status": "past_due"}, now + 2)
    invoice = fixture("invoice")
    invoice.update(
        id="in_notify",
        subscription=sub.id,
        parent=None,
        currency="usd",
        number="INV-N1",
        status="open",
        subtotal=1000,
        total=1000,
        total_taxes=[],
        amount_paid=0,
        amount_due=1000,
        period_start=now,
        period_end=now,
        status_transitions={"paid_at": None},
    )
    del invoice["lines"]
    deliver("invoice.payment_failed", invoice, now + 3)
    deliver("customer.subscription.deleted", {**sub.raw, "status": "canceled"}, now + 4)
    kinds = [type(e) for e in recorder.events]
    assert kinds == [
        SubscriptionCreated,
        TrialEnding,
        SubscriptionRenewalFailed,
        InvoicePaymentFailed,
        SubscriptionCancelled,
    ]
    [failed] = recorder.of_type(InvoicePaymentFailed)
    assert (failed.invoice_number, failed.amount_due, failed.currency) == (
        "INV-N1",
        Decimal("10.00"),
        "USD",
    )
    assert failed.email == shop.customer.email
    [trial] = recorder.of_type(TrialEnding)
    assert trial.email == shop.customer.email
    assert trial.trial_end is not None


# --------------------------------------------------------------------- threads


def test_parallel_sessions_share_one_background_notifier(fresh_engine: Any) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    with Session(fresh_engine) as setup, setup.begin():
        customer_id = f.user(setup).id
        product = f.product(setup, base_price=Decimal("3.00"), stock_quantity=1000)
        price_id = f.price(setup, product).id
    recorder = RecordingNotifier()
    background = BackgroundNotifier(recorder)

    def buy(n: int) -> str | None:
        with Session(fresh_engine) as session:
            attach_notifier(session, background)
            with session.begin():
                placed = paykit.place_order(
                    session,
                    customer_id=customer_id,
                    billing_address=ADDRESS,
                    items=[{"price_id": price_id, "quantity": 1}],
                    payment_method_id="pm_card_visa",
                    gateway=gateway,
                    clock=clock,
                )
            with session.begin():
                paid = paykit.pay_order(
                    session, order_id=placed.order.id, gateway=gateway, clock=clock
                )
                if n % 2:
                    session.rollback()
                    return None
                return paid.order.id

    with ThreadPoolExecutor(4) as pool:
        committed = {i for i in pool.map(buy, range(12)) if i is not None}
    background.close()
    assert {e.order_id for e in recorder.of_type(OrderPaid)} == committed
    assert len(recorder.events) == len(committed) == 6
    assert (background.failed, background.dropped) == (0, 0)
