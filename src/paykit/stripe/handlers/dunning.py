"""Webhook handlers that drive dunning: ``invoice.payment_failed``, ``invoice.paid``.

Each syncs the invoice as :mod:`.billing` does (``invoice.payment_failed`` also
with its audit row, which paykit.notifications reads), then records the
failure (with Stripe's ``attempt_count``, so a replayed event counts once) or
the recovery on the subscription
(:mod:`paykit.services.subscriptions.dunning`). A late ``payment_failed`` for
an invoice already paid changes nothing: the invoice row stays PAID (the
invoice lifecycle's order) and the failure is not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import ValidationError
from paykit.models import Invoice, InvoiceStatus, WebhookEventStatus
from paykit.services.subscriptions import (
    record_payment_failure,
    record_payment_success,
)
from paykit.stripe.events import read_invoice
from paykit.stripe.handlers import billing
from paykit.stripe.handlers.context import HandlerContext

__all__ = ["invoice_paid", "invoice_payment_failed"]


def invoice_payment_failed(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """Sync and audit the invoice (:mod:`.billing`); while it is OPEN, the subscription
    goes PAST_DUE and the attempt is counted."""
    status = billing.invoice_payment_failed(session, event, ctx)
    row = _invoice_row(session, event, status)
    if row is None or row.status is not InvoiceStatus.OPEN:
        return status
    invoice, _ = read_invoice(event)
    assert invoice is not None
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
    return status


def invoice_paid(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """Sync the invoice (:mod:`.billing`, lines and links too); a subscription in
    dunning is ACTIVE again."""
    status = billing.invoice_event(session, event, ctx)
    row = _invoice_row(session, event, status)
    if row is not None and row.status is InvoiceStatus.PAID:
        record_payment_success(
            session,
            subscription_id=row.subscription_id,
            amount_paid=row.amount_paid,
            clock=ctx.clock,
            context=ctx.request,
        )
    return status


def _invoice_row(
    session: Session, event: Mapping[str, Any], status: WebhookEventStatus
) -> Invoice | None:
    invoice, _ = read_invoice(event)
    if status is not WebhookEventStatus.PROCESSED or invoice is None:
        return None
    return session.scalars(
        sa.select(Invoice).where(Invoice.stripe_invoice_id == invoice.id)
    ).one_or_none()
