"""The one place services turn their state changes into notification events.

Every state change a customer hears about is already written to the audit log
(``record_audit``), so the events are read off that one call: no service knows
about notifications, let alone e-mail. Nothing runs unless a notifier is
attached to the session (``paykit.notifications.attach_notifier``); then one
small read resolves the recipient, and the event waits in the session's outbox
until the commit.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.models import Invoice, Order, Refund, Subscription, User
from paykit.notifications import events as ev
from paykit.notifications.outbox import attached, notify

__all__ = ["emit_for_audit"]

_FAILED_REFUND = frozenset({"FAILED", "CANCELED"})
_RENEWAL_FAILED = frozenset({"PAST_DUE", "UNPAID"})


def _word(value: Any) -> str:
    return str(getattr(value, "value", value))


def _one(session: Session, statement: sa.Select[Any]) -> dict[str, Any] | None:
    """The row ``statement`` finds, keyed by its columns' names (the event's fields), or None."""
    row = session.execute(statement).one_or_none()
    return None if row is None else dict(row._mapping)


def _order(session: Session, order_id: str) -> dict[str, Any] | None:
    return _one(
        session,
        sa.select(Order.id.label("order_id"), Order.order_number)
        .add_columns(Order.total_amount.label("amount"), Order.currency, Order.user_id, User.email)
        .outerjoin(User, User.id == Order.user_id)
        .where(Order.id == order_id),
    )


def _refund(session: Session, refund_id: str) -> dict[str, Any] | None:
    return _one(
        session,
        sa.select(Refund.id.label("refund_id"), Refund.amount, Refund.currency)
        .add_columns(Order.id.label("order_id"), Order.order_number, Order.user_id, User.email)
        .join(Order, Order.id == Refund.order_id)
        .outerjoin(User, User.id == Order.user_id)
        .where(Refund.id == refund_id),
    )


def _subscription(session: Session, subscription_id: str) -> dict[str, Any] | None:
    values = _one(
        session,
        sa.select(Subscription.id.label("subscription_id"), Subscription.user_id)
        .add_columns(Subscription.status, Subscription.trial_end, User.email)
        .outerjoin(User, User.id == Subscription.user_id)
        .where(Subscription.id == subscription_id),
    )
    if values is not None:
        values["status"] = _word(values["status"])
    return values


def _invoice(session: Session, invoice_id: str) -> dict[str, Any] | None:
    return _one(
        session,
        sa.select(Invoice.id.label("invoice_id"), Invoice.number.label("invoice_number"))
        .add_columns(Invoice.subscription_id, Invoice.amount_due, Invoice.currency)
        .add_columns(Subscription.user_id, User.email)
        .join(Subscription, Subscription.id == Invoice.subscription_id)
        .outerjoin(User, User.id == Subscription.user_id)
        .where(Invoice.id == invoice_id),
    )


def _subscription_event(action: str, new: Mapping[str, Any]) -> type[ev.Event] | None:
    if action == "subscription.created":
        return ev.SubscriptionCreated
    if action == "subscription.cancelled":
        return ev.SubscriptionCancelled
    if action == "subscription.trial_will_end":
        return ev.TrialEnding
    if action == "subscription.renewal_upcoming":
        return ev.RenewalUpcoming
    if action != "subscription.synced" or "status" not in new:
        return None
    if "stripe_subscription_id" in new:  # the row was inserted by this sync
        return ev.SubscriptionCreated
    status = _word(new["status"])
    if status in _RENEWAL_FAILED:
        return ev.SubscriptionRenewalFailed
    if status == "CANCELLED":
        return ev.SubscriptionCancelled
    return None


def _choose(resource: str, action: str, new: Mapping[str, Any]) -> type[ev.Event] | None:
    if resource == "orders":
        if action == "order.paid":
            return ev.OrderPaid
        if action in ("order.payment_declined", "order.payment_attempt_failed"):
            return ev.PaymentFailed
    elif resource == "refunds":
        if action == "refund.created":
            failed = _word(new.get("status")) in _FAILED_REFUND
            return ev.RefundFailed if failed else ev.RefundIssued
        if action in ("refund.failed", "refund.canceled"):
            return ev.RefundFailed
    elif resource == "subscriptions":
        return _subscription_event(action, new)
    elif resource == "invoices" and action == "invoice.payment_failed":
        return ev.InvoicePaymentFailed
    return None


_READERS: Mapping[str, Callable[[Session, str], dict[str, Any] | None]] = {
    "orders": _order,
    "refunds": _refund,
    "subscriptions": _subscription,
    "invoices": _invoice,
}


def emit_for_audit(
    session: Session,
    *,
    action: str,
    resource: str,
    resource_id: str | None,
    now: datetime,
    new: Mapping[str, Any] | None,
) -> None:
    """Queue the event an audited change means for its customer, if a notifier listens."""
    if resource_id is None or not attached(session):
        return
    kind = _choose(resource, action, new or {})
    if kind is None:
        return
    values = _READERS[resource](session, resource_id)
    if values is None:
        return
    if kind is ev.PaymentFailed:
        values["decline_code"] = (new or {}).get("decline_code")
    if kind is ev.RenewalUpcoming:
        values.update({k: (new or {}).get(k) for k in ("amount_due", "currency", "renews_at")})
    names = kind.__dataclass_fields__
    notify(session, kind(occurred_at=now, **{k: v for k, v in values.items() if k in names}))
