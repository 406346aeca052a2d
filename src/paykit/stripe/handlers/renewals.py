"""The ``invoice.upcoming`` webhook: a subscription renews soon.

Stripe sends it some days before a subscription's renewal invoice is created
(the days are the account's "Upcoming renewal events" setting). Its invoice has
no id yet and is never stored. A subscription paykit has not seen yet is synced
from the gateway first, as the other invoice events do. paykit records a
``subscription.renewal_upcoming`` audit row on the subscription, which the
notifications read as a :class:`paykit.notifications.RenewalUpcoming` event
(sent after the commit).

One notice per renewal: a second ``invoice.upcoming`` for the same subscription
and renewal date (a replay under another event id, a resend from the dashboard)
is ``ignored``; the inbox already drops a redelivery of the same event id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.errors import NotFound
from paykit.models import AuditLog, Subscription, WebhookEventStatus
from paykit.money import from_minor_units, normalize_currency
from paykit.services.subscriptions import sync_subscription
from paykit.stripe.billing import invoice_subscription_id
from paykit.stripe.events import event_object
from paykit.stripe.handlers.context import HandlerContext
from paykit.stripe.objects import timestamp

__all__ = ["RENEWAL_UPCOMING", "invoice_upcoming"]

RENEWAL_UPCOMING = "subscription.renewal_upcoming"
"""The audit action of an upcoming renewal (what the notification is read off)."""


def _renews_at(raw: Mapping[str, Any], row: Subscription) -> datetime:
    """When the renewal is charged: the invoice's next attempt, else the period's end."""
    attempt = raw.get("next_payment_attempt")
    at = timestamp(attempt) if isinstance(attempt, int) and not isinstance(attempt, bool) else None
    return at or row.current_period_end


def _subscription(session: Session, stripe_id: str, ctx: HandlerContext) -> Subscription | None:
    """The paykit subscription, synced from the gateway if paykit has not seen it yet
    (as the other invoice events do); ``None`` if the gateway does not know it."""
    row = session.scalar(
        sa.select(Subscription).where(Subscription.stripe_subscription_id == stripe_id)
    )
    if row is not None:
        return row
    try:
        sub = ctx.gateway.retrieve_subscription(stripe_id)
    except NotFound:
        return None
    return sync_subscription(
        session, sub, clock=ctx.clock, gateway=ctx.gateway, context=ctx.request
    )


def _announced(session: Session, row: Subscription, renews_at: datetime) -> bool:
    """Whether this renewal was announced already."""
    earlier = session.scalars(
        sa.select(AuditLog.new_values).where(
            AuditLog.resource == "subscriptions",
            AuditLog.resource_id == row.id,
            AuditLog.action == RENEWAL_UPCOMING,
        )
    )
    wanted = renews_at.isoformat()
    return any(isinstance(v, Mapping) and v.get("renews_at") == wanted for v in earlier)


def invoice_upcoming(
    session: Session, event: Mapping[str, Any], ctx: HandlerContext
) -> WebhookEventStatus:
    """Record the upcoming renewal of a paykit subscription; ``ignored`` for anything else."""
    raw = event_object(event)
    stripe_id = invoice_subscription_id(raw)
    row = None if stripe_id is None else _subscription(session, stripe_id, ctx)
    if row is None:
        return WebhookEventStatus.IGNORED  # a one-off invoice, or not a subscription of ours
    currency = normalize_currency(str(raw.get("currency") or row.currency))
    amount_due = from_minor_units(int(raw.get("amount_due") or 0), currency)
    renews_at = _renews_at(raw, row)
    if _announced(session, row, renews_at):
        return WebhookEventStatus.IGNORED
    ctx.audit(
        session,
        RENEWAL_UPCOMING,
        "subscriptions",
        row.id,
        actor_id=row.user_id,
        new={"amount_due": amount_due, "currency": currency, "renews_at": renews_at},
    )
    return WebhookEventStatus.PROCESSED
