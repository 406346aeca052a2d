"""``invoice.upcoming`` → ``RenewalUpcoming``: after the commit, once per renewal.

The FakeGateway emits the event (``announce_renewal``) the way Stripe does
before a renewal; the webhook handler records it on the subscription and the
notifier hears of it only once the host commits: never for a rolled-back
delivery, and once however often the event is replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import make_event, sign

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.notifications import (
    EmailNotifier,
    RecordingNotifier,
    RenewalUpcoming,
    attach_notifier,
    detach_notifier,
)
from paykit.services.subscriptions import ensure_gateway_customer, subscribe
from paykit.webhooks import handle_webhook

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "whsec_renewal"


@dataclass
class Renewal:
    session: Session
    gateway: FakeGateway
    clock: FrozenClock
    customer: m.User
    subscription: m.Subscription
    recorder: RecordingNotifier

    def deliver(self, event: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(event).encode()
        response = handle_webhook(
            self.session,
            body,
            sign(body, SECRET, timestamp=int(self.clock.now().timestamp())),
            secrets=SECRET,
            gateway=self.gateway,
            clock=self.clock,
        )
        assert response.status_code == 200, response.body
        return dict(response.body)

    def upcoming(self) -> dict[str, Any]:
        """The ``invoice.upcoming`` event the fake emits for the subscription."""
        # A renewal that fell due is billed first (the fake bills like a test clock,
        # with invoice and subscription events of its own): only the notice is kept.
        self.gateway.advance_clock()
        self.gateway.drain_events()
        self.gateway.announce_renewal(self.subscription.stripe_subscription_id)
        [event] = self.gateway.drain_events()
        assert event["type"] == "invoice.upcoming"
        return event


@pytest.fixture
def renewal(session: Session) -> Iterator[Renewal]:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    customer = f.user(session, email=f"renews-{id(session)}@example.com")
    stripe_price = gateway.add_price(unit_amount=900, currency="usd")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, trial_days=0)
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_price,
        unit_amount=Decimal("9.00"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    customer_id = ensure_gateway_customer(session, customer, gateway, clock=clock)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm")
    row = subscribe(
        session, user_id=customer.id, price_id=price.id, gateway=gateway, quantity=2, clock=clock
    )
    session.commit()
    recorder = RecordingNotifier()
    attach_notifier(session, recorder)
    yield Renewal(session, gateway, clock, customer, row, recorder)
    detach_notifier(session)


def test_an_upcoming_renewal_is_sent_after_the_commit(renewal: Renewal) -> None:
    event = renewal.upcoming()
    assert event["data"]["object"]["id"] is None  # a preview: Stripe's has no id
    assert renewal.deliver(event)["status"] == "processed"
    assert renewal.recorder.events == []  # not before the commit
    renewal.session.commit()
    [sent] = renewal.recorder.of_type(RenewalUpcoming)
    assert sent.kind == "renewal_upcoming"
    assert (sent.subscription_id, sent.user_id, sent.email) == (
        renewal.subscription.id,
        renewal.customer.id,
        renewal.customer.email,
    )
    assert (sent.amount_due, sent.currency) == (Decimal("18.00"), "USD")
    assert sent.renews_at == renewal.subscription.current_period_end


def test_nothing_is_sent_for_a_rolled_back_delivery(renewal: Renewal) -> None:
    event = renewal.upcoming()
    renewal.deliver(event)
    renewal.session.rollback()
    assert renewal.recorder.events == []
    # The inbox row went with the rollback: Stripe's retry is applied, and sent once.
    assert renewal.deliver(event)["status"] == "processed"
    renewal.session.commit()
    assert len(renewal.recorder.of_type(RenewalUpcoming)) == 1


def test_a_replayed_event_sends_once(renewal: Renewal) -> None:
    event = renewal.upcoming()
    renewal.deliver(event)
    renewal.session.commit()
    renewal.deliver(event)  # the same delivery again: the inbox drops it
    renewal.session.commit()
    # The same renewal under another event id (a resend): recorded once only.
    again = make_event(
        "invoice.upcoming",
        event["data"]["object"],
        created=event["created"] + 60,
        event_id="evt_upcoming_resent",
    )
    assert renewal.deliver(again)["status"] == "ignored"
    renewal.session.commit()
    assert len(renewal.recorder.of_type(RenewalUpcoming)) == 1
    audits = renewal.session.scalar(
        sa.select(sa.func.count())
        .select_from(m.AuditLog)
        .where(
            m.AuditLog.resource_id == renewal.subscription.id,
            m.AuditLog.action == "subscription.renewal_upcoming",
        )
    )
    assert audits == 1


def test_the_next_renewal_is_announced_again(renewal: Renewal) -> None:
    renewal.deliver(renewal.upcoming())
    renewal.session.commit()
    renewal.clock.advance(days=32)  # the period renewed at the fake
    renewal.deliver(renewal.upcoming())
    renewal.session.commit()
    first, second = renewal.recorder.of_type(RenewalUpcoming)
    assert first.renews_at is not None
    assert second.renews_at is not None
    assert second.renews_at > first.renews_at


def test_an_unknown_subscription_is_ignored(renewal: Renewal) -> None:
    invoice = renewal.upcoming()["data"]["object"]
    invoice["parent"]["subscription_details"]["subscription"] = "sub_not_ours"
    event = make_event("invoice.upcoming", invoice, created=int(T0.timestamp()))
    assert renewal.deliver(event)["status"] == "ignored"
    renewal.session.commit()
    assert renewal.recorder.events == []


def test_the_email_template_renders_text_and_html() -> None:
    message = EmailNotifier(sender="shop@example.com").render(
        RenewalUpcoming(
            user_id="u1",
            email="a@example.com",
            occurred_at=T0,
            subscription_id="sub_1",
            amount_due=Decimal("18.00"),
            currency="USD",
            renews_at=datetime(2026, 4, 1, tzinfo=UTC),
        )
    )
    assert message is not None
    assert message["Subject"] == "Your subscription renews soon"
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert text is not None
    assert html is not None
    assert "renews on 2026-04-01" in text.get_content()
    assert "18.00 USD" in text.get_content()
    assert "<strong>18.00 USD</strong>" in html.get_content()
