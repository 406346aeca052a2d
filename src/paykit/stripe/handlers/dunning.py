"""Webhook handlers that drive dunning: ``invoice.payment_failed``, ``invoice.paid``.

Each syncs the invoice as :func:`~paykit.stripe.handlers.billing.invoice_event`
does, then records the failure (with Stripe's ``attempt_count``, so a replayed
event counts once) or the recovery on the subscription
(:mod:`paykit.services.subscriptions.dunning`). A late ``payment_failed`` for
an invoice already paid changes nothing: the invoice row stays PAID (the
invoice lifecycle's order) and the failure is not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from paykit.errors import ValidationError
from paykit.models import InvoiceStatus, WebhookEventStatus
from paykit.services.subscriptions import (
    record_payment_failure,
    record_payment_success,
    sync_invoice,
)
from paykit.stripe.events import read_invoice
from paykit.stripe.handlers.context import HandlerContext

__all__ = ["invoice_paid", "invoice_payment_failed"]


def invoice_payment_failed(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """Sync the invoice; a subscription whose open invoice failed goes PAST_DUE."""
    invoice, created = read_invoice(event)
    if invoice is None:
        return WebhookEventStatus.IGNORED
    row = sync_invoice(
        session,
        invoice,
        clock=ctx.clock,
        gateway=ctx.gateway,
        event_created=created,
        context=ctx.request,
    )
    if row is None:
        return WebhookEventStatus.IGNORED
    if row.status is InvoiceStatus.OPEN:
        attempt = invoice.raw.get("attempt_count")
        try:
            record_payment_failure(
                session,
                subscription_id=row.subscription_id,
                amount_due=row.amount_due,
                attempt=attempt if isinstance(attempt, int) and attempt >= 1 else None,
                clock=ctx.clock,
                context=ctx.request,
            )
        except ValidationError as exc:
            if exc.code != "subscription_not_changeable":
                raise  # an ended subscription has no dunning; anything else is a bug
    return WebhookEventStatus.PROCESSED


def invoice_paid(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """Sync the invoice; a subscription in dunning is ACTIVE again."""
    invoice, created = read_invoice(event)
    if invoice is None:
        return WebhookEventStatus.IGNORED
    row = sync_invoice(
        session,
        invoice,
        clock=ctx.clock,
        gateway=ctx.gateway,
        event_created=created,
        context=ctx.request,
    )
    if row is None:
        return WebhookEventStatus.IGNORED
    if row.status is InvoiceStatus.PAID:
        record_payment_success(
            session,
            subscription_id=row.subscription_id,
            amount_paid=row.amount_paid,
            clock=ctx.clock,
            context=ctx.request,
        )
    return WebhookEventStatus.PROCESSED
