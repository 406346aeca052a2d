"""Invoices for customers: list, read with lines, pay an open one, void; and their details synced.

The ``invoices`` row holds totals and status (:func:`sync_invoice`); this
module adds what a customer sees on an invoice -- discount, hosted page, PDF
and lines -- from the gateway's invoice (:func:`sync_invoice_details`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, NotFound
from paykit.gateways.base import PaymentGateway
from paykit.gateways.billing import GatewayInvoiceDetails
from paykit.models import Invoice, InvoiceLine, InvoiceStatus, Subscription
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import Audit
from paykit.services.billing._common import (
    billing_gateway,
    gateway_key,
    owned_user,
    owners_method,
    require_owner,
)
from paykit.services.subscriptions import sync_invoice
from paykit.services.subscriptions.prices import money
from paykit.services.subscriptions.statuses import INVOICE_STATUSES

__all__ = [
    "InvoiceView",
    "get_invoice",
    "list_invoices",
    "pay_invoice",
    "sync_invoice_details",
    "void_invoice",
]


@dataclass(frozen=True, slots=True)
class InvoiceView:
    """An invoice with its lines (in the gateway's order) and its owner's user id."""

    invoice: Invoice
    lines: tuple[InvoiceLine, ...]
    user_id: str


def _missing(invoice_id: str) -> NotFound:
    return NotFound(f"invoice {invoice_id} not found", details={"invoice_id": invoice_id})


def _owned_invoice(
    session: Session, invoice_id: str, actor: Actor | None
) -> tuple[Invoice, str, str | None]:
    found = session.execute(
        sa.select(Invoice, Subscription.user_id)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(Invoice.id == invoice_id)
        .execution_options(populate_existing=True)
    ).first()
    if found is None:
        raise _missing(invoice_id)
    row, owner = found
    acting = require_owner(session, actor, owner_id=owner, missing=_missing(invoice_id))
    return row, owner, acting


def _lines(session: Session, invoice_id: str) -> tuple[InvoiceLine, ...]:
    return tuple(
        session.scalars(
            sa.select(InvoiceLine)
            .where(InvoiceLine.invoice_id == invoice_id)
            .order_by(InvoiceLine.position, InvoiceLine.id)
        )
    )


@checked
def list_invoices(
    session: Session,
    *,
    user_id: str,
    actor: Actor | None = None,
    status: InvoiceStatus | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Invoice]:
    """The user's invoices, newest period first (optionally of one ``status``)."""
    owned_user(session, user_id, actor)
    query = (
        sa.select(Invoice)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .where(Subscription.user_id == user_id)
    )
    if status is not None:
        query = query.where(Invoice.status == InvoiceStatus(status))
    query = query.order_by(Invoice.period_start.desc(), Invoice.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


@checked
def get_invoice(session: Session, *, invoice_id: str, actor: Actor | None = None) -> InvoiceView:
    """One invoice with its lines; another customer's id is ``NotFound``."""
    row, owner, _ = _owned_invoice(session, invoice_id, actor)
    return InvoiceView(invoice=row, lines=_lines(session, row.id), user_id=owner)


def _unexpected(row: Invoice, verb: str) -> GatewayError:
    return GatewayError(
        f"invoice {row.id} is {row.status.value} and cannot be {verb}",
        code="invoice_unexpected_state",
        details={"invoice_id": row.id, "status": row.status.value},
    )


@checked
def pay_invoice(
    session: Session,
    *,
    invoice_id: str,
    gateway: PaymentGateway,
    payment_method_id: str | None = None,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> Invoice:
    """Pay an OPEN invoice now, with a saved method of its owner (paykit id) or the default.

    A decline raises ``PaymentDeclined`` and changes nothing here (the
    ``invoice.payment_failed`` webhook records the attempt). The same
    ``idempotency_key`` pays once.
    """
    billing = billing_gateway(gateway)
    row, owner, acting = _owned_invoice(session, invoice_id, actor)
    if row.status is not InvoiceStatus.OPEN:
        raise _unexpected(row, "paid")
    method_stripe_id = None
    if payment_method_id is not None:
        method_stripe_id = owners_method(session, payment_method_id, owner).stripe_payment_method_id
    details = billing.pay_invoice(
        row.stripe_invoice_id,
        payment_method_id=method_stripe_id,
        idempotency_key=gateway_key("invoice-pay", row.id, idempotency_key),
    )
    return _after(session, details, row, "invoice.paid_by_customer", acting, owner, clock, context)


@checked
def void_invoice(
    session: Session,
    *,
    invoice_id: str,
    gateway: PaymentGateway,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> Invoice:
    """Void an OPEN (or uncollectible) invoice: nobody owes it any more. Needs ``invoice.void``."""
    billing = billing_gateway(gateway)
    acting = None
    if actor is not None:
        acting = authorize(session, actor, Action.VOID_INVOICE).id
    row, owner, _ = _owned_invoice(session, invoice_id, None)
    if row.status not in (InvoiceStatus.OPEN, InvoiceStatus.UNCOLLECTIBLE):
        raise _unexpected(row, "voided")
    details = billing.void_invoice(
        row.stripe_invoice_id, idempotency_key=gateway_key("invoice-void", row.id, idempotency_key)
    )
    return _after(session, details, row, "invoice.voided", acting, owner, clock, context)


def _after(
    session: Session,
    details: GatewayInvoiceDetails,
    row: Invoice,
    action: str,
    acting: str | None,
    owner: str,
    clock: Clock | None,
    context: RequestContext | None,
) -> Invoice:
    now = resolve_clock(clock).now()
    # Stamped with now: a late webhook about an earlier state is then older and ignored.
    synced = sync_invoice_details(session, details, clock=clock, event_created=now)
    Audit(session, now, acting or owner, context).record(
        action,
        "invoices",
        row.id,
        new={"status": details.invoice.status.value, "stripe_invoice_id": row.stripe_invoice_id},
    )
    assert synced is not None
    return synced


def sync_invoice_details(
    session: Session,
    details: GatewayInvoiceDetails,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    event_created: datetime | None = None,
    context: RequestContext | None = None,
) -> Invoice | None:
    """Sync the invoice row (:func:`sync_invoice`), then its discount, links and lines.

    The details are written only when this snapshot is the state the row now
    holds (a late, older event changes nothing); lines are replaced as a whole.
    """
    row = sync_invoice(
        session,
        details.invoice,
        clock=clock,
        gateway=gateway,
        event_created=event_created,
        context=context,
    )
    if row is None:
        return None
    created = None if event_created is None else ensure_utc(event_created)
    stale = created is not None and row.stripe_event_created_at not in (None, created)
    if stale or row.status is not INVOICE_STATUSES[details.invoice.status]:
        return row
    now = resolve_clock(clock).now()
    currency = details.invoice.currency
    row.discount = money(details.discount_minor, currency)
    row.hosted_invoice_url = details.hosted_invoice_url
    row.invoice_pdf = details.invoice_pdf
    session.execute(sa.delete(InvoiceLine).where(InvoiceLine.invoice_id == row.id))
    session.add_all(
        InvoiceLine(
            invoice_id=row.id,
            stripe_line_id=line.id,
            description=line.description,
            stripe_price_id=line.price_id,
            quantity=line.quantity,
            amount=money(line.amount_minor, line.currency),
            currency=line.currency,
            proration=line.proration,
            period_start=line.period_start,
            period_end=line.period_end,
            position=position,
            created_at=now,
        )
        for position, line in enumerate(details.lines)
    )
    session.flush()
    return row
