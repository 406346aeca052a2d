"""Saved cards, invoices and hosted checkout (docs/billing.md), on SQLite and PostgreSQL,
against FakeGateway and against StripeGateway talking to the local Stripe-like server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import serve, sign

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import (
    GatewayError,
    NotFound,
    PaymentDeclined,
    PermissionDenied,
    ValidationError,
)
from paykit.gateways import FakeGateway, GatewayPaymentMethod, PaymentGateway
from paykit.gateways.billing import BillingMethodsGateway
from paykit.gateways.stripe import StripeGateway
from paykit.security import Actor
from paykit.services.billing import store_payment_method
from paykit.services.subscriptions import ensure_gateway_customer, subscribe
from paykit.webhooks import WebhookResponse, handle_webhook

T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "whsec_billing"
OK, NO = "https://shop.example/ok", "https://shop.example/no"


@dataclass
class World:
    session: Session
    clock: FrozenClock
    gateway: PaymentGateway  # what the services call
    account: FakeGateway  # the account behind it (the fake itself, or the server's)
    user: m.User
    customer_id: str
    price: m.Price
    delivered: list[dict[str, Any]] = field(default_factory=list)

    @property
    def billing(self) -> BillingMethodsGateway:
        assert isinstance(self.gateway, BillingMethodsGateway)
        return self.gateway

    @property
    def actor(self) -> Actor:
        return Actor.of(self.user)

    def deliver(self, event: dict[str, Any]) -> WebhookResponse:
        payload = json.dumps(event).encode()
        now = int(self.clock.now().timestamp())
        return handle_webhook(
            self.session,
            payload,
            sign(payload, SECRET, timestamp=now),
            secrets=SECRET,
            gateway=self.gateway,
            clock=self.clock,
        )

    def deliver_all(self) -> list[dict[str, Any]]:
        events = self.account.drain_events()
        self.delivered.extend(events)
        for event in events:
            assert self.deliver(event).status_code == 200, event["type"]
        return events

    def save_card(self, token: str = "pm_card_visa", user: m.User | None = None) -> m.PaymentMethod:
        user = user or self.user
        intent = paykit.start_payment_method_setup(
            self.session,
            user_id=user.id,
            gateway=self.gateway,
            actor=Actor.of(user),
            clock=self.clock,
        )
        self.billing.confirm_setup_intent(
            intent.id, payment_method_id=token, idempotency_key=f"confirm-{intent.id}"
        )
        self.deliver_all()
        stripe_id = self.billing.retrieve_setup_intent(intent.id).payment_method_id
        row = self.session.scalar(
            sa.select(m.PaymentMethod).where(m.PaymentMethod.stripe_payment_method_id == stripe_id)
        )
        assert row is not None
        return row

    def invoice(self, *amounts: int, discount: int = 0) -> m.Invoice:
        sub = self.session.scalar(
            sa.select(m.Subscription).where(m.Subscription.user_id == self.user.id)
        )
        if sub is None:
            sub = subscribe(
                self.session,
                user_id=self.user.id,
                price_id=self.price.id,
                gateway=self.gateway,
                clock=self.clock,
            )
        lines = [{"amount": a, "description": f"Line {i}"} for i, a in enumerate(amounts)]
        details = self.account.add_invoice(
            customer_id=self.customer_id,
            subscription_id=sub.stripe_subscription_id,
            lines=lines,
            discount=discount,
        )
        self.deliver_all()
        row = self.session.scalar(
            sa.select(m.Invoice).where(m.Invoice.stripe_invoice_id == details.invoice.id)
        )
        assert row is not None
        return row


@pytest.fixture(params=["fake", "stripe"])
def w(session: Session, request: pytest.FixtureRequest) -> Iterator[World]:
    clock = FrozenClock(T0)
    if request.param == "fake":
        account = FakeGateway(clock=clock)
        yield from _world(session, clock, account, account)
        return
    stripe.enable_telemetry = False
    for server in serve(clock):
        gateway = StripeGateway(api_key="sk_test_b", api_base=server.url, max_network_retries=0)
        yield from _world(session, clock, gateway, server.fake)


def _world(
    session: Session, clock: FrozenClock, gateway: PaymentGateway, account: FakeGateway
) -> Iterator[World]:
    user = f.user(session)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
    stripe_price = account.add_price(unit_amount=2000, currency="usd", interval="month")
    price = f.price(
        session,
        product,
        stripe_price_id=stripe_price,
        unit_amount=Decimal("20.00"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    account.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm0")
    world = World(session, clock, gateway, account, user, customer_id, price)
    world.deliver_all()
    yield world


def _other(w: World) -> m.User:
    other = f.user(w.session)
    ensure_gateway_customer(w.session, other, w.gateway, clock=w.clock)
    return other


# ---------------------------------------------------------------------- payment methods


def test_a_card_saved_through_a_setup_intent_is_listed_with_its_expiry(w: World) -> None:
    intent = paykit.start_payment_method_setup(
        w.session, user_id=w.user.id, gateway=w.gateway, actor=w.actor, clock=w.clock
    )
    assert intent.client_secret
    assert intent.status == "requires_payment_method"
    assert intent.customer_id == w.customer_id
    w.billing.confirm_setup_intent(
        intent.id, payment_method_id="pm_card_mastercard", idempotency_key="c1"
    )
    types = [event["type"] for event in w.deliver_all()]
    assert "setup_intent.succeeded" in types
    methods = paykit.list_payment_methods(w.session, user_id=w.user.id, actor=w.actor)
    saved = [p for p in methods if p.card and p.card["last4"] == "4444"]
    assert len(saved) == 1
    assert saved[0].card is not None
    assert saved[0].card["brand"] == "mastercard"
    # exp 12/(2026 + 5): valid through the last day of December.
    assert saved[0].expires_at == datetime(2032, 1, 1, tzinfo=UTC)
    assert "number" not in saved[0].card
    assert "cvc" not in saved[0].card


def test_set_default_then_detach(w: World) -> None:
    first, second = w.save_card(), w.save_card("pm_card_amex")
    row = paykit.set_default_payment_method(
        w.session, payment_method_id=second.id, gateway=w.gateway, actor=w.actor, clock=w.clock
    )
    assert row.is_default
    w.deliver_all()  # customer.updated agrees
    listed = paykit.list_payment_methods(w.session, user_id=w.user.id, actor=w.actor)
    assert listed[0].id == second.id
    assert [p.id for p in listed if p.is_default] == [second.id]
    paykit.detach_payment_method(
        w.session, payment_method_id=first.id, gateway=w.gateway, actor=w.actor, clock=w.clock
    )
    w.deliver_all()
    ids = {p.id for p in paykit.list_payment_methods(w.session, user_id=w.user.id, actor=w.actor)}
    assert first.id not in ids
    assert second.id in ids
    assert w.billing.retrieve_payment_method(first.stripe_payment_method_id).customer_id is None
    with pytest.raises(NotFound):
        paykit.detach_payment_method(
            w.session, payment_method_id=first.id, gateway=w.gateway, actor=w.actor
        )


def test_another_customers_card_is_not_found_and_the_gateway_is_not_called(w: World) -> None:
    card = w.save_card()
    intruder = Actor.of(_other(w))
    calls = len(w.account.calls)
    for call in (paykit.set_default_payment_method, paykit.detach_payment_method):
        with pytest.raises(NotFound):
            call(w.session, payment_method_id=card.id, gateway=w.gateway, actor=intruder)
    with pytest.raises(NotFound):
        paykit.list_payment_methods(w.session, user_id=w.user.id, actor=intruder)
    assert len(w.account.calls) == calls
    assert w.session.get(m.PaymentMethod, card.id) is not None


@pytest.mark.parametrize("bad", [None, 42, b"pm", ["pm"], "pm\x00x"])
def test_wrong_types_are_refused_before_anything(w: World, bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        paykit.set_default_payment_method(
            w.session, payment_method_id=bad, gateway=w.gateway, actor=w.actor
        )
    assert info.value.code == "invalid_argument"


def test_expiring_cards(w: World) -> None:
    def card(month: int, year: int, user: m.User) -> m.PaymentMethod:
        method = GatewayPaymentMethod(
            id=f"pm_exp_{user.id[-6:]}_{month}_{year}",
            customer_id=user.stripe_customer_id,
            type="card",
            card={"brand": "visa", "last4": "4242", "exp_month": month, "exp_year": year},
        )
        return store_payment_method(w.session, method, user_id=user.id, clock=w.clock)

    other = _other(w)
    soon = card(3, 2026, w.user)  # valid through March 31: expires 2026-04-01
    card(12, 2030, w.user)
    gone = card(1, 2026, w.user)
    theirs = card(3, 2026, other)
    mine = paykit.list_expiring_payment_methods(
        w.session, user_id=w.user.id, within_days=31, actor=w.actor, clock=w.clock
    )
    assert [p.id for p in mine] == [soon.id]
    with_expired = paykit.list_expiring_payment_methods(
        w.session,
        user_id=w.user.id,
        within_days=31,
        include_expired=True,
        actor=w.actor,
        clock=w.clock,
    )
    assert [p.id for p in with_expired] == [gone.id, soon.id]
    with pytest.raises(PermissionDenied):
        paykit.list_expiring_payment_methods(w.session, actor=w.actor, clock=w.clock)
    support = Actor.of(f.user(w.session, role=m.UserRole.SUPPORT))
    everyone = paykit.list_expiring_payment_methods(
        w.session, within_days=31, actor=support, clock=w.clock
    )
    assert paykit.list_expiring_payment_methods(w.session, actor=support, clock=w.clock) == []
    assert {p.id for p in everyone} == {soon.id, theirs.id}
    with pytest.raises(ValidationError):
        paykit.list_expiring_payment_methods(w.session, within_days=-1, clock=w.clock)


def test_a_new_expiry_from_the_card_updater_is_kept(w: World) -> None:
    card = w.save_card()
    w.account.update_card(card.stripe_payment_method_id, exp_month=4, exp_year=2030)
    assert [e["type"] for e in w.deliver_all()] == ["payment_method.automatically_updated"]
    w.session.expire_all()
    row = w.session.get(m.PaymentMethod, card.id)
    assert row is not None
    assert row.card is not None
    assert (row.card["exp_month"], row.card["exp_year"]) == (4, 2030)
    assert row.expires_at == datetime(2030, 5, 1, tzinfo=UTC)


def test_a_late_setup_intent_event_does_not_bring_back_a_detached_card(w: World) -> None:
    intent = w.billing.create_setup_intent(customer_id=w.customer_id, idempotency_key="late-1")
    done = w.billing.confirm_setup_intent(
        intent.id, payment_method_id="pm_card_visa", idempotency_key="late-2"
    )
    assert done.payment_method_id is not None
    w.gateway.detach_payment_method(done.payment_method_id, idempotency_key="late-3")
    # Delivered newest first: the detach, then the older save events.
    for event in reversed(w.account.drain_events()):
        assert w.deliver(event).status_code == 200
    stored = w.session.scalar(
        sa.select(m.PaymentMethod).where(
            m.PaymentMethod.stripe_payment_method_id == done.payment_method_id
        )
    )
    assert stored is None


# ---------------------------------------------------------------------- invoices


def test_an_invoice_is_shown_with_lines_discount_and_links(w: World) -> None:
    row = w.invoice(1500, 500, discount=200)
    view = paykit.get_invoice(w.session, invoice_id=row.id, actor=w.actor)
    assert view.user_id == w.user.id
    assert [line.amount for line in view.lines] == [Decimal("15.00"), Decimal("5.00")]
    assert [line.description for line in view.lines] == ["Line 0", "Line 1"]
    assert view.invoice.subtotal == Decimal("20.00")
    assert view.invoice.discount == Decimal("2.00")
    assert view.invoice.total == Decimal("18.00")
    assert view.invoice.hosted_invoice_url
    assert view.invoice.invoice_pdf
    assert view.invoice.status is m.InvoiceStatus.OPEN
    listed = paykit.list_invoices(w.session, user_id=w.user.id, actor=w.actor)
    assert [i.id for i in listed] == [row.id]
    assert paykit.list_invoices(w.session, user_id=w.user.id, status="PAID") == []


def test_pay_an_open_invoice_and_late_events_change_nothing(w: World) -> None:
    row = w.invoice(2500)
    finalized = [e for e in w.delivered if e["type"] == "invoice.finalized"][-1]
    paid = paykit.pay_invoice(
        w.session, invoice_id=row.id, gateway=w.gateway, actor=w.actor, clock=w.clock
    )
    assert paid.status is m.InvoiceStatus.PAID
    assert paid.amount_paid == Decimal("25.00")
    w.deliver_all()  # invoice.paid
    # The same finalized event again (a replay), and a late copy under a new id.
    assert w.deliver(finalized).body.get("duplicate") in (True, None)
    late = {**finalized, "id": "evt_late_finalized"}
    assert w.deliver(late).status_code == 200
    w.session.expire_all()
    view = paykit.get_invoice(w.session, invoice_id=row.id, actor=w.actor)
    assert view.invoice.status is m.InvoiceStatus.PAID
    assert len(view.lines) == 1
    with pytest.raises(GatewayError) as info:
        paykit.pay_invoice(w.session, invoice_id=row.id, gateway=w.gateway, actor=w.actor)
    assert info.value.code == "invoice_unexpected_state"


def test_pay_with_another_saved_card_and_a_decline_changes_nothing(w: World) -> None:
    declining = w.account.attach_payment_method(
        "pm_card_chargeDeclined", customer_id=w.customer_id, idempotency_key="declining"
    )
    row = w.invoice(1200)
    bad = w.session.scalar(
        sa.select(m.PaymentMethod).where(m.PaymentMethod.stripe_payment_method_id == declining.id)
    )
    assert bad is not None
    with pytest.raises(PaymentDeclined):
        paykit.pay_invoice(
            w.session,
            invoice_id=row.id,
            payment_method_id=bad.id,
            gateway=w.gateway,
            actor=w.actor,
            clock=w.clock,
        )
    w.session.expire_all()
    assert w.session.get(m.Invoice, row.id).status is m.InvoiceStatus.OPEN  # type: ignore[union-attr]
    good = w.save_card("pm_card_amex")
    paid = paykit.pay_invoice(
        w.session,
        invoice_id=row.id,
        payment_method_id=good.id,
        gateway=w.gateway,
        actor=w.actor,
        clock=w.clock,
    )
    assert paid.status is m.InvoiceStatus.PAID


def test_another_customers_invoice_or_card_is_not_found(w: World) -> None:
    row = w.invoice(1000)
    other = _other(w)
    theirs = w.save_card(user=other)
    intruder = Actor.of(other)
    calls = len(w.account.calls)
    with pytest.raises(NotFound):
        paykit.get_invoice(w.session, invoice_id=row.id, actor=intruder)
    with pytest.raises(NotFound):
        paykit.pay_invoice(w.session, invoice_id=row.id, gateway=w.gateway, actor=intruder)
    with pytest.raises(NotFound):
        paykit.list_invoices(w.session, user_id=w.user.id, actor=intruder)
    # The owner paying with someone else's card: that card is not theirs to name.
    with pytest.raises(NotFound):
        paykit.pay_invoice(
            w.session,
            invoice_id=row.id,
            payment_method_id=theirs.id,
            gateway=w.gateway,
            actor=w.actor,
        )
    assert len(w.account.calls) == calls
    with pytest.raises(NotFound):
        paykit.get_invoice(w.session, invoice_id="no-such-invoice", actor=w.actor)


def test_void_is_for_admins_and_open_invoices(w: World) -> None:
    row = w.invoice(1000)
    with pytest.raises(PermissionDenied):
        paykit.void_invoice(w.session, invoice_id=row.id, gateway=w.gateway, actor=w.actor)
    admin = Actor.of(f.user(w.session, role=m.UserRole.ADMIN))
    voided = paykit.void_invoice(
        w.session, invoice_id=row.id, gateway=w.gateway, actor=admin, clock=w.clock
    )
    assert voided.status is m.InvoiceStatus.VOID
    w.deliver_all()
    with pytest.raises(GatewayError) as info:
        paykit.void_invoice(w.session, invoice_id=row.id, gateway=w.gateway, actor=admin)
    assert info.value.code == "invoice_unexpected_state"
    with pytest.raises(GatewayError):
        paykit.pay_invoice(w.session, invoice_id=row.id, gateway=w.gateway, actor=w.actor)


def test_invoice_payment_failed_webhook_keeps_the_invoice_open(w: World) -> None:
    row = w.invoice(800)
    bad = w.account.attach_payment_method(
        "pm_card_chargeDeclinedInsufficientFunds", customer_id=w.customer_id, idempotency_key="b"
    )
    with pytest.raises(PaymentDeclined):
        w.billing.pay_invoice(
            row.stripe_invoice_id, payment_method_id=bad.id, idempotency_key="fail-1"
        )
    types = [e["type"] for e in w.deliver_all()]
    assert "invoice.payment_failed" in types
    w.session.expire_all()
    assert w.session.get(m.Invoice, row.id).status is m.InvoiceStatus.OPEN  # type: ignore[union-attr]


# ---------------------------------------------------------------------- checkout


def test_checkout_for_a_subscription(w: World) -> None:
    checkout = paykit.create_checkout_session(
        w.session,
        user_id=w.user.id,
        mode="subscription",
        price_id=w.price.id,
        quantity=2,
        success_url=OK,
        cancel_url=NO,
        gateway=w.gateway,
        actor=w.actor,
        clock=w.clock,
    )
    assert checkout.url
    assert checkout.status == "open"
    assert checkout.client_reference_id == w.user.id
    w.account.complete_checkout_session(checkout.id)
    events = w.deliver_all()
    assert events[-1]["type"] == "checkout.session.completed"
    sub = w.session.scalar(sa.select(m.Subscription).where(m.Subscription.user_id == w.user.id))
    assert sub is not None
    assert sub.quantity == 2
    # A replayed completion is a duplicate; a late one changes nothing.
    again = {**events[-1], "id": "evt_checkout_again"}
    assert w.deliver(again).status_code == 200
    count = w.session.scalar(
        sa.select(sa.func.count())
        .select_from(m.Subscription)
        .where(m.Subscription.user_id == w.user.id)
    )
    assert count == 1


def test_checkout_to_save_a_card(w: World) -> None:
    checkout = paykit.create_checkout_session(
        w.session,
        user_id=w.user.id,
        mode="setup",
        success_url=OK,
        cancel_url=NO,
        gateway=w.gateway,
        actor=w.actor,
    )
    w.account.complete_checkout_session(checkout.id, payment_method_id="pm_card_discover")
    w.deliver_all()
    cards = paykit.list_payment_methods(w.session, user_id=w.user.id, actor=w.actor)
    assert any(p.card and p.card["last4"] == "1117" for p in cards)


@pytest.mark.parametrize(
    "changes",
    [
        {"mode": "payment"},
        {"mode": "subscription"},  # no price
        {"price_id": "any"},  # a price in setup mode
        {"success_url": "javascript:alert(1)"},
        {"cancel_url": ""},
        {"quantity": 0},
    ],
)
def test_checkout_refuses_bad_arguments(w: World, changes: dict[str, Any]) -> None:
    kwargs: dict[str, Any] = {
        "user_id": w.user.id,
        "mode": "setup",
        "success_url": OK,
        "cancel_url": NO,
        "gateway": w.gateway,
        "actor": w.actor,
        **changes,
    }
    calls = len(w.account.calls)
    with pytest.raises(ValidationError):
        paykit.create_checkout_session(w.session, **kwargs)
    assert len(w.account.calls) == calls


def test_a_retried_payment_with_the_same_key_pays_once(w: World) -> None:
    invoice_id = w.invoice(1000).id
    w.account.drain_events()
    attempt = w.session.begin_nested()
    paykit.pay_invoice(
        w.session, invoice_id=invoice_id, gateway=w.gateway, actor=w.actor, idempotency_key="r1"
    )
    attempt.rollback()  # the host's transaction failed after the gateway call
    paid = paykit.pay_invoice(
        w.session, invoice_id=invoice_id, gateway=w.gateway, actor=w.actor, idempotency_key="r1"
    )
    assert paid.status is m.InvoiceStatus.PAID
    assert [e["type"] for e in w.account.drain_events()] == ["invoice.paid"]


@pytest.mark.parametrize("bad", [None, 7, "in\x00x", ""])
def test_invoice_ids_of_the_wrong_kind_are_refused(w: World, bad: Any) -> None:
    calls = len(w.account.calls)
    with pytest.raises((ValidationError, NotFound)) as info:
        paykit.pay_invoice(w.session, invoice_id=bad, gateway=w.gateway, actor=w.actor)
    assert info.value.code in ("invalid_argument", "not_found")
    with pytest.raises((ValidationError, NotFound)):
        paykit.get_invoice(w.session, invoice_id=bad, actor=w.actor)
    assert len(w.account.calls) == calls
