"""Webhook handlers for saved cards and checkout: ``setup_intent.succeeded``,
``payment_method.updated``/``.automatically_updated``, ``checkout.session.completed``;
and the invoice details every ``invoice.*`` event carries.

The card and checkout handlers read the gateway's current objects rather
than the event's copy, so a replayed or late event applies today's state (a
card detached since is not stored again).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from paykit.models import Invoice, WebhookEventStatus
from paykit.services.billing import complete_checkout, save_setup_intent_method
from paykit.services.billing.invoices import sync_invoice_details
from paykit.stripe.billing_methods import (
    checkout_session_from_stripe,
    invoice_details_from_stripe,
    setup_intent_from_stripe,
)
from paykit.stripe.events import event_object, malformed, read_invoice
from paykit.stripe.handlers.context import HandlerContext, outcome

__all__ = [
    "checkout_session_completed",
    "payment_method_updated",
    "setup_intent_succeeded",
    "sync_invoice_event",
]


def setup_intent_succeeded(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    with malformed("setup_intent"):
        intent = setup_intent_from_stripe(event_object(event))
    return _save_method(session, intent.payment_method_id, ctx)


def payment_method_updated(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """``payment_method.updated`` / ``.automatically_updated`` (the card updater's new
    expiry): the row follows the gateway's current card (stored if it was missed)."""
    with malformed("payment_method"):
        method_id = str(event_object(event)["id"])
    return _save_method(session, method_id, ctx)


def _save_method(
    session: Session, method_id: str | None, ctx: HandlerContext
) -> WebhookEventStatus:
    """Store the gateway's current copy of a saved card (nothing for no id or a detached one)."""
    row = save_setup_intent_method(
        session, method_id, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    return outcome(row)


def checkout_session_completed(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    with malformed("checkout.session"):
        checkout = checkout_session_from_stripe(event_object(event))
    row = complete_checkout(
        session, checkout, gateway=ctx.gateway, clock=ctx.clock, context=ctx.request
    )
    return outcome(row)


def sync_invoice_event(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> Invoice | None:
    """``invoice.*``: the row, then its discount, hosted page, PDF and lines.

    ``None`` for an invoice of no subscription (not kept).
    """
    invoice, created = read_invoice(event)
    if invoice is None:
        return None
    with malformed("invoice"):
        details = invoice_details_from_stripe(event_object(event))
    return sync_invoice_details(
        session,
        details,
        clock=ctx.clock,
        gateway=ctx.gateway,
        event_created=created,
        context=ctx.request,
    )
