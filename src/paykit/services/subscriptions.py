"""Subscriptions and their invoices, mirrored from the gateway; the lifecycle hosts drive.

Two directions:

* **Gateway → database.** :func:`sync_subscription` and :func:`sync_invoice`
  upsert a row from a Stripe object or event payload. Events arrive duplicated
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

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from paykit.clock import Clock, ensure_utc, resolve_clock
from paykit.context import RequestContext
from paykit.errors import DiscountError, GatewayError, InvalidState, NotFound, ValidationError
from paykit.gateways.base import GatewaySubscription, PaymentGateway, subscription_from_stripe
from paykit.models import (
    Discount,
    DiscountUsage,
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
from paykit.money import from_minor_units
from paykit.services import _idempotency
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

SUBSCRIPTION_STATUSES: Mapping[str, SubscriptionStatus] = {
    "trialing": SubscriptionStatus.TRIALING,
    "active": SubscriptionStatus.ACTIVE,
    "past_due": SubscriptionStatus.PAST_DUE,
    # Stripe spells it with one L; the seed's enum with two.
    "canceled": SubscriptionStatus.CANCELLED,
    "unpaid": SubscriptionStatus.UNPAID,
    "incomplete": SubscriptionStatus.INCOMPLETE,
    "incomplete_expired": SubscriptionStatus.INCOMPLETE_EXPIRED,
    "paused": SubscriptionStatus.PAUSED,
}
"""Stripe's subscription statuses → paykit's; an unknown status is refused, never guessed."""

INVOICE_STATUSES: Mapping[str, InvoiceStatus] = {
    "draft": InvoiceStatus.DRAFT,
    "open": InvoiceStatus.OPEN,
    "paid": InvoiceStatus.PAID,
    "void": InvoiceStatus.VOID,
    "uncollectible": InvoiceStatus.UNCOLLECTIBLE,
}
"""Stripe's invoice statuses → paykit's."""

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


def _timestamp(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value), tz=UTC)


def _unwrap(obj: Any, expected: str) -> tuple[dict[str, Any], datetime | None]:
    """(the Stripe object, the event's created time or None) from any accepted input."""
    if isinstance(obj, GatewaySubscription):
        return dict(obj.raw), None
    if hasattr(obj, "to_dict"):  # a stripe.StripeObject
        obj = obj.to_dict()
    if not isinstance(obj, Mapping):
        raise ValidationError(f"expected a Stripe {expected} object or event payload")
    if obj.get("object") == "event":
        inner = (obj.get("data") or {}).get("object")
        if not isinstance(inner, Mapping) or inner.get("object") != expected:
            raise ValidationError(
                f"event {obj.get('id')} does not carry a {expected}",
                details={"event_id": obj.get("id"), "type": obj.get("type")},
            )
        return dict(inner), _timestamp(obj.get("created"))
    if obj.get("object") not in (expected, None):
        raise ValidationError(
            f"expected a Stripe {expected}, got {obj.get('object')!r}",
            details={"object": obj.get("object")},
        )
    return dict(obj), None


def _id_of(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return str(value["id"])
    return str(value)


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
    stripe_product_id = _id_of(obj.get("product"))
    if stripe_product_id is None:
        raise NotFound(f"price {stripe_price_id} has no product", code="unknown_product")
    slug = f"stripe-{stripe_product_id}"
    product = session.scalar(sa.select(Product).where(Product.slug == slug))
    product_obj = None if product is not None else gateway.retrieve_product(stripe_product_id)
    currency = str(obj["currency"]).upper()
    unit_amount = _money(obj.get("unit_amount"), currency)
    recurring = obj.get("recurring")
    try:
        # A parallel delivery may import the same price: the unique slug and
        # stripe_price_id decide, and the loser reads the winner's rows.
        with session.begin_nested():
            if product is None:
                assert product_obj is not None
                product = Product(
                    name=str(product_obj.get("name") or stripe_product_id),
                    description=str(product_obj.get("description") or ""),
                    slug=slug,
                    type=ProductType.SUBSCRIPTION if recurring else ProductType.ONE_TIME,
                    status=(
                        ProductStatus.PUBLISHED
                        if product_obj.get("active", True)
                        else ProductStatus.ARCHIVED
                    ),
                    base_price=unit_amount,
                    currency=currency,
                    billing_interval=(recurring or {}).get("interval"),
                    trial_days=int((recurring or {}).get("trial_period_days") or 0),
                    metadata_={"stripe_product_id": stripe_product_id},
                    created_at=now,
                    updated_at=now,
                )
                session.add(product)
                session.flush()
            price = Price(
                product_id=product.id,
                stripe_price_id=stripe_price_id,
                nickname=obj.get("nickname"),
                unit_amount=unit_amount,
                currency=currency,
                recurring=(
                    None
                    if not recurring
                    else {
                        "interval": recurring.get("interval"),
                        "interval_count": recurring.get("interval_count", 1),
                    }
                ),
                type=PriceType.RECURRING if recurring else PriceType.ONE_TIME,
                active=bool(obj.get("active", True)),
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


# --------------------------------------------------------------------- sync: subscriptions


def _subscription_values(
    session: Session,
    sub: GatewaySubscription,
    gateway: PaymentGateway | None,
    now: datetime,
    context: RequestContext | None,
) -> dict[str, Any]:
    status = SUBSCRIPTION_STATUSES.get(str(sub.status))
    if status is None:
        raise ValidationError(f"unknown subscription status {sub.status!r}")
    # One round trip for the common case (both known); the slow path explains what is missing.
    known = session.execute(
        sa.select(User.id, Price)
        .join(Price, Price.stripe_price_id == sub.price_id)
        .where(User.stripe_customer_id == sub.customer_id)
    ).first()
    if known is not None:
        user_id, price = known
    else:
        user_id = _user_by_customer(session, sub.customer_id).id
        price = _import_price(session, sub.price_id, gateway, now, context)
    currency = sub.currency or price.currency
    cancel_at = _timestamp(sub.raw.get("cancel_at"))
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
        "metadata_": dict(sub.raw.get("metadata") or {}),
    }


def _changes(row: Any, values: Mapping[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: values[name] for name in fields if getattr(row, name) != values[name]}


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

    ``subscription`` is a Stripe subscription object (a dict, a
    ``stripe.StripeObject``, a :class:`GatewaySubscription`) or a whole event
    payload (``customer.subscription.*``), whose ``created`` orders it; or pass
    ``event_created`` yourself. The user is found by ``stripe_customer_id``
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
    raw, created = _unwrap(subscription, "subscription")
    if event_created is not None:
        created = ensure_utc(event_created)
    sub = subscription if isinstance(subscription, GatewaySubscription) else None
    sub = sub or subscription_from_stripe(raw)
    row = session.scalar(
        sa.select(Subscription)
        .where(Subscription.stripe_subscription_id == sub.id)
        .execution_options(populate_existing=True)
    )
    stored = None if row is None else row.stripe_event_created_at
    if row is not None and created is not None and stored is not None:
        if created < stored:
            return row  # a late delivery of an older state
        if created == stored:
            values = _subscription_values(session, sub, gateway, now, context)
            if not _changes(row, values, _SYNCED_FIELDS):
                return row  # the same event again, or one that says the same
            if gateway is not None:
                # Two states stamped with one second: only the gateway knows which is last.
                sub = gateway.retrieve_subscription(sub.id)
    values = _subscription_values(session, sub, gateway, now, context)
    if row is None:
        inserted = _insert_subscription(session, sub.id, values, created, now)
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
        row = session.scalars(
            sa.select(Subscription)
            .where(Subscription.stripe_subscription_id == sub.id)
            .execution_options(populate_existing=True)
        ).one()
    changes = _changes(row, values, _SYNCED_FIELDS)
    statement = sa.update(Subscription).where(Subscription.id == row.id)
    new_stamp = row.stripe_event_created_at
    if created is not None:
        # The guard that holds under concurrency: a parallel, newer event that
        # committed first makes this UPDATE match nothing.
        statement = statement.where(
            sa.or_(
                Subscription.stripe_event_created_at.is_(None),
                Subscription.stripe_event_created_at <= created,
            )
        )
        new_stamp = created if new_stamp is None else max(new_stamp, created)
    if not changes and new_stamp == row.stripe_event_created_at:
        return row
    column_values = {
        ("metadata" if name == "metadata_" else name): value for name, value in changes.items()
    }
    won = affected(
        session,
        statement.values(**column_values, stripe_event_created_at=new_stamp, updated_at=now),
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
            old={name: getattr(row, name) for name in changes},
            new=changes,
            context=context,
        )
    session.flush()
    return row


def _committed(row: Any, values: Mapping[str, Any]) -> None:
    """Put what a won conditional UPDATE wrote onto the loaded row (saves a re-SELECT)."""
    for name, value in values.items():
        set_committed_value(row, name, value)


def _insert_subscription(
    session: Session,
    stripe_id: str,
    values: Mapping[str, Any],
    created: datetime | None,
    now: datetime,
) -> Subscription | None:
    row = Subscription(
        stripe_subscription_id=stripe_id,
        stripe_event_created_at=created,
        created_at=now,
        updated_at=now,
        **values,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


# --------------------------------------------------------------------- sync: invoices


def _invoice_subscription_id(raw: Mapping[str, Any]) -> str | None:
    # Before API 2025-03-31 the id was at the top; since then it is under parent.
    direct = _id_of(raw.get("subscription"))
    if direct:
        return direct
    parent = raw.get("parent") or {}
    details = parent.get("subscription_details") or {}
    return _id_of(details.get("subscription"))


def _invoice_period(raw: Mapping[str, Any]) -> tuple[datetime, datetime]:
    # The subscription line's period is the service period billed; the
    # invoice's own period_start/end is the window its items were added in.
    for line in (raw.get("lines") or {}).get("data") or []:
        period = line.get("period") or {}
        if period.get("start") is not None and period.get("end") is not None:
            start, end = _timestamp(period["start"]), _timestamp(period["end"])
            if start is not None and end is not None:
                return start, end
    start, end = _timestamp(raw.get("period_start")), _timestamp(raw.get("period_end"))
    if start is None or end is None:
        raise ValidationError(f"invoice {raw.get('id')} has no period")
    return start, end


def _invoice_values(raw: Mapping[str, Any], subscription_id: str) -> dict[str, Any]:
    status = INVOICE_STATUSES.get(str(raw.get("status")))
    if status is None:
        raise ValidationError(f"unknown invoice status {raw.get('status')!r}")
    currency = str(raw["currency"]).upper()
    tax = raw.get("tax")
    if tax is None:
        tax = sum(int(t.get("amount") or 0) for t in raw.get("total_taxes") or [])
    start, end = _invoice_period(raw)
    transitions = raw.get("status_transitions") or {}
    return {
        "subscription_id": subscription_id,
        # A draft has no number yet; its Stripe id (unique too) holds the place.
        "number": str(raw.get("number") or raw["id"]),
        "status": status,
        "currency": currency,
        "subtotal": _money(raw.get("subtotal"), currency),
        "tax": _money(tax, currency),
        "total": _money(raw.get("total"), currency),
        "amount_paid": _money(raw.get("amount_paid"), currency),
        "amount_due": _money(raw.get("amount_due"), currency),
        "period_start": start,
        "period_end": end,
        "due_date": _timestamp(raw.get("due_date")),
        "paid_at": _timestamp(transitions.get("paid_at")),
    }


def sync_invoice(
    session: Session,
    invoice: Mapping[str, Any] | Any,
    *,
    clock: Clock | None = None,
    gateway: PaymentGateway | None = None,
    event_created: datetime | None = None,
    context: RequestContext | None = None,
) -> Invoice | None:
    """Upsert the Invoice row (``stripe_invoice_id``) from a Stripe invoice or ``invoice.*`` event.

    Returns ``None`` for an invoice that belongs to no subscription (paykit's
    ``invoices`` table holds subscription invoices only). The subscription is
    synced from ``gateway`` first if it is not in the database yet. A draft's
    ``number`` is its Stripe id until it is finalized. Ordering is as for
    :func:`sync_subscription`, except that two events of one second are
    ordered by the invoice lifecycle (draft, open, uncollectible, paid/void):
    Stripe commonly finalizes and pays an invoice within one second.
    """
    now = resolve_clock(clock).now()
    raw, created = _unwrap(invoice, "invoice")
    if event_created is not None:
        created = ensure_utc(event_created)
    stripe_sub_id = _invoice_subscription_id(raw)
    if stripe_sub_id is None:
        return None
    sub = session.scalar(
        sa.select(Subscription).where(Subscription.stripe_subscription_id == stripe_sub_id)
    )
    if sub is None:
        if gateway is None:
            raise NotFound(
                f"subscription {stripe_sub_id} of invoice {raw.get('id')} is not in the database",
                code="unknown_subscription",
                details={"stripe_subscription_id": stripe_sub_id},
            )
        sub = sync_subscription(
            session, gateway.retrieve_subscription(stripe_sub_id), clock=clock, gateway=gateway
        )
    values = _invoice_values(raw, sub.id)
    stripe_id = str(raw["id"])
    row = session.scalar(
        sa.select(Invoice)
        .where(Invoice.stripe_invoice_id == stripe_id)
        .execution_options(populate_existing=True)
    )
    if row is None:
        inserted = Invoice(
            stripe_invoice_id=stripe_id,
            stripe_event_created_at=created,
            created_at=now,
            updated_at=now,
            **values,
        )
        try:
            with session.begin_nested():
                session.add(inserted)
                session.flush()
        except IntegrityError:
            row = session.scalars(
                sa.select(Invoice)
                .where(Invoice.stripe_invoice_id == stripe_id)
                .execution_options(populate_existing=True)
            ).one()
        else:
            record_audit(
                session,
                action="invoice.synced",
                resource="invoices",
                resource_id=inserted.id,
                now=now,
                actor_id=sub.user_id,
                new={"stripe_invoice_id": stripe_id, **values},
                context=context,
            )
            session.flush()
            return inserted
    stored = row.stripe_event_created_at
    statement = sa.update(Invoice).where(Invoice.id == row.id)
    new_stamp = stored
    if created is not None:
        if stored is not None and created < stored:
            return row
        if (
            stored is not None
            and created == stored
            and _INVOICE_RANK[values["status"]] < _INVOICE_RANK[row.status]
        ):
            return row
        ranks = sa.case(
            *((Invoice.status == status, rank) for status, rank in _INVOICE_RANK.items()),
            else_=0,
        )
        statement = statement.where(
            sa.or_(
                Invoice.stripe_event_created_at.is_(None),
                Invoice.stripe_event_created_at < created,
                sa.and_(
                    Invoice.stripe_event_created_at == created,
                    ranks <= _INVOICE_RANK[values["status"]],
                ),
            )
        )
        new_stamp = created if stored is None else max(stored, created)
    changes = _changes(row, values, _INVOICE_FIELDS)
    if not changes and new_stamp == stored:
        return row
    won = affected(
        session, statement.values(**changes, stripe_event_created_at=new_stamp, updated_at=now)
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
            actor_id=sub.user_id,
            old={name: getattr(row, name) for name in changes},
            new=changes,
            context=context,
        )
    session.flush()
    return row


# --------------------------------------------------------------------- lifecycle


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


def _discount_for_subscription(session: Session, code: str, now: datetime) -> Discount:
    discount = session.scalar(sa.select(Discount).where(Discount.code == code.strip()))
    if discount is None:
        raise DiscountError(f"discount code {code!r} does not exist", code="discount_not_found")
    if not discount.active:
        raise DiscountError(f"discount {code!r} is not active", code="discount_inactive")
    if discount.valid_from is not None and now < discount.valid_from:
        raise DiscountError(f"discount {code!r} is not valid yet", code="discount_not_yet_valid")
    if discount.valid_until is not None and now >= discount.valid_until:
        raise DiscountError(f"discount {code!r} has expired", code="discount_expired")
    if discount.max_uses is not None and discount.current_uses >= discount.max_uses:
        raise DiscountError(f"discount {code!r} has been used up", code="discount_exhausted")
    return discount


def _subscription(session: Session, subscription_id: str) -> Subscription:
    row = session.get(Subscription, subscription_id, populate_existing=True)
    if row is None:
        raise NotFound(
            f"subscription {subscription_id} not found",
            details={"subscription_id": subscription_id},
        )
    return row


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
        )
        if record is not None and record.resource_id is not None:
            return _subscription(session, record.resource_id)
    product = session.get(Product, price.product_id)
    assert product is not None
    trial = trial_days if trial_days is not None else (product.trial_days or None)
    discount = (
        None if discount_code is None else _discount_for_subscription(session, discount_code, now)
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
        used = affected(
            session,
            sa.update(Discount)
            .where(
                Discount.id == discount.id,
                Discount.active.is_(True),
                sa.or_(Discount.max_uses.is_(None), Discount.current_uses < Discount.max_uses),
            )
            .values(current_uses=Discount.current_uses + 1, updated_at=now),
        )
        if used != 1:
            # Lost the last use to a parallel caller after the gateway acted: undo it there.
            gateway.cancel_subscription(
                result.id, at_period_end=False, idempotency_key=f"{key}:undo"
            )
            raise DiscountError(
                f"discount {discount.code!r} has been used up", code="discount_exhausted"
            )
        session.add(
            DiscountUsage(
                discount_id=discount.id,
                user_id=user.id,
                order_id=None,
                amount_saved=Decimal("0.00"),
                created_at=now,
            )
        )
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
    context: RequestContext | None = None,
) -> Subscription:
    """Switch a subscription to another recurring price (a paykit ``Price`` id) and/or quantity.

    Proration follows the gateway's default (Stripe: prorate on the next invoice).
    """
    row = _subscription(session, subscription_id)
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


def cancel_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    at_period_end: bool = True,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Cancel at the end of the current period (default) or at once.

    Cancelling one that the gateway already has as canceled (a retry after a
    timeout, a cancellation in the dashboard) syncs it and returns it.
    """
    row = _subscription(session, subscription_id)
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


def resume_subscription(
    session: Session,
    *,
    subscription_id: str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    actor_id: str | None = None,
    context: RequestContext | None = None,
) -> Subscription:
    """Undo a pending end-of-period cancellation, or resume a paused subscription."""
    row = _subscription(session, subscription_id)
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
