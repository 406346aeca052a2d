"""``subscription_items``: each price times a quantity of a subscription, kept from its snapshot.

Written after every sync of a subscription: an item whose price paykit knows
is inserted or updated (unique on ``subscription_id, price_id``; a parallel
delivery that inserted it first makes the INSERT a no-op), and items the
gateway no longer lists are deleted. An item of a price paykit does not know
yet is skipped (the subscription's own price is imported by the sync itself).
"""

from __future__ import annotations

from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit.gateways.base import GatewaySubscription
from paykit.models import Price, Subscription, SubscriptionItem, new_id
from paykit.money import from_minor_units

__all__ = ["items_differ", "sync_items"]

_ITEMS = cast(sa.Table, SubscriptionItem.__table__)


def _wanted(session: Session, row: Subscription, sub: GatewaySubscription) -> dict[str, Any]:
    items = sub.items or ()
    found = session.execute(
        sa.select(Price.stripe_price_id, Price).where(
            Price.stripe_price_id.in_([item.price_id for item in items])
        )
    )
    prices: dict[str, Price] = {}
    for stripe_id, known in found:
        prices[stripe_id] = known
    wanted: dict[str, Any] = {}
    for item in items:
        price = prices.get(item.price_id)
        if price is None:
            continue
        wanted[price.id] = {
            "stripe_subscription_item_id": item.id,
            "quantity": item.quantity,
            "unit_amount": (
                price.unit_amount
                if item.unit_amount_minor is None
                else from_minor_units(int(item.unit_amount_minor), row.currency)
            ),
            "currency": row.currency,
        }
    return wanted


def sync_items(session: Session, row: Subscription, sub: GatewaySubscription) -> None:
    """Make ``row``'s items those of the gateway snapshot ``sub``."""
    wanted = _wanted(session, row, sub)
    connection = session.connection()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    now = row.updated_at
    # Stale items first: a price swap keeps Stripe's item id, which is unique here too.
    connection.execute(
        sa.delete(_ITEMS).where(
            _ITEMS.c.subscription_id == row.id, _ITEMS.c.price_id.not_in(list(wanted) or [""])
        )
    )
    for price_id, values in wanted.items():
        connection.execute(
            insert(_ITEMS)
            .values(
                id=new_id(),
                subscription_id=row.id,
                price_id=price_id,
                created_at=now,
                updated_at=now,
                **values,
            )
            .on_conflict_do_update(
                index_elements=[_ITEMS.c.subscription_id, _ITEMS.c.price_id],
                set_={**values, "updated_at": now},
            )
        )


def items_differ(session: Session, row: Subscription, sub: GatewaySubscription) -> bool:
    """Whether the snapshot's items (gateway id, quantity) differ from the stored ones."""
    stored = session.execute(
        sa.select(_ITEMS.c.stripe_subscription_item_id, _ITEMS.c.quantity).where(
            _ITEMS.c.subscription_id == row.id
        )
    ).all()
    given = {
        (values["stripe_subscription_item_id"], values["quantity"])
        for values in _wanted(session, row, sub).values()
    }
    return {(item_id, quantity) for item_id, quantity in stored} != given
