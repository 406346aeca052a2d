"""handle_webhook, the inbox and the event handlers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import fixture, make_event, render_payment, render_refund, sign

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import ensure_gateway_customer
from paykit.webhooks import HANDLED_EVENT_TYPES, handle_webhook, replay_failed, verify_event

SECRET = "whsec_test_current"
OLD_SECRET = "whsec_test_previous"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
NOW = int(T0.timestamp())
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


@dataclass
class Hook:
    session: Session
    clock: FrozenClock
    gateway: FakeGateway
    user: m.User
    customer_id: str

    def deliver(
        self,
        event: dict[str, Any],
        *,
        secret: str = SECRET,
        timestamp: int | None = None,
        body: bytes | None = None,
    ) -> paykit.webhooks.WebhookResponse:
        payload = body if body is not None else json.dumps(event).encode()
        header = sign(payload, secret, timestamp=NOW if timestamp is None else timestamp)
        return handle_webhook(
            self.session,
            payload,
            header,
            secrets=[SECRET, OLD_SECRET],
            gateway=self.gateway,
            clock=self.clock,
        )

    def inbox(self, event_id: str) -> m.WebhookEvent:
        self.session.expire_all()
        return self.session.scalars(
            sa.select(m.WebhookEvent).where(m.WebhookEvent.event_id == event_id)
        ).one()


@pytest.fixture
def hook(session: Session) -> Hook:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    user = f.user(session)
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
    return Hook(session, clock, gateway, user, customer_id)


def subscription_world(hook: Hook) -> tuple[str, m.Price]:
    stripe_price = hook.gateway.add_price(unit_amount=1000, currency="usd")
    product = f.product(hook.session, type=m.ProductType.SUBSCRIPTION)
    price = f.price(hook.session, product, stripe_price_id=stripe_price, type=m.PriceType.RECURRING)
    hook.gateway.attach_payment_method(
        "pm_card_visa", customer_id=hook.customer_id, idempotency_key="a"
    )
    return stripe_price, price


def pending_order(hook: Hook) -> m.Order:
    product = f.product(hook.session, base_price=Decimal("15.00"))
    return paykit.place_order(
        hook.session,
        customer_id=hook.user.id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(hook.session, product).id, "quantity": 1}],
        gateway=hook.gateway,
        clock=hook.clock,
    ).order


def count(session: Session, model: Any, *where: Any) -> int:
    return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


# --------------------------------------------------------------------- verification


def test_a_valid_event_is_stored_and_acknowledged(hook: Hook) -> None:
    event = make_event("plan.created", fixture("price"), created=NOW)
    response = hook.deliver(event)
    assert response.status_code == 200
    assert response.body == {"received": True, "event_id": event["id"], "status": "ignored"}
    row = hook.inbox(event["id"])
    assert (row.type, row.status, row.attempts) == ("plan.created", "ignored", 1)
    assert row.payload == event
    assert row.event_created_at == T0
    assert row.received_at == T0
    assert row.processed_at == T0


def test_bad_signature_is_refused_and_nothing_is_stored(hook: Hook) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    response = hook.deliver(event, secret="whsec_wrong")
    assert response.status_code == 400
    assert response.body["error"]["code"] == "invalid_signature"
    assert count(hook.session, m.WebhookEvent) == 0


def test_tampered_body_is_refused(hook: Hook) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    payload = json.dumps(event).encode()
    header = sign(payload, SECRET, timestamp=NOW)
    tampered = payload.replace(b'"livemode": false', b'"livemode": true')
    response = handle_webhook(
        hook.session, tampered, header, secrets=SECRET, gateway=hook.gateway, clock=hook.clock
    )
    assert response.status_code == 400


def test_missing_header_is_refused(hook: Hook) -> None:
    response = handle_webhook(
        hook.session, b"{}", None, secrets=SECRET, gateway=hook.gateway, clock=hook.clock
    )
    assert response.status_code == 400


@pytest.mark.parametrize("offset", [-301, 301, -3600])
def test_stale_or_future_timestamp_is_refused(hook: Hook, offset: int) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    response = hook.deliver(event, timestamp=NOW + offset)
    assert response.status_code == 400
    assert response.body["error"]["code"] == "webhook_timestamp_out_of_tolerance"
    assert count(hook.session, m.WebhookEvent) == 0


def test_timestamp_inside_tolerance_passes(hook: Hook) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    assert hook.deliver(event, timestamp=NOW - 299).status_code == 200


def test_tolerance_is_configurable_and_uses_the_clock(hook: Hook) -> None:
    payload = json.dumps(make_event("x.y", fixture("customer"), created=NOW)).encode()
    header = sign(payload, SECRET, timestamp=NOW - 1000)
    verify_event(payload, header, secrets=SECRET, tolerance=None, clock=hook.clock)
    verify_event(payload, header, secrets=SECRET, tolerance=1000, clock=hook.clock)
    with pytest.raises(paykit.errors.InvalidSignature):
        verify_event(payload, header, secrets=SECRET, tolerance=999, clock=hook.clock)


def test_a_captured_delivery_replayed_with_a_fresh_padded_timestamp_is_refused(
    hook: Hook,
) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW - 3600)
    payload = json.dumps(event).encode()
    captured = sign(payload, SECRET, timestamp=NOW - 3600)
    response = handle_webhook(
        hook.session,
        payload,
        f" t={NOW},{captured}",
        secrets=SECRET,
        gateway=hook.gateway,
        clock=hook.clock,
    )
    assert response.status_code == 400
    assert response.body["error"]["code"] == "webhook_timestamp_out_of_tolerance"
    assert count(hook.session, m.WebhookEvent) == 0


def test_rotated_secret_still_verifies(hook: Hook) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    assert hook.deliver(event, secret=OLD_SECRET).status_code == 200


def test_signed_garbage_is_a_400(hook: Hook) -> None:
    body = b'{"not": "an event"}'
    response = hook.deliver({}, body=body)
    assert response.status_code == 400
    assert response.body["error"]["code"] == "webhook_payload_invalid"


@pytest.mark.parametrize("created", [67_768_036_191_676_800, -(10**15), "soon"])
def test_an_event_time_beyond_any_date_is_a_400_and_nothing_stored(
    hook: Hook, created: object
) -> None:
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    event["created"] = created
    response = hook.deliver(event)
    assert response.status_code == 400
    assert response.body["error"]["code"] == "webhook_payload_invalid"
    assert count(hook.session, m.WebhookEvent) == 0


# --------------------------------------------------------------------- payments


def test_payment_succeeded_marks_the_order_paid_once(hook: Hook) -> None:
    order = pending_order(hook)
    assert order.stripe_payment_intent_id is not None
    paid = hook.gateway.confirm_payment(
        order.stripe_payment_intent_id, payment_method_id="pm_card_visa", idempotency_key="c"
    )
    event = make_event("payment_intent.succeeded", render_payment(paid), created=NOW)
    first = hook.deliver(event)
    assert first.body["status"] == "processed"
    hook.session.refresh(order)
    assert (order.status, order.payment_status) == (
        m.OrderStatus.COMPLETED,
        m.PaymentStatus.SUCCEEDED,
    )
    audits = count(hook.session, m.AuditLog, m.AuditLog.action == "order.paid")
    replay = hook.deliver(event)
    assert replay.status_code == 200
    assert replay.body["status"] == "duplicate"
    assert count(hook.session, m.AuditLog, m.AuditLog.action == "order.paid") == audits
    assert hook.inbox(event["id"]).attempts == 1


def test_payment_of_no_order_is_ignored(hook: Hook) -> None:
    obj = render_payment(
        hook.gateway.create_payment(
            amount_minor=100, currency="usd", customer_id=None, idempotency_key="k"
        )
    )
    assert (
        hook.deliver(make_event("payment_intent.succeeded", obj, created=NOW)).body["status"]
        == "ignored"
    )


def test_payment_failed_keeps_a_retryable_order_and_canceled_closes_it(hook: Hook) -> None:
    failing, canceled = pending_order(hook), pending_order(hook)
    assert failing.stripe_payment_intent_id is not None
    assert canceled.stripe_payment_intent_id is not None
    with pytest.raises(paykit.errors.PaymentDeclined):
        hook.gateway.confirm_payment(
            failing.stripe_payment_intent_id,
            payment_method_id="pm_card_chargeDeclined",
            idempotency_key="attempt-1",
        )
    hook.gateway.cancel_payment(canceled.stripe_payment_intent_id, idempotency_key="c")
    for order, kind in (
        (failing, "payment_intent.payment_failed"),
        (canceled, "payment_intent.canceled"),
    ):
        obj = render_payment(hook.gateway.retrieve_payment(order.stripe_payment_intent_id))
        assert hook.deliver(make_event(kind, obj, created=NOW)).body["status"] == "processed"
    hook.session.refresh(failing)
    hook.session.refresh(canceled)
    # A declined attempt leaves the payment retryable: the order waits for another card.
    assert (failing.status, failing.payment_status) == (
        m.OrderStatus.PENDING,
        m.PaymentStatus.PENDING,
    )
    assert (canceled.status, canceled.payment_status) == (
        m.OrderStatus.CANCELLED,
        m.PaymentStatus.CANCELLED,
    )


def test_payment_succeeded_after_cancel_is_recorded_for_a_refund(hook: Hook) -> None:
    order = pending_order(hook)
    paykit.cancel_order(hook.session, order_id=order.id, gateway=hook.gateway, clock=hook.clock)
    assert order.stripe_payment_intent_id is not None
    obj = render_payment(hook.gateway.retrieve_payment(order.stripe_payment_intent_id))
    obj["status"] = "succeeded"
    response = hook.deliver(make_event("payment_intent.succeeded", obj, created=NOW))
    assert response.status_code == 200
    assert count(hook.session, m.AuditLog, m.AuditLog.action == "order.paid_after_cancel") == 1


# --------------------------------------------------------------------- refunds


def paid_order(hook: Hook) -> m.Order:
    product = f.product(hook.session, base_price=Decimal("30.00"))
    placed = paykit.place_order(
        hook.session,
        customer_id=hook.user.id,
        billing_address=ADDRESS,
        items=[{"price_id": f.price(hook.session, product).id, "quantity": 1}],
        payment_method_id="pm_card_visa",
        gateway=hook.gateway,
        clock=hook.clock,
    ).order
    return paykit.pay_order(
        hook.session, order_id=placed.id, gateway=hook.gateway, clock=hook.clock
    ).order


def test_refund_updated_settles_a_pending_refund(hook: Hook) -> None:
    order = paid_order(hook)
    support = f.user(hook.session, role=m.UserRole.SUPPORT)
    hook.gateway.hold_next_refund()
    refund = paykit.issue_refund(
        hook.session,
        order_id=order.id,
        reason="REQUESTED_BY_CUSTOMER",
        gateway=hook.gateway,
        actor_id=support.id,
        clock=hook.clock,
    )
    assert refund.status is m.RefundStatus.PENDING
    settled = hook.gateway.settle_refund(refund.stripe_refund_id)
    event = make_event("refund.updated", render_refund(settled), created=NOW)
    assert hook.deliver(event).body["status"] == "processed"
    hook.session.refresh(refund)
    hook.session.refresh(order)
    assert refund.status is m.RefundStatus.SUCCEEDED
    assert order.refunded_amount == Decimal("30.00")
    hook.deliver(event)
    hook.session.refresh(order)
    assert order.refunded_amount == Decimal("30.00")


def test_a_dashboard_refund_is_recorded_once(hook: Hook) -> None:
    order = paid_order(hook)
    assert order.stripe_payment_intent_id is not None
    gateway_refund = hook.gateway.create_refund(
        payment_id=order.stripe_payment_intent_id,
        amount_minor=1000,
        reason="duplicate",
        idempotency_key="dash",
    )
    refund_obj = render_refund(gateway_refund)
    charge = fixture("charge")
    charge.update(refunds={"object": "list", "data": [refund_obj]})
    assert (
        hook.deliver(make_event("charge.refunded", charge, created=NOW)).body["status"]
        == "processed"
    )
    hook.deliver(make_event("refund.created", refund_obj, created=NOW))
    rows = hook.session.scalars(sa.select(m.Refund).where(m.Refund.order_id == order.id)).all()
    assert [(r.amount, r.reason) for r in rows] == [(Decimal("10.00"), m.RefundReason.DUPLICATE)]
    hook.session.refresh(order)
    assert order.refunded_amount == Decimal("10.00")


# --------------------------------------------------------------------- subscriptions and invoices


def test_subscription_events_sync_in_any_order(hook: Hook) -> None:
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, idempotency_key="s"
    )
    created = make_event("customer.subscription.created", sub.raw, created=NOW)
    hook.clock.advance(seconds=30)
    paused = hook.gateway.set_subscription_status(sub.id, "paused")
    paused_event = make_event("customer.subscription.paused", paused.raw, created=NOW + 30)
    assert hook.deliver(paused_event).body["status"] == "processed"
    assert hook.deliver(created).body["status"] == "processed"
    row = hook.session.scalars(
        sa.select(m.Subscription).where(m.Subscription.stripe_subscription_id == sub.id)
    ).one()
    hook.session.refresh(row)
    assert row.status is m.SubscriptionStatus.PAUSED


def test_trial_will_end_syncs_and_leaves_an_audit_row(hook: Hook) -> None:
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, trial_days=7, idempotency_key="t"
    )
    hook.deliver(make_event("customer.subscription.trial_will_end", sub.raw, created=NOW))
    assert count(hook.session, m.AuditLog, m.AuditLog.action == "subscription.trial_will_end") == 1


def test_invoice_events(hook: Hook) -> None:
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, idempotency_key="s"
    )
    invoice = fixture("invoice")
    invoice.update(
        id="in_hook",
        subscription=sub.id,
        parent=None,
        currency="usd",
        number="INV-1",
        status="open",
        subtotal=1000,
        total=1000,
        total_taxes=[],
        amount_paid=0,
        amount_due=1000,
        period_start=NOW,
        period_end=NOW,
        status_transitions={"paid_at": None},
    )
    del invoice["lines"]
    for offset, kind, status in (
        (0, "invoice.finalized", "open"),
        (5, "invoice.payment_failed", "open"),
        (9, "invoice.marked_uncollectible", "uncollectible"),
        (12, "invoice.voided", "void"),
    ):
        invoice["status"] = status
        response = hook.deliver(make_event(kind, invoice, created=NOW + offset))
        assert response.body["status"] == "processed", response.body
    row = hook.session.scalars(
        sa.select(m.Invoice).where(m.Invoice.stripe_invoice_id == "in_hook")
    ).one()
    hook.session.refresh(row)
    assert row.status is m.InvoiceStatus.VOID


# --------------------------------------------------------------------- payment methods, customers


def pm_obj(hook: Hook, pm_id: str, customer: str | None) -> dict[str, Any]:
    obj = fixture("payment_method")
    obj.update(id=pm_id, customer=customer)
    return obj


def test_payment_method_attached_then_detached(hook: Hook) -> None:
    hook.deliver(
        make_event("payment_method.attached", pm_obj(hook, "pm_1", hook.customer_id), created=NOW)
    )
    row = hook.session.scalars(sa.select(m.PaymentMethod)).one()
    assert (row.user_id, row.stripe_payment_method_id) == (hook.user.id, "pm_1")
    assert row.card is not None
    assert row.card["last4"] == "4242"
    assert "fingerprint" not in row.card
    hook.deliver(make_event("payment_method.detached", pm_obj(hook, "pm_1", None), created=NOW + 1))
    assert count(hook.session, m.PaymentMethod) == 0


def test_late_attach_after_detach_does_not_resurrect(hook: Hook) -> None:
    hook.deliver(make_event("payment_method.detached", pm_obj(hook, "pm_2", None), created=NOW + 1))
    response = hook.deliver(
        make_event("payment_method.attached", pm_obj(hook, "pm_2", hook.customer_id), created=NOW)
    )
    assert response.body["status"] == "ignored"
    assert count(hook.session, m.PaymentMethod) == 0


def test_customer_updated_sets_the_default_method(hook: Hook) -> None:
    for pm in ("pm_a", "pm_b"):
        hook.deliver(
            make_event("payment_method.attached", pm_obj(hook, pm, hook.customer_id), created=NOW)
        )
    customer = fixture("customer")
    customer.update(id=hook.customer_id, invoice_settings={"default_payment_method": "pm_b"})
    hook.deliver(make_event("customer.updated", customer, created=NOW + 5))
    older = dict(customer, invoice_settings={"default_payment_method": "pm_a"})
    assert (
        hook.deliver(make_event("customer.updated", older, created=NOW + 2)).body["status"]
        == "ignored"
    )
    defaults = hook.session.scalars(
        sa.select(m.PaymentMethod.stripe_payment_method_id).where(m.PaymentMethod.is_default)
    ).all()
    assert defaults == ["pm_b"]


# --------------------------------------------------------------------- failures and replay


def test_failed_handler_keeps_the_inbox_row_rolls_back_effects_and_replays(hook: Hook) -> None:
    stripe_price = hook.gateway.add_price(unit_amount=1000, currency="usd")
    stranger = hook.gateway.create_customer(email="late@example.com", idempotency_key="late")
    hook.gateway.attach_payment_method("pm_card_visa", customer_id=stranger.id, idempotency_key="p")
    sub = hook.gateway.create_subscription(
        customer_id=stranger.id, price_id=stripe_price, idempotency_key="s"
    )
    event = make_event("customer.subscription.created", sub.raw, created=NOW)
    response = hook.deliver(event)
    assert response.status_code == 500
    assert response.body["error"]["code"] == "webhook_handler_failed"
    row = hook.inbox(event["id"])
    assert (row.status, row.attempts) == ("failed", 1)
    assert row.last_error is not None
    assert "unknown_customer" in row.last_error or "stripe_customer_id" in row.last_error
    # The price import happened before the failure, inside the savepoint: rolled back.
    assert count(hook.session, m.Price, m.Price.stripe_price_id == stripe_price) == 0
    assert count(hook.session, m.Subscription) == 0
    # Stripe's retry fails the same way and counts another attempt.
    assert hook.deliver(event).status_code == 500
    assert hook.inbox(event["id"]).attempts == 2
    # The host catches up (the customer's row is committed now); a replay applies it.
    late = f.user(hook.session, stripe_customer_id=stranger.id)
    replayed = replay_failed(hook.session, gateway=hook.gateway, clock=hook.clock)
    assert [r.event_id for r in replayed] == [event["id"]]
    row = hook.inbox(event["id"])
    assert (row.status, row.attempts, row.last_error) == ("processed", 3, None)
    sub_row = hook.session.scalars(sa.select(m.Subscription)).one()
    assert sub_row.user_id == late.id
    assert replay_failed(hook.session, gateway=hook.gateway, clock=hook.clock) == []
    assert hook.deliver(event).body["status"] == "duplicate"


def test_deferred_events_are_applied_by_replay_in_event_order(hook: Hook) -> None:
    stripe_price, _ = subscription_world(hook)
    sub = hook.gateway.create_subscription(
        customer_id=hook.customer_id, price_id=stripe_price, idempotency_key="s"
    )
    later = hook.gateway.update_subscription(sub.id, quantity=3, idempotency_key="q")
    events = [
        make_event("customer.subscription.updated", later.raw, created=NOW + 10),
        make_event("customer.subscription.created", sub.raw, created=NOW),
    ]
    for event in events:
        payload = json.dumps(event).encode()
        response = handle_webhook(
            hook.session,
            payload,
            sign(payload, SECRET, timestamp=NOW),
            secrets=SECRET,
            gateway=hook.gateway,
            clock=hook.clock,
            defer=True,
        )
        assert response.body["status"] == "pending"
    assert count(hook.session, m.Subscription) == 0
    rows = replay_failed(hook.session, gateway=hook.gateway, clock=hook.clock)
    assert [r.event_id for r in rows] == [events[1]["id"], events[0]["id"]]
    assert hook.session.scalars(sa.select(m.Subscription)).one().quantity == 3


def test_an_interrupted_handler_leaves_the_event_pending(
    hook: Hook, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(session: Session, event: Any, ctx: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setitem(paykit.webhooks.HANDLERS, "customer.updated", interrupted)  # type: ignore[index]
    event = make_event("customer.updated", fixture("customer"), created=NOW)
    with pytest.raises(KeyboardInterrupt):
        hook.deliver(event)
    row = hook.inbox(event["id"])
    assert (row.status, row.attempts, row.processed_at, row.last_error) == (
        "pending",
        0,
        None,
        None,
    )


def test_a_handler_that_ignores_a_new_event_is_recorded_as_ignored(hook: Hook) -> None:
    payment = fixture("payment_intent")
    payment.update(id="pi_of_no_order", status="succeeded")
    event = make_event("payment_intent.succeeded", payment, created=NOW)
    assert hook.deliver(event).body["status"] == "ignored"
    row = hook.inbox(event["id"])
    assert (row.status, row.attempts, row.processed_at) == ("ignored", 1, T0)


def test_every_required_event_type_has_a_handler() -> None:
    required = {
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.refunded",
        "refund.updated",
        "refund.failed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.created",
        "invoice.finalized",
        "invoice.paid",
        "invoice.payment_failed",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "payment_method.attached",
        "payment_method.detached",
        "customer.updated",
    }
    assert required <= HANDLED_EVENT_TYPES


def test_inbox_event_id_is_unique(hook: Hook) -> None:
    event = make_event("x.y", fixture("customer"), created=NOW)
    hook.deliver(event)
    hook.session.add(
        m.WebhookEvent(
            event_id=event["id"],
            type="x.y",
            event_created_at=T0,
            payload={},
            received_at=T0 + timedelta(seconds=1),
        )
    )
    with pytest.raises(sa.exc.IntegrityError):
        hook.session.flush()
