"""Webhook handlers for subscriptions and invoices: ``customer.subscription.*``, ``invoice.*``.

The event is read into a neutral snapshot here; the services sync it, ordered
by the event's ``created`` time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from paykit.models import Invoice, Subscription, WebhookEventStatus
from paykit.services.subscriptions import sync_subscription
from paykit.stripe.events import read_subscription
from paykit.stripe.handlers.billing_methods import sync_invoice_event
from paykit.stripe.handlers.context import HandlerContext, outcome

__all__ = ["invoice_event", "invoice_payment_failed", "subscription_event", "trial_will_end"]


def _sync(session: Session, event: Mapping[str, Any], ctx: HandlerContext) -> Subscription:
    sub, created = read_subscription(event)
    return sync_subscription(
        session,
        sub,
        clock=ctx.clock,
        gateway=ctx.gateway,
        event_created=created,
        context=ctx.request,
    )


def subscription_event(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    _sync(session, event, ctx)
    return WebhookEventStatus.PROCESSED


def trial_will_end(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    row = _sync(session, event, ctx)
    # A reminder for the host (e.g. to e-mail the customer); nothing changes state.
    ctx.audit(
        session,
        "subscription.trial_will_end",
        "subscriptions",
        row.id,
        actor_id=row.user_id,
        new={"trial_end": row.trial_end},
    )
    return WebhookEventStatus.PROCESSED


def _sync_invoice(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> Invoice | None:
    # The row, then what a customer sees on it (discount, links, lines).
    return sync_invoice_event(session, event, ctx)


def invoice_event(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    row = _sync_invoice(session, event, ctx)
    return outcome(row)


def invoice_payment_failed(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    row = _sync_invoice(session, event, ctx)
    if row is None:
        return WebhookEventStatus.IGNORED
    # The invoice stays open (Stripe retries): the failed attempt itself is what the
    # customer hears about (paykit.notifications), so it is recorded here.
    ctx.audit(
        session,
        "invoice.payment_failed",
        "invoices",
        row.id,
        new={"amount_due": row.amount_due, "currency": row.currency},
    )
    return WebhookEventStatus.PROCESSED
