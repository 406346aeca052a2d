"""Webhook handlers for payments and refunds: ``payment_intent.*``, ``refund.*``, ``charge.*``.

A payment event is applied to the order that holds its PaymentIntent id; a
refund event to the refund with its id, or recorded as a refund made at the
gateway (the dashboard). Events about anything else are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import InvalidState
from paykit.models import Order, OrderStatus, Refund, RefundReason, WebhookEventStatus
from paykit.services import orders as order_services
from paykit.services import refunds as refund_services
from paykit.stripe.events import event_object
from paykit.stripe.handlers.context import HandlerContext
from paykit.stripe.objects import payment_from_stripe, refund_from_stripe
from paykit.stripe.statuses import REFUND_REASONS

__all__ = [
    "charge_refunded",
    "payment_canceled",
    "payment_failed",
    "payment_succeeded",
    "refund_event",
]


def _order_id_for(session: Session, payment_id: str) -> str | None:
    return session.scalar(sa.select(Order.id).where(Order.stripe_payment_intent_id == payment_id))


def payment_succeeded(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    payment = payment_from_stripe(event_object(event))
    order_id = _order_id_for(session, payment.id)
    if order_id is None:
        return WebhookEventStatus.IGNORED  # not an order's payment (e.g. a subscription invoice)
    order = session.get(Order, order_id, populate_existing=True)
    assert order is not None
    try:
        # With the gateway: a payment for another amount than the order's is
        # refunded and the order cancelled, instead of failing on every delivery.
        order_services.apply_payment(
            session,
            order=order,
            payment=payment,
            gateway=ctx.gateway,
            clock=ctx.clock,
            context=ctx.request,
        )
    except InvalidState as exc:
        if exc.code != "order_cancelled":
            raise
        # Money arrived for an order that was cancelled meanwhile: someone must refund
        # it. Retrying cannot change that, so record it for people and acknowledge.
        ctx.audit(
            session,
            "order.paid_after_cancel",
            "orders",
            order_id,
            new={"payment_id": payment.id, "amount_minor": payment.amount_minor},
        )
    return WebhookEventStatus.PROCESSED


def payment_failed(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    payment = payment_from_stripe(event_object(event))
    order_id = _order_id_for(session, payment.id)
    if order_id is None:
        return WebhookEventStatus.IGNORED
    # The event's object may be stale (a later attempt may have succeeded):
    # the gateway's current state decides.
    order_services.fail_order_payment(
        session, order_id=order_id, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    return WebhookEventStatus.PROCESSED


def payment_canceled(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    payment_id = str(event_object(event)["id"])
    order_id = _order_id_for(session, payment_id)
    if order_id is None:
        return WebhookEventStatus.IGNORED
    order = order_services.sync_order_payment(
        session, order_id=order_id, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    if order.status is not OrderStatus.CANCELLED:
        return WebhookEventStatus.IGNORED  # a paid order stays paid
    return WebhookEventStatus.PROCESSED


def _apply_refund(
    session: Session, obj: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    refund = refund_from_stripe(obj)
    exists = session.scalar(sa.select(Refund.id).where(Refund.stripe_refund_id == refund.id))
    if exists is not None:
        refund_services.sync_refund(
            session, gateway_refund=refund, clock=ctx.clock, context=ctx.request
        )
        return WebhookEventStatus.PROCESSED
    order = session.scalar(
        sa.select(Order).where(Order.stripe_payment_intent_id == refund.payment_id)
    )
    if order is None:
        return WebhookEventStatus.IGNORED
    # A refund made at the gateway (the dashboard), or one whose issue_refund has
    # not committed yet: record it; the unique stripe_refund_id counts it once.
    metadata = obj.get("metadata") or {}
    try:
        reason = RefundReason(str(metadata.get("paykit_reason")))
    except ValueError:
        reason = REFUND_REASONS.get(str(refund.reason), RefundReason.OTHER)
    refund_services.record_gateway_refund(
        session,
        order=order,
        gateway_refund=refund,
        reason=reason,
        notes="recorded from a gateway webhook",
        clock=ctx.clock,
        context=ctx.request,
    )
    return WebhookEventStatus.PROCESSED


def refund_event(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    return _apply_refund(session, event_object(event), ctx)


def charge_refunded(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    # Since API 2022-11-15 a charge no longer embeds its refunds; refund.* events
    # carry them. Older payloads that do embed them are applied here.
    refunds = ((event_object(event).get("refunds") or {}).get("data")) or []
    outcomes = [_apply_refund(session, refund, ctx) for refund in refunds]
    if WebhookEventStatus.PROCESSED in outcomes:
        return WebhookEventStatus.PROCESSED
    return WebhookEventStatus.IGNORED
