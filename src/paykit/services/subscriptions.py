"""Subscriptions and their invoices, mirrored from the gateway; the lifecycle hosts drive.

Two directions:

* **Gateway → database.** :func:`sync_subscription` and :func:`sync_invoice`
  upsert a row from a neutral gateway snapshot (``GatewaySubscription``,
  ``GatewayInvoice``); a Stripe object or event payload is read into one by
  :mod:`paykit.stripe.events`, loaded only then. Events arrive duplicated
  and out of order, so each row remembers the ``created`` time of the newest
  event applied to it (``stripe_event_created_at``): an older event is skipped,
  an event of the same second is settled by asking the gateway (subscriptions)
  or by the invoice lifecycle's order (invoices), and the write itself is a
  conditional UPDATE, so two parallel deliveries cannot put an older state
  over a newer one.
* **Host → gateway → database.** :func:`subscribe`, :func:`change_subscription`,
  :func:`cancel_subscription` and :func:`resume_subscription` call the gateway
  first (no row lock held) and then sync what it answered.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from paykit._arguments import checked
from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    DiscountError,
    GatewayError,
    InvalidState,
    NotFound,
    ValidationError,
)
from paykit.gateways.base import (
    GatewayInvoice,
    GatewayInvoiceStatus,
    GatewayPrice,
    GatewaySubscription,
    GatewaySubscriptionStatus,
    PaymentGateway,
)
from paykit.models import (
    Invoice,
    InvoiceStatus,
    Price,
    PriceType,
    Product,
    ProductStatus,
    ProductType,
    Subscription,
    SubscriptionStatus,
    User,
    UserStatus,
    new_id,
)
from paykit.models.types import UTCDateTime
from paykit.money import from_minor_units
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner
from paykit.services import _idempotency, discounts
from paykit.services._audit import record_audit
from paykit.services._sql import affected

__all__ = [
    "INVOICE_STATUSES",
    "SUBSCRIPTION_STATUSES",
    "cancel_subscription",
    "change_subscription",
    "ensure_gateway_customer",
    "resume_subscription",
    "subscribe",
    "sync_invoice",
    "sync_subscription",
]

SUBSCRIPTION_STATUSES: Mapping[GatewaySubscriptionStatus, SubscriptionStatus] = {
    GatewaySubscriptionStatus.TRIALING: SubscriptionStatus.TRIALING,
    GatewaySubscriptionStatus.ACTIVE: SubscriptionStatus.ACTIVE,
    GatewaySubscriptionStatus.PAST_DUE: SubscriptionStatus.PAST_DUE,
    # The gateway spells it with one L (as Stripe does); the seed's enum with two.
    GatewaySubscriptionStatus.CANCELED: SubscriptionStatus.CANCELLED,
    GatewaySubscriptionStatus.UNPAID: SubscriptionStatus.UNPAID,
    GatewaySubscriptionStatus.INCOMPLETE: SubscriptionStatus.INCOMPLETE,
    GatewaySubscriptionStatus.INCOMPLETE_EXPIRED: SubscriptionStatus.INCOMPLETE_EXPIRED,
    GatewaySubscriptionStatus.PAUSED: SubscriptionStatus.PAUSED,
}
"""Gateway subscription statuses → paykit's (the keys compare equal to Stripe's words)."""

INVOICE_STATUSES: Mapping[GatewayInvoiceStatus, InvoiceStatus] = {
    GatewayInvoiceStatus.DRAFT: InvoiceStatus.DRAFT,
    GatewayInvoiceStatus.OPEN: InvoiceStatus.OPEN,
    GatewayInvoiceStatus.PAID: InvoiceStatus.PAID,
    GatewayInvoiceStatus.VOID: InvoiceStatus.VOID,
    GatewayInvoiceStatus.UNCOLLECTIBLE: InvoiceStatus.UNCOLLECTIBLE,
}
"""Gateway invoice statuses → paykit's."""

# An invoice only moves forward: draft → open → (uncollectible →) paid or void.
# Two events of one second are ordered by this rank.
_INVOICE_RANK: Mapping[InvoiceStatus, int] = {
    InvoiceStatus.DRAFT: 0,
    InvoiceStatus.OPEN: 1,
    InvoiceStatus.UNCOLLECTIBLE: 2,
    InvoiceStatus.PAID: 3,
    InvoiceStatus.VOID: 3,
}
SCOPE_SUBSCRIBE = "subscribe"
_SYNCED_FIELDS = (
    "user_id",
    "product_id",
    "price_id",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "canceled_at",
    "trial_start",
    "trial_end",
    "currency",
    "unit_amount",
    "quantity",
    "metadata_",
)
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


# --------------------------------------------------------------------- reading input


def _read_subscription_input(
    subscription: GatewaySubscription | Mapping[str, Any] | Any,
) -> tuple[GatewaySubscription, datetime | None]:
    """The snapshot and its event time; anything but a snapshot is read as Stripe's."""
    if isinstance(subscription, GatewaySubscription):
        return subscription, None
    from paykit.stripe.events import read_subscription  # Stripe-shaped input only

    return read_subscription(subscription)


def _read_invoice_input(
    invoice: GatewayInvoice | Mapping[str, Any] | Any,
) -> tuple[GatewayInvoice | None, datetime | None]:
    """The snapshot (``None``: no subscription's) and its event time, as above."""
    if isinstance(invoice, GatewayInvoice):
        return invoice, None
    from paykit.stripe.events import read_invoice  # Stripe-shaped input only

    return read_invoice(invoice)


def _money(minor: Any, currency: str) -> Decimal:
    return from_minor_units(int(minor or 0), currency)


def _user_by_customer(session: Session, customer_id: str) -> User:
    user = session.scalar(sa.select(User).where(User.stripe_customer_id == customer_id))
    if user is None:
        # Usually a race: the host has not committed ensure_gateway_customer yet.
        # Failing lets the webhook be retried rather than dropping the subscription.
        raise NotFound(
            f"no user has stripe_customer_id {customer_id}",
            code="unknown_customer",
            details={"stripe_customer_id": customer_id},
        )
    return user


def _recurring_column(price: GatewayPrice) -> dict[str, Any] | None:
    if price.recurring is None:
        return None
    return {"interval": price.recurring.interval, "interval_count": price.recurring.interval_count}


def _import_price(
    session: Session,
    stripe_price_id: str,
    gateway: PaymentGateway | None,
    now: datetime,
    context: RequestContext | None,
) -> Price:
    """The Price row for a gateway price, created (with its product) from the gateway if new."""
    price = session.scalar(sa.select(Price).where(Price.stripe_price_id == stripe_price_id))
    if price is not None:
        return price
    if gateway is None:
        raise NotFound(
            f"price {stripe_price_id} is not in the database; pass gateway= to import it",
            code="unknown_price",
            details={"stripe_price_id": stripe_price_id},
        )
    obj = gateway.retrieve_price(stripe_price_id)
    stripe_product_id = obj.product_id
    if stripe_product_id is None:
        raise NotFound(f"price {stripe_price_id} has no product", code="unknown_product")
    slug = f"stripe-{stripe_product_id}"
    product = session.scalar(sa.select(Product).where(Product.slug == slug))
    product_obj = None if product is not None else gateway.retrieve_product(stripe_product_id)
    currency = obj.currency
    unit_amount = _money(obj.unit_amount_minor, currency)
    recurring = obj.recurring
    try:
        # A parallel delivery may import the same price: the unique slug and
        # stripe_price_id decide, and the loser reads the winner's rows.
        with session.begin_nested():
            if product is None:
                assert product_obj is not None
                product = Product(
                    name=product_obj.name or stripe_product_id,
                    description=product_obj.description or "",
                    slug=slug,
                    type=ProductType.SUBSCRIPTION if recurring else ProductType.ONE_TIME,
                    status=ProductStatus.PUBLISHED
                    if product_obj.active
                    else ProductStatus.ARCHIVED,
                    base_price=unit_amount,
                    currency=currency,
                    billing_interval=None if recurring is None else recurring.interval,
                    trial_days=0 if recurring is None else recurring.trial_period_days or 0,
                    metadata_={"stripe_product_id": stripe_product_id},
                    created_at=now,
                    updated_at=now,
                )
                session.add(product)
                session.flush()
            price = Price(
                product_id=product.id,
                stripe_price_id=stripe_price_id,
                nickname=obj.nickname,
                unit_amount=unit_amount,
                currency=currency,
                recurring=_recurring_column(obj),
                type=PriceType.RECURRING if recurring else PriceType.ONE_TIME,
                active=obj.active,
                created_at=now,
                updated_at=now,
            )
            session.add(price)
            session.flush()
    except IntegrityError:
        price = session.scalar(sa.select(Price).where(Price.stripe_price_id == stripe_price_id))
        if price is None:
            raise
        return price
    record_audit(
        session,
        action="price.imported",
        resource="prices",
        resource_id=price.id,
        now=now,
        new={"stripe_price_id": stripe_price_id, "product_id": price.product_id},
        context=context,
    )
    return price


# --------------------------------------------------------------------- statements
#
# Webhook deliveries are mostly subscription and invoice events, so these
# statements are built once, not per call: construction and cache-key work
# would otherwise cost more than the round trip. Reads and writes go through
# ``session.connection()`` (Core) except where an ORM row is returned.

_Row = TypeVar("_Row")
_SUBSCRIPTIONS = cast(sa.Table, Subscription.__table__)
_INVOICES = cast(sa.Table, Invoice.__table__)


def _attribute_columns(model: type[Any]) -> dict[str, str]:
    """ORM attribute name → column name (``metadata_`` → ``metadata``)."""
    mapper = sa.inspect(model)
    return {
        mapper.get_property_by_column(column).key: column.name
        for column in mapper.local_table.columns
    }


_SUBSCRIPTION_COLUMNS = _attribute_columns(Subscription)
_INVOICE_COLUMNS = _attribute_columns(Invoice)


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


_INSERT_SUBSCRIPTION = {
    "postgresql": _insert_new(postgresql.insert, _SUBSCRIPTIONS),
    "sqlite": _insert_new(sqlite.insert, _SUBSCRIPTIONS),
}
_INSERT_INVOICE = {
    "postgresql": _insert_new(postgresql.insert, _INVOICES),
    "sqlite": _insert_new(sqlite.insert, _INVOICES),
}

# The stored subscription and what the new state refers to (its user, its price)
# in one round trip. No row at all means the customer is unknown; the slow path
# then reads them one by one and explains what is missing.
_SUBSCRIPTION_AND_REFERENCES = (
    sa.select(
        Subscription,
        User.id.label("ref_user_id"),
        Price.id.label("ref_price_id"),
        Price.product_id.label("ref_product_id"),
        Price.unit_amount.label("ref_unit_amount"),
        Price.currency.label("ref_currency"),
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
_SUBSCRIPTION_BY_STRIPE_ID = (
    sa.select(Subscription)
    .where(Subscription.stripe_subscription_id == sa.bindparam("stripe_subscription_id"))
    .execution_options(populate_existing=True)
)
# The invoice's subscription (its id and user) and the stored invoice, if any.
_INVOICE_AND_SUBSCRIPTION = (
    sa.select(Subscription.id, Subscription.user_id, Invoice)
    .select_from(Subscription)
    .outerjoin(Invoice, Invoice.stripe_invoice_id == sa.bindparam("stripe_invoice_id"))
    .where(Subscription.stripe_subscription_id == sa.bindparam("stripe_subscription_id"))
    .limit(1)
    .execution_options(populate_existing=True)
)
_INVOICE_BY_STRIPE_ID = (
    sa.select(Invoice)
    .where(Invoice.stripe_invoice_id == sa.bindparam("stripe_invoice_id"))
    .execution_options(populate_existing=True)
)

_CREATED: sa.BindParameter[datetime] = sa.bindparam("guard_created", type_=UTCDateTime())
# Rank of the stored invoice status, for two events of one second (_INVOICE_RANK).
_STORED_INVOICE_RANK = sa.case(
    *((_INVOICES.c.status == status, rank) for status, rank in _INVOICE_RANK.items()),
    else_=0,
)
_GUARDS = {
    # The guards that hold under concurrency: a parallel, newer event that
    # committed first makes the UPDATE match nothing.
    _SUBSCRIPTIONS: sa.or_(
        _SUBSCRIPTIONS.c.stripe_event_created_at.is_(None),
        _SUBSCRIPTIONS.c.stripe_event_created_at <= _CREATED,
    ),
    _INVOICES: sa.or_(
        _INVOICES.c.stripe_event_created_at.is_(None),
        _INVOICES.c.stripe_event_created_at < _CREATED,
        sa.and_(
            _INVOICES.c.stripe_event_created_at == _CREATED,
            sa.bindparam("guard_rank", type_=sa.Integer()) >= _STORED_INVOICE_RANK,
        ),
    ),
}


@functools.lru_cache(maxsize=256)
def _update_statement(table: sa.Table, columns: tuple[str, ...], guarded: bool) -> Any:
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


def _conditional_update(
    session: Session,
    table: sa.Table,
    attribute_columns: Mapping[str, str],
    row_id: str,
    changes: Mapping[str, Any],
    stamp: datetime | None,
    now: datetime,
    guard: Mapping[str, Any] | None,
) -> bool:
    """Write ``changes`` (ORM attribute names), the stamp and ``updated_at`` to one row.

    True if the row matched (``guard``, when given, is the ordering condition's
    parameters), False if a newer state was there first.
    """
    columns = tuple(attribute_columns[name] for name in changes)
    parameters = {f"set_{attribute_columns[name]}": value for name, value in changes.items()}
    parameters.update(set_stripe_event_created_at=stamp, set_updated_at=now, row_id=row_id)
    if guard is not None:
        parameters.update(guard)
    statement = _update_statement(table, columns, guard is not None)
    result = session.connection().execute(statement, parameters)
    return bool(cast(sa.CursorResult[Any], result).rowcount)


def _insert_or_nothing(
    session: Session,
    model: type[_Row],
    statements: Mapping[str, Any],
    attribute_columns: Mapping[str, str],
    values: Mapping[str, Any],
) -> _Row | None:
    """INSERT a row unless a unique value is taken; the new row as a loaded ORM object.

    One round trip (``INSERT ... ON CONFLICT DO NOTHING RETURNING``) instead of
    a SAVEPOINT, the INSERT and its release. ``values`` must name every
    column; ``None`` means a parallel writer got there first.
    """
    if session.new or session.dirty or session.deleted:
        session.flush()  # rows this one refers to (an imported price) must exist first
    connection = session.connection()
    statement = statements["postgresql" if connection.dialect.name == "postgresql" else "sqlite"]
    parameters = {attribute_columns[name]: value for name, value in values.items()}
    if connection.execute(statement, parameters).scalar_one_or_none() is None:
        return None
    row = model(**values)
    # Attached as if loaded: the session holds exactly what was written.
    make_transient_to_detached(row)
    session.add(row)
    return row


# --------------------------------------------------------------------- sync: subscriptions


@dataclass(frozen=True, slots=True)
class _PriceRef:
    """The columns of a Price that a subscription's values need."""

    id: str
    product_id: str
    unit_amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class _References:
    """The user and price of a customer and gateway price, as read with the row."""

    stripe_customer_id: str
    stripe_price_id: str
    user_id: str
    price: _PriceRef | None


def _subscription_values(
    session: Session,
    sub: GatewaySubscription,
    gateway: PaymentGateway | None,
    now: datetime,
    context: RequestContext | None,
    references: _References | None = None,
) -> dict[str, Any]:
    status = SUBSCRIPTION_STATUSES.get(sub.status)
    if status is None:
        raise ValidationError(f"unknown subscription status {sub.status!r}")
    price: _PriceRef | None = None
    if references is not None and references.stripe_customer_id == sub.customer_id:
        user_id = references.user_id
        if references.stripe_price_id == sub.price_id:
            price = references.price
    else:
        # One round trip for the common case (both known); the slow path explains what is missing.
        known = session.execute(
            sa.select(User.id, Price.id, Price.product_id, Price.unit_amount, Price.currency)
            .join(Price, Price.stripe_price_id == sub.price_id)
            .where(User.stripe_customer_id == sub.customer_id)
        ).first()
        if known is not None:
            user_id = known[0]
            price = _PriceRef(*known[1:])
        else:
            user_id = _user_by_customer(session, sub.customer_id).id
    if price is None:
        imported = _import_price(session, sub.price_id, gateway, now, context)
        price = _PriceRef(imported.id, imported.product_id, imported.unit_amount, imported.currency)
    currency = sub.currency or price.currency
    cancel_at = sub.cancel_at
    # Newer Stripe versions may express "cancel at period end" as cancel_at equal to
    # the period end; both mean the same thing to a host.
    pending_cancel = sub.cancel_at_period_end or (
        cancel_at is not None
        and cancel_at == sub.current_period_end
        and status is not SubscriptionStatus.CANCELLED
    )
    return {
        "user_id": user_id,
        "product_id": price.product_id,
        "price_id": price.id,
        "status": status,
        "current_period_start": sub.current_period_start,
        "current_period_end": sub.current_period_end,
        "cancel_at_period_end": pending_cancel,
        "canceled_at": sub.canceled_at,
        "trial_start": sub.trial_start,
        "trial_end": sub.trial_end,
        "currency": currency.upper(),
        "unit_amount": (
            price.unit_amount
            if sub.unit_amount_minor is None
            else from_minor_units(int(sub.unit_amount_minor), currency)
        ),
        "quantity": sub.quantity,
        "metadata_": dict(sub.metadata),
    }


def _changes(row: Any, values: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in fields if getattr(row, name) != values[name]}


def _read_subscription(
    session: Session, sub: GatewaySubscription
) -> tuple[Subscription | None, _References | None]:
    found = session.execute(
        _SUBSCRIPTION_AND_REFERENCES,
        {
            "stripe_customer_id": sub.customer_id,
            "stripe_price_id": sub.price_id,
            "stripe_subscription_id": sub.id,
        },
    ).first()
    if found is None:
        # No such customer: read the row alone; the values explain the customer.
        row = session.scalars(
            _SUBSCRIPTION_BY_STRIPE_ID, {"stripe_subscription_id": sub.id}
        ).one_or_none()
        return row, None
    row, user_id, price_id, product_id, unit_amount, currency = found
    price = None if price_id is None else _PriceRef(price_id, product_id, unit_amount, currency)
    return row, _References(sub.customer_id, sub.price_id, user_id, price)


@checked
def sync_subscription(
    session: Session,
    subscription: GatewaySubscription | Mapping[str, Any] | Any,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    event_created: datetime | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Upsert the Subscription row (by ``stripe_subscription_id``) from the gateway's state.

    ``subscription`` is a :class:`GatewaySubscription` (what every gateway
    returns), or a Stripe subscription object (a dict, a ``stripe.StripeObject``)
    or a whole event payload (``customer.subscription.*``), whose ``created``
    orders it (read by :mod:`paykit.stripe.events`); or pass ``event_created``
    yourself. The user is found by ``stripe_customer_id``
    (``NotFound`` code ``unknown_customer`` otherwise); a price not yet in the
    database is fetched through ``gateway`` and created with its product
    (``NotFound`` code ``unknown_price`` without a gateway).

    Ordering: an event older than the newest one applied changes nothing; one
    of the same second is settled by fetching the subscription from
    ``gateway`` (or, without one, applied as it is); an object without an
    event time is taken as current. Applying the same event again changes
    nothing. Every change writes an AuditLog row.
    """
    now = resolve_clock(clock).now()
    sub, created = _read_subscription_input(subscription)
    if event_created is not None:
        created = ensure_utc(event_created)
    row, references = _read_subscription(session, sub)
    stored = None if row is None else row.stripe_event_created_at
    values: dict[str, Any] | None = None
    if row is not None and created is not None and stored is not None:
        if created < stored:
            return row  # a late delivery of an older state
        if created == stored:
            values = _subscription_values(session, sub, gateway, now, context, references)
            if not _changes(row, values, _SYNCED_FIELDS):
                return row  # the same event again, or one that says the same
            if gateway is not None:
                # Two states stamped with one second: only the gateway knows which is last.
                sub = gateway.retrieve_subscription(sub.id)
                values = None
    if values is None:
        values = _subscription_values(session, sub, gateway, now, context, references)
    if row is None:
        inserted = _insert_or_nothing(
            session,
            Subscription,
            _INSERT_SUBSCRIPTION,
            _SUBSCRIPTION_COLUMNS,
            {
                "id": new_id(),
                "stripe_subscription_id": sub.id,
                **values,
                "stripe_event_created_at": created,
                "created_at": now,
                "updated_at": now,
            },
        )
        if inserted is not None:
            record_audit(
                session,
                action="subscription.synced",
                resource="subscriptions",
                resource_id=inserted.id,
                now=now,
                actor_id=inserted.user_id,
                new={"stripe_subscription_id": sub.id, **values},
                context=context,
            )
            session.flush()
            return inserted
        # A parallel delivery inserted it first: carry on as an update.
        row = session.scalars(_SUBSCRIPTION_BY_STRIPE_ID, {"stripe_subscription_id": sub.id}).one()
    changes = _changes(row, values, _SYNCED_FIELDS)
    new_stamp = row.stripe_event_created_at
    if created is not None:
        new_stamp = created if new_stamp is None else max(new_stamp, created)
    if not changes and new_stamp == row.stripe_event_created_at:
        return row
    old = {name: getattr(row, name) for name in changes}
    guard = None if created is None else {"guard_created": created}
    won = _conditional_update(
        session, _SUBSCRIPTIONS, _SUBSCRIPTION_COLUMNS, row.id, changes, new_stamp, now, guard
    )
    if won:
        _committed(row, {**changes, "stripe_event_created_at": new_stamp, "updated_at": now})
    else:
        session.refresh(row)
    if won and changes:
        record_audit(
            session,
            action="subscription.synced",
            resource="subscriptions",
            resource_id=row.id,
            now=now,
            actor_id=row.user_id,
            old=old,
            new=changes,
            context=context,
        )
    session.flush()
    return row


def _committed(row: Any, values: Mapping[str, Any]) -> None:
    """Put what a won conditional UPDATE wrote onto the loaded row (saves a re-SELECT)."""
    for name, value in values.items():
        set_committed_value(row, name, value)


# --------------------------------------------------------------------- sync: invoices


def _invoice_values(invoice: GatewayInvoice, subscription_id: str) -> dict[str, Any]:
    currency = invoice.currency
    return {
        "subscription_id": subscription_id,
        # A draft has no number yet; its gateway id (unique too) holds the place.
        "number": invoice.number or invoice.id,
        "status": INVOICE_STATUSES[invoice.status],
        "currency": currency,
        "subtotal": _money(invoice.subtotal_minor, currency),
        "tax": _money(invoice.tax_minor, currency),
        "total": _money(invoice.total_minor, currency),
        "amount_paid": _money(invoice.amount_paid_minor, currency),
        "amount_due": _money(invoice.amount_due_minor, currency),
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "due_date": invoice.due_date,
        "paid_at": invoice.paid_at,
    }


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
    stripe_sub_id = snapshot.subscription_id
    stripe_id = snapshot.id
    # Read every value before the first write: a malformed invoice changes nothing.
    values = _invoice_values(snapshot, "")
    if event_created is not None:
        created = ensure_utc(event_created)
    found = session.execute(
        _INVOICE_AND_SUBSCRIPTION,
        {"stripe_subscription_id": stripe_sub_id, "stripe_invoice_id": stripe_id},
    ).first()
    row: Invoice | None
    if found is not None:
        sub_id, sub_user_id, row = found
    else:
        if gateway is None:
            raise NotFound(
                f"subscription {stripe_sub_id} of invoice {stripe_id} is not in the database",
                code="unknown_subscription",
                details={"stripe_subscription_id": stripe_sub_id},
            )
        sub = sync_subscription(
            session, gateway.retrieve_subscription(stripe_sub_id), clock=clock, gateway=gateway
        )
        sub_id, sub_user_id = sub.id, sub.user_id
        row = session.scalars(_INVOICE_BY_STRIPE_ID, {"stripe_invoice_id": stripe_id}).one_or_none()
    values["subscription_id"] = sub_id
    if row is None:
        inserted = _insert_or_nothing(
            session,
            Invoice,
            _INSERT_INVOICE,
            _INVOICE_COLUMNS,
            {
                "id": new_id(),
                "stripe_invoice_id": stripe_id,
                **values,
                "stripe_event_created_at": created,
                "created_at": now,
                "updated_at": now,
            },
        )
        if inserted is not None:
            record_audit(
                session,
                action="invoice.synced",
                resource="invoices",
                resource_id=inserted.id,
                now=now,
                actor_id=sub_user_id,
                new={"stripe_invoice_id": stripe_id, **values},
                context=context,
            )
            session.flush()
            return inserted
        # A parallel delivery inserted it first: carry on as an update.
        row = session.scalars(_INVOICE_BY_STRIPE_ID, {"stripe_invoice_id": stripe_id}).one()
    stored = row.stripe_event_created_at
    new_stamp = stored
    guard: dict[str, Any] | None = None
    if created is not None:
        if stored is not None and created < stored:
            return row
        if (
            stored is not None
            and created == stored
            and _INVOICE_RANK[values["status"]] < _INVOICE_RANK[row.status]
        ):
            return row
        guard = {"guard_created": created, "guard_rank": _INVOICE_RANK[values["status"]]}
        new_stamp = created if stored is None else max(stored, created)
    changes = _changes(row, values, _INVOICE_FIELDS)
    if not changes and new_stamp == stored:
        return row
    old = {name: getattr(row, name) for name in changes}
    won = _conditional_update(
        session, _INVOICES, _INVOICE_COLUMNS, row.id, changes, new_stamp, now, guard
    )
    if won:
        _committed(row, {**changes, "stripe_event_created_at": new_stamp, "updated_at": now})
    else:
        session.refresh(row)
    if won and changes:
        record_audit(
            session,
            action="invoice.synced",
            resource="invoices",
            resource_id=row.id,
            now=now,
            actor_id=sub_user_id,
            old=old,
            new=changes,
            context=context,
        )
    session.flush()
    return row


# --------------------------------------------------------------------- lifecycle


@checked
def ensure_gateway_customer(
    session: Session,
    user: User,
    gateway: PaymentGateway,
    *,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> str:
    """The user's gateway customer id, creating the customer (and storing it) if needed.

    The gateway key is derived from the user id, so parallel or retried calls
    create one customer; the id is stored with a conditional UPDATE, so the
    first writer wins and everyone returns its id.
    """
    if user.stripe_customer_id:
        return user.stripe_customer_id
    now = resolve_clock(clock).now()
    customer = gateway.create_customer(
        email=user.email,
        name=user.name,
        metadata={"paykit_user_id": user.id},
        idempotency_key=f"paykit:customer:{user.id}",
    )
    stored = affected(
        session,
        sa.update(User)
        .where(User.id == user.id, User.stripe_customer_id.is_(None))
        .values(stripe_customer_id=customer.id, updated_at=now),
    )
    session.refresh(user)
    if stored:
        record_audit(
            session,
            action="user.gateway_customer_created",
            resource="users",
            resource_id=user.id,
            now=now,
            actor_id=user.id,
            new={"stripe_customer_id": customer.id},
            context=context,
        )
        session.flush()
    assert user.stripe_customer_id is not None
    return user.stripe_customer_id


def _active_user(session: Session, user_id: str) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found", details={"user_id": user_id})
    if user.status is not UserStatus.ACTIVE or user.deleted_at is not None:
        raise InvalidState(
            f"user {user_id} is not active",
            code="customer_not_active",
            details={"user_id": user_id},
        )
    return user


def _recurring_price(session: Session, price_id: str) -> Price:
    price = session.get(Price, price_id)
    if price is None:
        raise NotFound(f"price {price_id} not found", details={"price_id": price_id})
    if not price.active or price.type is not PriceType.RECURRING:
        raise ValidationError(
            f"price {price_id} is not an active recurring price",
            code="price_not_recurring",
            details={"price_id": price_id},
        )
    return price


def _subscription(session: Session, subscription_id: str) -> Subscription:
    row = session.get(Subscription, subscription_id, populate_existing=True)
    if row is None:
        raise NotFound(
            f"subscription {subscription_id} not found",
            details={"subscription_id": subscription_id},
        )
    return row


def _owned_subscription(
    session: Session, subscription_id: str, actor: Actor | None, actor_id: str | None
) -> tuple[Subscription, str | None]:
    """The subscription, if the actor may manage it (docs/security.md), and the acting id."""
    acting = acting_user_id(actor, actor_id)
    row = _subscription(session, subscription_id)
    authorize_owner(
        session,
        acting,
        owner_id=row.user_id,
        action=Action.MANAGE_ANY_SUBSCRIPTION,
        missing=NotFound(
            f"subscription {subscription_id} not found",
            details={"subscription_id": subscription_id},
        ),
    )
    return row, acting


@checked
def subscribe(
    session: Session,
    *,
    user_id: str,
    price_id: str,
    gateway: PaymentGateway,
    quantity: int = 1,
    trial_days: int | None = None,
    discount_code: str | None = None,
    payment_method_id: str | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Subscribe a user to a recurring price (a paykit ``Price`` id) and store the result.

    ``trial_days`` defaults to the product's ``trial_days`` (0 means none).
    ``discount_code`` names a paykit Discount; the gateway receives the coupon
    whose id is that code (create it at Stripe with ``id=<code>``), and a use
    is counted (``DiscountError`` when used up). A declined first charge gives an
    INCOMPLETE subscription, not an error. The same ``idempotency_key`` gives
    the same subscription and one gateway subscription.
    """
    now = resolve_clock(clock).now()
    user = _active_user(session, user_id)
    price = _recurring_price(session, price_id)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise ValidationError("quantity must be a positive integer", details={"field": "quantity"})
    if idempotency_key is not None:
        record = _idempotency.claim(
            session,
            scope=SCOPE_SUBSCRIBE,
            key=idempotency_key,
            fingerprint=_idempotency.request_hash(
                {
                    "user_id": user_id,
                    "price_id": price_id,
                    "quantity": quantity,
                    "trial_days": trial_days,
                    "discount_code": discount_code,
                    "payment_method_id": payment_method_id,
                }
            ),
            now=now,
            user_id=user.id,
        )
        if record is not None and record.resource_id is not None:
            return _subscription(session, record.resource_id)
    product = session.get(Product, price.product_id)
    assert product is not None
    trial = trial_days if trial_days is not None else (product.trial_days or None)
    # Every rule of the code, as place_order checks it (services/discounts.py):
    # the amount is the first period's, the product the plan's.
    discount = (
        None
        if discount_code is None
        else discounts.check_discount(
            session,
            code=discount_code,
            customer_id=user.id,
            product_ids=[price.product_id],
            amount=price.unit_amount * quantity,
            currency=price.currency,
            now=now,
        )
    )
    customer_id = ensure_gateway_customer(session, user, gateway, clock=clock, context=context)
    # The Stripe coupon carries the discount's code as its id (docs/stripe.md).
    coupon = None if discount is None else discount.code
    key = f"paykit:subscribe:{idempotency_key or new_id()}"
    result = gateway.create_subscription(
        customer_id=customer_id,
        price_id=price.stripe_price_id,
        quantity=quantity,
        trial_days=trial or None,
        coupon=coupon,
        payment_method_id=payment_method_id,
        idempotency_key=key,
    )
    row = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    if discount is not None:
        try:
            # The guards that decide, as for an order: the customer's limits under
            # the customer row lock, then the use itself.
            discounts.check_customer_limits(session, discount, customer_id=user.id, order_id=None)
            discounts.take_use(
                session,
                discount,
                customer_id=user.id,
                order_id=None,
                amount_saved=Decimal("0.00"),
                now=now,
            )
        except DiscountError:
            # Lost to a parallel caller after the gateway acted: undo it there.
            gateway.cancel_subscription(
                result.id, at_period_end=False, idempotency_key=f"{key}:undo"
            )
            raise
    record_audit(
        session,
        action="subscription.created",
        resource="subscriptions",
        resource_id=row.id,
        now=now,
        actor_id=user.id,
        new={
            "price_id": price.id,
            "quantity": quantity,
            "trial_days": trial,
            "discount_code": discount.code if discount else None,
            "status": row.status.value,
        },
        context=context,
    )
    if idempotency_key is not None:
        _idempotency.record(session, scope=SCOPE_SUBSCRIBE, key=idempotency_key, resource_id=row.id)
    session.flush()
    return row


def _gateway_key(action: str, row: Subscription, idempotency_key: str | None) -> str:
    return f"paykit:{action}:{row.id}:{idempotency_key or new_id()}"


def _after_change(
    session: Session,
    row: Subscription,
    result: GatewaySubscription,
    *,
    action: str,
    actor_id: str | None,
    details: Mapping[str, Any],
    clock: Clock | None,
    gateway: PaymentGateway,
    context: RequestContext | None,
) -> Subscription:
    now = resolve_clock(clock).now()
    synced = sync_subscription(session, result, clock=clock, gateway=gateway, context=context)
    record_audit(
        session,
        action=action,
        resource="subscriptions",
        resource_id=row.id,
        now=now,
        actor_id=actor_id or row.user_id,
        new={**details, "status": synced.status.value},
        context=context,
    )
    session.flush()
    return synced


@checked
def change_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    price_id: str | None = None,
    quantity: int | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Switch a subscription to another recurring price (a paykit ``Price`` id) and/or quantity.

    Proration follows the gateway's default (Stripe: prorate on the next invoice).

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = _owned_subscription(session, subscription_id, actor, actor_id)
    if price_id is None and quantity is None:
        raise ValidationError("give price_id, quantity or both")
    new_price = None if price_id is None else _recurring_price(session, price_id)
    result = gateway.update_subscription(
        row.stripe_subscription_id,
        price_id=None if new_price is None else new_price.stripe_price_id,
        quantity=quantity,
        idempotency_key=_gateway_key("subscription-change", row, idempotency_key),
    )
    return _after_change(
        session,
        row,
        result,
        action="subscription.changed",
        actor_id=actor_id,
        details={"price_id": price_id, "quantity": quantity},
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def cancel_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    at_period_end: bool = True,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Cancel at the end of the current period (default) or at once.

    Cancelling one that the gateway already has as canceled (a retry after a
    timeout, a cancellation in the dashboard) syncs it and returns it.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = _owned_subscription(session, subscription_id, actor, actor_id)
    try:
        result = gateway.cancel_subscription(
            row.stripe_subscription_id,
            at_period_end=at_period_end,
            idempotency_key=_gateway_key("subscription-cancel", row, idempotency_key),
        )
    except GatewayError as exc:
        if exc.code != "subscription_unexpected_state":
            raise
        result = gateway.retrieve_subscription(row.stripe_subscription_id)
        if str(result.status) != "canceled":
            raise
    return _after_change(
        session,
        row,
        result,
        action="subscription.cancelled" if not at_period_end else "subscription.cancel_scheduled",
        actor_id=actor_id,
        details={"at_period_end": at_period_end},
        clock=clock,
        gateway=gateway,
        context=context,
    )


@checked
def resume_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Undo a pending end-of-period cancellation, or resume a paused subscription.

    ``actor`` (or ``actor_id``) must own the subscription or hold
    ``subscription.manage_any``; without one the host acts on its own authority
    (docs/security.md).
    """
    row, actor_id = _owned_subscription(session, subscription_id, actor, actor_id)
    result = gateway.resume_subscription(
        row.stripe_subscription_id,
        idempotency_key=_gateway_key("subscription-resume", row, idempotency_key),
    )
    return _after_change(
        session,
        row,
        result,
        action="subscription.resumed",
        actor_id=actor_id,
        details={},
        clock=clock,
        gateway=gateway,
        context=context,
    )
