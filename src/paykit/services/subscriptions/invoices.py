"""``sync_invoice``: an Invoice row upserted from the gateway's invoice.

Ordering is as for subscriptions, except that two events of one second are
ordered by the invoice lifecycle (``INVOICE_RANK``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import Conflict, NotFound
from paykit.gateways.base import GatewayInvoice, PaymentGateway
from paykit.models import Invoice
from paykit.services.subscriptions.prices import money
from paykit.services.subscriptions.rows import SyncedTable, insert_synced, update_synced
from paykit.services.subscriptions.statements import (
    INSERT_INVOICE,
    INVOICE_AND_SUBSCRIPTION,
    INVOICE_BY_STRIPE_ID,
)
from paykit.services.subscriptions.statuses import INVOICE_RANK, INVOICE_STATUSES
from paykit.services.subscriptions.sync import sync_subscription

__all__ = ["sync_invoice"]

_INVOICE_FIELDS = (
    "subscription_id",
    "number",
    "status",
    "currency",
    "subtotal",
    "tax",
    "total",
    "amount_paid",
    "amount_due",
    "period_start",
    "period_end",
    "due_date",
    "paid_at",
)


INVOICE_SYNC = SyncedTable.of(Invoice, INSERT_INVOICE, _INVOICE_FIELDS, "stripe_invoice_id")

# Columns a new row starts with that the snapshot does not carry: what a
# customer sees on the invoice, written by paykit.services.billing afterwards.
_DETAIL_DEFAULTS: dict[str, Any] = {
    "discount": Decimal("0.00"),
    "hosted_invoice_url": None,
    "invoice_pdf": None,
}


def _read_invoice_input(
    invoice: GatewayInvoice | Mapping[str, Any] | Any,
) -> tuple[GatewayInvoice | None, datetime | None]:
    """The snapshot (``None``: no subscription's) and its event time, as above."""
    if isinstance(invoice, GatewayInvoice):
        return invoice, None
    from paykit.stripe.events import read_invoice  # Stripe-shaped input only

    return read_invoice(invoice)


def _invoice_values(invoice: GatewayInvoice, subscription_id: str) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "subscription_id": subscription_id,
        # A draft has no number yet; its gateway id (unique too) holds the place.
        "number": invoice.number or invoice.id,
        "status": INVOICE_STATUSES[invoice.status],
        "currency": currency,
        "subtotal": money(invoice.subtotal_minor, currency),
        "tax": money(invoice.tax_minor, currency),
        "total": money(invoice.total_minor, currency),
        "amount_paid": money(invoice.amount_paid_minor, currency),
        "amount_due": money(invoice.amount_due_minor, currency),
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "due_date": invoice.due_date,
        "paid_at": invoice.paid_at,
    }


def _invoice_subscription(
    session: Session,
    stripe_sub_id: str,
    stripe_id: str,
    *,
    clock: Clock | None,
    gateway: PaymentGateway | None,
) -> tuple[str, str, Invoice | None]:
    """The invoice's subscription (id, user id), synced from ``gateway`` if new, and the row."""
    found = session.execute(
        INVOICE_AND_SUBSCRIPTION,
        {"stripe_subscription_id": stripe_sub_id, "stripe_invoice_id": stripe_id},
    ).first()
    if found is not None:
        sub_id, sub_user_id, stored = found
        return sub_id, sub_user_id, stored
    if gateway is None:
        raise NotFound(
            f"subscription {stripe_sub_id} of invoice {stripe_id} is not in the database",
            code="unknown_subscription",
            details={"stripe_subscription_id": stripe_sub_id},
        )
    sub = sync_subscription(
        session, gateway.retrieve_subscription(stripe_sub_id), clock=clock, gateway=gateway
    )
    row = session.scalars(INVOICE_BY_STRIPE_ID, {"stripe_invoice_id": stripe_id}).one_or_none()
    return sub.id, sub.user_id, row


def _number_taken(number: str, stripe_id: str) -> Conflict:
    return Conflict(
        f"invoice number {number!r} of {stripe_id} is held by another gateway invoice",
        code="invoice_number_taken",
        details={"number": number, "stripe_invoice_id": stripe_id},
    )


def _refuse_a_taken_number(session: Session, number: str, stripe_id: str) -> None:
    """Refuse a number that another gateway invoice holds (the column is unique)."""
    holder = session.scalar(
        sa.select(Invoice.stripe_invoice_id).where(
            Invoice.number == number, Invoice.stripe_invoice_id != stripe_id
        )
    )
    if holder is not None:
        raise _number_taken(number, stripe_id)


@checked
def sync_invoice(
    session: Session,
    invoice: GatewayInvoice | Mapping[str, Any] | Any,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    event_created: datetime | None = None,
    context: RequestContext | None = None,
) -> Invoice | None:
    """Upsert the Invoice row (``stripe_invoice_id``) from the gateway's invoice.

    ``invoice`` is a :class:`GatewayInvoice`, or a Stripe invoice or
    ``invoice.*`` event payload (read by :mod:`paykit.stripe.events`).
    Returns ``None`` for an invoice that belongs to no subscription (paykit's
    ``invoices`` table holds subscription invoices only). The subscription is
    synced from ``gateway`` first if it is not in the database yet. A draft's
    ``number`` is its Stripe id until it is finalized. Ordering is as for
    :func:`sync_subscription`, except that two events of one second are
    ordered by the invoice lifecycle (draft, open, uncollectible, paid/void):
    Stripe commonly finalizes and pays an invoice within one second.
    """
    now = resolve_clock(clock).now()
    snapshot, created = _read_invoice_input(invoice)
    if snapshot is None or snapshot.subscription_id is None:
        return None
    stripe_id = snapshot.id
    # Read every value before the first write: a malformed invoice changes nothing.
    values = _invoice_values(snapshot, "")
    if event_created is not None:
        created = ensure_utc(event_created)
    sub_id, sub_user_id, row = _invoice_subscription(
        session, snapshot.subscription_id, stripe_id, clock=clock, gateway=gateway
    )
    values["subscription_id"] = sub_id
    _refuse_a_taken_number(session, values["number"], stripe_id)
    if row is None:
        inserted = insert_synced(
            session,
            INVOICE_SYNC,
            stripe_id,
            {**values, **_DETAIL_DEFAULTS},
            created=created,
            now=now,
            actor_id=sub_user_id,
            context=context,
        )
        if inserted is not None:
            return cast(Invoice, inserted)
        # A parallel delivery inserted it first: carry on as an update. No row
        # means the conflict was another invoice's number, inserted in parallel.
        row = session.scalars(INVOICE_BY_STRIPE_ID, {"stripe_invoice_id": stripe_id}).one_or_none()
        if row is None:
            raise _number_taken(values["number"], stripe_id)
    guard: dict[str, Any] | None = None
    if created is not None:
        stored = row.stripe_event_created_at
        rank = INVOICE_RANK[values["status"]]
        if stored is not None and created < stored:
            return row
        if stored is not None and created == stored and rank < INVOICE_RANK[row.status]:
            return row
        guard = {"guard_created": created, "guard_rank": rank}
    return update_synced(
        session,
        INVOICE_SYNC,
        row,
        values,
        created=created,
        guard=guard,
        now=now,
        actor_id=sub_user_id,
        context=context,
    )
