"""Recording: every state of a subscription's MRR contribution, with its instant.

``sync_subscription`` (and so ``subscribe``, ``change_subscription``,
``cancel_subscription``, ``resume_subscription``, which sync what the gateway
returns) calls :func:`record_mrr_change` in the caller's transaction. The
instant is the gateway's event time, or the clock's time for a snapshot
without one. One row per subscription and instant:

* a state the subscription row takes replaces the row of its instant (the
  row and the history agree on which of two same-second events is last);
* a late delivery of an older event (which the subscription row skips) is
  still recorded at its own instant, unless that instant already has a row:
  the history is the same whatever order the webhooks arrived in, and a
  re-delivered event adds nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.analytics.definitions import COUNTING_STATUSES, subscription_monthly_amount
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.errors import ValidationError
from paykit.models import Price, Subscription, SubscriptionItem, SubscriptionMrrHistory
from paykit.models.base import new_id
from paykit.money import from_minor_units

__all__ = ["backfill_mrr_history", "item_amounts", "record_mrr_change"]

_TABLE = cast(sa.Table, SubscriptionMrrHistory.__table__)
_KEY = ["subscription_id", "effective_at"]
_UNREAD: Any = object()
_REPLACED = ("user_id", "currency", "status", "monthly_amount", "mrr", "created_at")


def _row(
    subscription_id: str,
    user_id: str,
    effective_at: datetime,
    currency: str,
    status: str | Enum,
    lines: Sequence[tuple[Decimal, int, Any]],
    now: datetime,
) -> dict[str, Any]:
    """One history row: the monthly amount of ``lines``, which is MRR while ``status`` counts."""
    status_value = status.value if isinstance(status, Enum) else str(status)
    amount = subscription_monthly_amount(lines)
    return {
        "id": new_id(),
        "subscription_id": subscription_id,
        "user_id": user_id,
        "effective_at": ensure_utc(effective_at),
        "currency": currency.upper(),
        "status": status_value,
        "monthly_amount": amount,
        "mrr": amount if status_value in COUNTING_STATUSES else Decimal("0.0000"),
        "created_at": now,
    }


def _insert(session: Session) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` into the history in the session's dialect (both have ``ON CONFLICT``)."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_TABLE)


def record_mrr_change(
    session: Session,
    *,
    subscription_id: str,
    user_id: str,
    price_id: str,
    status: str | Enum,
    currency: str,
    unit_amount: Decimal,
    quantity: int,
    effective_at: datetime,
    now: datetime,
    replace: bool = True,
    recurring: Any = _UNREAD,
    items: Sequence[Any] = (),
    stripe_price_id: str | None = None,
) -> None:
    """Record the subscription's MRR contribution in force from ``effective_at``.

    The monthly amount follows the price's interval (docs/analytics.md); it
    counts towards MRR while ``status`` is ACTIVE or PAST_DUE. With
    ``replace`` (a state the subscription row took), a row already at
    ``effective_at`` is overwritten; without it (a late, older event) it is
    kept. ``recurring`` is the price's ``recurring`` JSON when the caller has
    it (read from the price otherwise). ``items`` are the gateway snapshot's
    items (``GatewaySubscriptionItem``: ``price_id``, ``quantity``,
    ``unit_amount_minor``): with them, the monthly amount is the sum over all
    items (:func:`item_amounts`; ``stripe_price_id``, ``unit_amount`` and
    ``recurring`` describe the item of the subscription's own price); without
    them, the one item ``unit_amount * quantity``. Writes one row (``INSERT
    ... ON CONFLICT``), never commits.
    """
    if recurring is _UNREAD:
        recurring = session.execute(
            sa.select(Price.recurring).where(Price.id == price_id)
        ).scalar_one_or_none()
    lines: list[tuple[Decimal, int, Any]] = [(unit_amount, quantity, recurring)]
    if items and stripe_price_id is not None:
        own = {stripe_price_id: (unit_amount, recurring)}
        lines = item_amounts(session, items, currency=currency, known=own)
    values = _row(subscription_id, user_id, effective_at, currency, status, lines, now)
    statement = _insert(session).values(values)
    if replace:
        statement = statement.on_conflict_do_update(
            index_elements=_KEY,
            set_={name: statement.excluded[name] for name in _REPLACED},
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=_KEY)
    session.execute(statement)


def item_amounts(
    session: Session,
    items: Sequence[Any],
    *,
    currency: str,
    known: dict[str, tuple[Decimal, Any]],
) -> list[tuple[Decimal, int, Any]]:
    """Each item as ``(unit_amount, quantity, recurring)``, for the monthly amount.

    ``known`` maps gateway price ids to ``(unit_amount, recurring)`` the caller
    already has; the other items' prices are read in one query. An item's own
    ``unit_amount_minor`` (the gateway's amount) wins over its price's. An item
    of a price paykit does not know is left out, as ``subscription_items``
    leaves it out (docs/analytics.md).
    """
    prices = dict(known)
    missing = {item.price_id for item in items} - prices.keys()
    if missing:
        found = session.execute(
            sa.select(Price.stripe_price_id, Price.unit_amount, Price.recurring).where(
                Price.stripe_price_id.in_(sorted(missing))
            )
        )
        for stripe_id, price_amount, price_recurring in found:
            prices[stripe_id] = (price_amount, price_recurring)
    lines = []
    for item in items:
        price = prices.get(item.price_id)
        if price is None:
            continue
        unit = (
            price[0]
            if item.unit_amount_minor is None
            else from_minor_units(int(item.unit_amount_minor), currency)
        )
        lines.append((unit, int(item.quantity), price[1]))
    return lines


def _missing(after: str, limit: int) -> sa.Select[Any]:
    """The next ``limit`` subscriptions (by id, after ``after``) with no history row."""
    return (
        sa.select(
            Subscription.id,
            Subscription.user_id,
            Subscription.status,
            Subscription.currency,
            Subscription.unit_amount,
            Subscription.quantity,
            Price.recurring,
            sa.func.coalesce(Subscription.stripe_event_created_at, Subscription.updated_at),
        )
        .join(Price, Price.id == Subscription.price_id)
        .where(
            Subscription.id > after,
            ~sa.exists().where(SubscriptionMrrHistory.subscription_id == Subscription.id),
        )
        .order_by(Subscription.id)
        .limit(limit)
    )


def _items_of(session: Session, ids: list[str]) -> dict[str, list[tuple[Decimal, int, Any]]]:
    found = session.execute(
        sa.select(
            SubscriptionItem.subscription_id,
            SubscriptionItem.unit_amount,
            SubscriptionItem.quantity,
            Price.recurring,
        )
        .join(Price, Price.id == SubscriptionItem.price_id)
        .where(SubscriptionItem.subscription_id.in_(ids))
    )
    items: dict[str, list[tuple[Decimal, int, Any]]] = {}
    for subscription_id, unit_amount, quantity, recurring in found:
        items.setdefault(subscription_id, []).append((unit_amount, quantity, recurring))
    return items


@checked
def backfill_mrr_history(
    session: Session, *, clock: Clock | None = None, batch_size: int = 1000
) -> int:
    """Give each subscription without MRR history one row: its current state, as of its
    last known change; returns how many rows it wrote.

    For subscriptions synced before revision ``0011`` (docs/analytics.md, "History
    before 0011"). The instant is the gateway time of the newest event applied to
    the row (``stripe_event_created_at``), else its ``updated_at``; the monthly
    amount sums its ``subscription_items`` (each by its price's interval), or its
    own price times quantity without items. Idempotent: a subscription with any
    history row is left alone, and a row already at that instant is kept. Writes
    in the caller's transaction (``flush()``, never ``commit()``).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError(
            "batch_size must be a positive integer",
            code="invalid_argument",
            details={"parameter": "batch_size"},
        )
    now = resolve_clock(clock).now()
    statement = _insert(session).on_conflict_do_nothing(index_elements=_KEY).returning(_TABLE.c.id)
    written, after = 0, ""
    while True:
        batch = session.execute(_missing(after, batch_size)).all()
        if not batch:
            return written
        items = _items_of(session, [row[0] for row in batch])
        values = [
            _row(
                sub_id,
                user_id,
                at,
                currency,
                status,
                items.get(sub_id) or [(unit_amount, quantity, recurring)],
                now,
            )
            for sub_id, user_id, status, currency, unit_amount, quantity, recurring, at in batch
        ]
        written += len(session.execute(statement, values).all())
        session.flush()
        after = batch[-1][0]
