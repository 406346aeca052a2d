"""Plan and seat changes with prorations: ``preview_subscription_change`` and
``change_subscription_prorated``; changes scheduled for the period's end and
``apply_scheduled_changes``, the job that carries them out.

The arithmetic is :mod:`paykit.pricing.proration`'s; this module reads the
stored subscription, picks the lines each proration behaviour puts where, and
keeps the prorations waiting for the next invoice (``pending_proration``).
Behaviours, as Stripe's ``proration_behavior``:

* ``create_prorations`` (default): credit and charge wait for the next invoice;
  nothing is due now.
* ``always_invoice``: the net is invoiced now (``amount_due_now``); a net credit
  is carried to the next invoice instead.
* ``none``: no prorations; the new price and seats bill from the next invoice.

A subscription still in its trial is never prorated (nothing was paid for the
trial). ``at_period_end=True`` changes nothing now and has no prorations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.errors import NotFound, ValidationError
from paykit.models import Price, Subscription, SubscriptionItem, SubscriptionStatus
from paykit.money import quantize
from paykit.pricing.proration import next_period_end, period_amount, prorate_change
from paykit.security.policy import Actor
from paykit.services.subscriptions._common import (
    invalid_argument,
    owned_subscription,
    recurring_price,
    require_open,
)

__all__ = [
    "InvoiceLine",
    "ProrationBehavior",
    "SubscriptionChangePreview",
    "floored",
    "period_line",
    "plan_change",
    "plan_request",
    "preview_subscription_change",
    "target_item",
]

ProrationBehavior = Literal["create_prorations", "always_invoice", "none"]
"""How a change in the middle of a period is billed (Stripe's ``proration_behavior``)."""

_BEHAVIORS = ("create_prorations", "always_invoice", "none")


@dataclass(frozen=True, slots=True, kw_only=True)
class InvoiceLine:
    """One line of an invoice preview; ``amount`` is negative for a credit.

    ``kind``: ``subscription`` (a full period), ``credit``/``charge`` (a
    proration of this change), ``pending_proration`` (earlier changes' net).
    """

    kind: str
    description: str
    amount: Decimal
    quantity: int | None
    unit_amount: Decimal | None
    period_start: datetime
    period_end: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SubscriptionChangePreview:
    """What a change would bill, computed without changing anything.

    ``lines_now``/``amount_due_now``: invoiced at once (``always_invoice``).
    ``next_invoice_lines``/``next_invoice_total``: the invoice at
    ``next_invoice_date`` (the current period's end), a net credit floored at
    zero there too (Stripe keeps the rest as customer balance; paykit reports it
    as ``credit_carried``).
    """

    subscription_id: str
    currency: str
    proration: str
    at_period_end: bool
    effective_at: datetime
    price_id: str
    quantity: int
    lines_now: tuple[InvoiceLine, ...]
    amount_due_now: Decimal
    next_invoice_date: datetime
    next_invoice_lines: tuple[InvoiceLine, ...]
    next_invoice_total: Decimal
    credit_carried: Decimal
    pending_proration_after: Decimal


def floored(total: Decimal, currency: str) -> tuple[Decimal, Decimal]:
    """An invoice's ``total`` floored at zero, and the credit carried to later invoices.

    A net credit is not paid out: the invoice is for zero and the rest is kept
    (Stripe's customer balance; paykit's ``credit_carried``).
    """
    zero = quantize(0, currency)
    return max(total, zero), -min(total, zero)


def _check_change(
    row: Subscription, price_id: str | None, quantity: int | None, proration: str
) -> None:
    if price_id is None and quantity is None:
        raise ValidationError("give price_id, quantity or both")
    if quantity is not None and quantity < 1:
        raise ValidationError("quantity must be 1 or more", details={"field": "quantity"})
    if proration not in _BEHAVIORS:
        raise invalid_argument(
            "proration", f"proration must be one of {', '.join(_BEHAVIORS)}", value=str(proration)
        )
    require_open(row, f"a {row.status.value} subscription cannot change")


def period_line(
    price: Price,
    quantity: int,
    unit_amount: Decimal,
    currency: str,
    start: datetime,
    end: datetime,
) -> InvoiceLine:
    """The ``subscription`` line of one item for a full period: ``quantity`` x ``unit_amount``."""
    return InvoiceLine(
        kind="subscription",
        description=f"{quantity} x {price.nickname or price.id}",
        amount=period_amount(unit_amount=unit_amount, quantity=quantity, currency=currency),
        quantity=quantity,
        unit_amount=unit_amount,
        period_start=start,
        period_end=end,
    )


def _period_line(price: Price, quantity: int, start: datetime) -> InvoiceLine:
    recurring = price.recurring or {}
    end = next_period_end(
        period_start=start,
        interval=str(recurring.get("interval") or "month"),
        interval_count=int(recurring.get("interval_count") or 1),
    )
    return period_line(price, quantity, price.unit_amount, price.currency, start, end)


def _proration_lines(
    row: Subscription,
    new_price: Price,
    new_quantity: int,
    now: datetime,
    current: tuple[Decimal, int] | None = None,
) -> list[InvoiceLine]:
    currency = row.currency
    old_unit, old_quantity = current or (row.unit_amount, row.quantity)
    change = prorate_change(
        currency=currency,
        period_start=row.current_period_start,
        period_end=row.current_period_end,
        at=now,
        old_unit_amount=old_unit,
        old_quantity=old_quantity,
        new_unit_amount=new_price.unit_amount,
        new_quantity=new_quantity,
    )
    return [
        InvoiceLine(
            kind=line.kind,
            description=f"{'Unused' if line.kind == 'credit' else 'Remaining'} time on "
            f"{line.quantity} x {line.unit_amount} {currency}",
            amount=line.amount,
            quantity=line.quantity,
            unit_amount=line.unit_amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line in change.lines
    ]


def plan_change(
    row: Subscription,
    new_price: Price,
    new_quantity: int,
    *,
    proration: str,
    at_period_end: bool,
    now: datetime,
    current: tuple[Decimal, int] | None = None,
) -> SubscriptionChangePreview:
    """The preview of one change of a stored subscription (shared by preview and change).

    ``current``: the unit amount and quantity of the item that changes, when it
    is not the subscription's first (the row's own); its next invoice lines are
    then that item's.
    """
    currency = row.currency
    if new_price.currency.upper() != currency.upper():
        raise ValidationError(
            "the new price's currency differs from the subscription's",
            code="subscription_currency_mismatch",
            details={"price_id": new_price.id, "currency": new_price.currency},
        )
    zero = quantize(0, currency)
    now = min(max(now, row.current_period_start), row.current_period_end)
    prorated: list[InvoiceLine] = []
    if not at_period_end and proration != "none" and row.status is not SubscriptionStatus.TRIALING:
        prorated = _proration_lines(row, new_price, new_quantity, now, current)
    net = sum((line.amount for line in prorated), zero)
    pending = row.pending_proration
    now_lines: tuple[InvoiceLine, ...] = ()
    due_now = zero
    if proration == "always_invoice" and net > 0:
        now_lines, due_now = tuple(prorated), net
    else:
        pending += net
    next_lines = [_period_line(new_price, new_quantity, row.current_period_end)]
    if pending:
        next_lines.append(
            InvoiceLine(
                kind="pending_proration",
                description="Prorations of changes in this period",
                amount=pending,
                quantity=None,
                unit_amount=None,
                period_start=row.current_period_start,
                period_end=row.current_period_end,
            )
        )
    next_total, carried = floored(sum((line.amount for line in next_lines), zero), currency)
    return SubscriptionChangePreview(
        subscription_id=row.id,
        currency=currency,
        proration=proration,
        at_period_end=at_period_end,
        effective_at=row.current_period_end if at_period_end else now,
        price_id=new_price.id,
        quantity=new_quantity,
        lines_now=now_lines,
        amount_due_now=due_now,
        next_invoice_date=row.current_period_end,
        next_invoice_lines=tuple(next_lines),
        next_invoice_total=next_total,
        credit_carried=carried,
        pending_proration_after=pending,
    )


@checked
def preview_subscription_change(
    session: Session,
    *,
    subscription_id: str,
    price_id: str | None = None,
    quantity: int | None = None,
    proration: ProrationBehavior = "create_prorations",
    at_period_end: bool = False,
    item: str | None = None,
    clock: Clock | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
) -> SubscriptionChangePreview:
    """What changing to ``price_id`` (a paykit ``Price`` id) and/or ``quantity`` would bill.

    Changes nothing and calls no gateway: the amounts come from the stored
    subscription and :mod:`paykit.pricing.proration` (rules in docs/subscriptions.md).
    ``item`` names the item, as for :func:`change_subscription` (its paykit
    price id or the gateway's item id); without it the subscription must have
    one (``subscription_item_ambiguous``). The preview is the plan
    ``change_subscription`` makes with the same arguments.
    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``.
    """
    now = resolve_clock(clock).now()
    row, _ = owned_subscription(session, subscription_id, actor, actor_id)
    _, _, _, plan = plan_request(
        session, row, item, price_id, quantity, proration, at_period_end, now
    )
    return plan


def plan_request(
    session: Session,
    row: Subscription,
    item: str | None,
    price_id: str | None,
    quantity: int | None,
    proration: str,
    at_period_end: bool,
    now: datetime,
) -> tuple[SubscriptionItem | None, Price, int, SubscriptionChangePreview]:
    """A requested change, checked and planned (shared by the preview and the change).

    A change that cannot be made is refused first. Then the item it names
    (:func:`target_item`), the new price and seats of that item, and what the
    change bills.
    """
    _check_change(row, price_id, quantity, proration)
    target = target_item(session, row, item, at_period_end)
    if target is None:
        old_price, old_seats, current = row.price, row.quantity, None
    else:
        old_price = session.get_one(Price, target.price_id)
        old_seats, current = target.quantity, (target.unit_amount, target.quantity)
    new_price = old_price if price_id is None else recurring_price(session, price_id)
    seats = old_seats if quantity is None else quantity
    plan = plan_change(
        row,
        new_price,
        seats,
        proration=proration,
        at_period_end=at_period_end,
        now=now,
        current=current,
    )
    return target, new_price, seats, plan


def target_item(
    session: Session, row: Subscription, item: str | None, at_period_end: bool
) -> SubscriptionItem | None:
    """The item a change or preview names (by paykit price id or gateway item id).

    ``None``: the subscription's first item, as the row itself holds it.
    Without a name, the subscription must have one item
    (``subscription_item_ambiguous``); a name it does not have is ``NotFound``;
    an item other than the first cannot change at the period's end
    (``invalid_argument``: the row keeps one pending change, of its first item).
    """
    items = session.scalars(
        sa.select(SubscriptionItem)
        .where(SubscriptionItem.subscription_id == row.id)
        .order_by(SubscriptionItem.created_at, SubscriptionItem.id)
    ).all()
    if item is None:
        if len(items) > 1:
            raise ValidationError(
                f"subscription {row.id} has {len(items)} items: name the one to change",
                code="subscription_item_ambiguous",
                details={"subscription_id": row.id, "items": [i.price_id for i in items]},
            )
        return None
    found = next((i for i in items if item in (i.price_id, i.stripe_subscription_item_id)), None)
    if found is None:
        raise NotFound(
            f"subscription {row.id} has no item {item}",
            details={"subscription_id": row.id, "item": item},
        )
    if found.price_id == row.price_id:
        return None if len(items) == 1 else found
    if at_period_end:
        raise invalid_argument(
            "at_period_end", "only the first item can change at the period's end", item=item
        )
    return found
