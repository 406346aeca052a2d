"""The prebuilt statements of the sync paths: reads, the conflict-free INSERTs, the guarded UPDATE.

Webhook deliveries are mostly subscription and invoice events, so these
statements are built once, not per call: construction and cache-key work
would otherwise cost more than the round trip. Reads and writes go through
``session.connection()`` (Core) except where an ORM row is returned.
"""

from __future__ import annotations

import functools
from datetime import datetime
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import QueryableAttribute

from paykit.models import Invoice, Price, Subscription, User
from paykit.models.types import UTCDateTime
from paykit.services.subscriptions.statuses import INVOICE_RANK

_M = TypeVar("_M")

SUBSCRIPTIONS = cast(sa.Table, Subscription.__table__)
INVOICES = cast(sa.Table, Invoice.__table__)


def attribute_columns(model: type[Any]) -> dict[str, str]:
    """ORM attribute name → column name (``metadata_`` → ``metadata``)."""
    mapper = sa.inspect(model)
    return {
        mapper.get_property_by_column(column).key: column.name
        for column in mapper.local_table.columns
    }


def _insert_new(insert: Any, table: sa.Table) -> Any:
    # ON CONFLICT DO NOTHING without a target: a parallel delivery that inserted
    # the same row first (or any other unique clash, such as an invoice number)
    # makes this a no-op that returns nothing, instead of an error that would
    # need a SAVEPOINT to survive.
    return (
        insert(table)
        .values({column.name: sa.bindparam(column.name) for column in table.columns})
        .on_conflict_do_nothing()
        .returning(table.c.id)
    )


INSERT_SUBSCRIPTION = {
    "postgresql": _insert_new(postgresql.insert, SUBSCRIPTIONS),
    "sqlite": _insert_new(sqlite.insert, SUBSCRIPTIONS),
}
INSERT_INVOICE = {
    "postgresql": _insert_new(postgresql.insert, INVOICES),
    "sqlite": _insert_new(sqlite.insert, INVOICES),
}


# The stored subscription and what the new state refers to (its user, its price)
# in one round trip. No row at all means the customer is unknown; the slow path
# then reads them one by one and explains what is missing.
def _by_stripe_id(model: type[_M], column: QueryableAttribute[Any]) -> sa.Select[_M]:
    """``model``'s row whose ``column`` is the bound parameter of the same name, re-read."""
    return (
        sa.select(model)
        .where(column == sa.bindparam(column.key))
        .execution_options(populate_existing=True)
    )


SUBSCRIPTION_AND_REFERENCES = (
    sa.select(
        Subscription,
        User.id.label("ref_user_id"),
        Price.id.label("ref_price_id"),
        Price.product_id.label("ref_product_id"),
        Price.unit_amount.label("ref_unit_amount"),
        Price.currency.label("ref_currency"),
        Price.recurring.label("ref_recurring"),
    )
    .select_from(User)
    .outerjoin(Price, Price.stripe_price_id == sa.bindparam("stripe_price_id"))
    .outerjoin(
        Subscription,
        Subscription.stripe_subscription_id == sa.bindparam("stripe_subscription_id"),
    )
    .where(User.stripe_customer_id == sa.bindparam("stripe_customer_id"))
    .limit(1)
    .execution_options(populate_existing=True)
)
SUBSCRIPTION_BY_STRIPE_ID = _by_stripe_id(Subscription, Subscription.stripe_subscription_id)
# The invoice's subscription (its id and user) and the stored invoice, if any.
INVOICE_AND_SUBSCRIPTION = (
    sa.select(Subscription.id, Subscription.user_id, Invoice)
    .select_from(Subscription)
    .outerjoin(Invoice, Invoice.stripe_invoice_id == sa.bindparam("stripe_invoice_id"))
    .where(Subscription.stripe_subscription_id == sa.bindparam("stripe_subscription_id"))
    .limit(1)
    .execution_options(populate_existing=True)
)
INVOICE_BY_STRIPE_ID = _by_stripe_id(Invoice, Invoice.stripe_invoice_id)

_CREATED: sa.BindParameter[datetime] = sa.bindparam("guard_created", type_=UTCDateTime())
# Rank of the stored invoice status, for two events of one second (INVOICE_RANK).
_STORED_INVOICE_RANK = sa.case(
    *((INVOICES.c.status == status, rank) for status, rank in INVOICE_RANK.items()),
    else_=0,
)
_GUARDS = {
    # The guards that hold under concurrency: a parallel, newer event that
    # committed first makes the UPDATE match nothing.
    SUBSCRIPTIONS: sa.or_(
        SUBSCRIPTIONS.c.stripe_event_created_at.is_(None),
        SUBSCRIPTIONS.c.stripe_event_created_at <= _CREATED,
    ),
    INVOICES: sa.or_(
        INVOICES.c.stripe_event_created_at.is_(None),
        INVOICES.c.stripe_event_created_at < _CREATED,
        sa.and_(
            INVOICES.c.stripe_event_created_at == _CREATED,
            sa.bindparam("guard_rank", type_=sa.Integer()) >= _STORED_INVOICE_RANK,
        ),
    ),
}


@functools.lru_cache(maxsize=256)
def update_statement(table: sa.Table, columns: tuple[str, ...], guarded: bool) -> Any:
    """UPDATE ``columns`` (plus the stamp and ``updated_at``) of one row, by id.

    Only the changed columns are written, as before; the few combinations that
    occur are built once each.
    """
    written = (*columns, "stripe_event_created_at", "updated_at")
    statement = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values({table.c[name]: sa.bindparam(f"set_{name}") for name in written})
    )
    if guarded:
        statement = statement.where(_GUARDS[table])
    return statement
