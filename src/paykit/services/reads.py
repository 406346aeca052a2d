"""Order read models: ``list_orders`` and ``get_order`` with customer/staff visibility.

A customer sees only their own orders; SUPPORT and ADMIN (``Action.READ_ANY_ORDER``)
see everyone's; ``internal_notes`` only reach roles with
``Action.READ_INTERNAL_NOTES``. Roles are checked as stored now, so a stale
``Actor`` grants nothing. Listings use keyset pagination on
``(created_at desc, id desc)``; cursors are opaque and bound to the filter.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import pydantic
import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.errors import PaykitError, PermissionDenied, ValidationError
from paykit.models import OrderStatus, User, UserRole, UserStatus
from paykit.security.policy import Action, Actor, allows
from paykit.services._order_page import (
    CHILD_ITEMS,
    CHILD_REFUNDS,
    page_statement,
    parse_items,
    parse_refunds,
)
from paykit.services._rows import found, listing_scope, owner_or_role_may

__all__ = [
    "MAX_PAGE_SIZE",
    "OrderItemOut",
    "OrderOut",
    "Page",
    "PaymentOut",
    "RefundOut",
    "get_order",
    "list_orders",
]

MAX_PAGE_SIZE = 100


#: Money leaves paykit as a string (``"12.50"``), never a float; the currency is
#: on the order (and on each refund).
def _money_text(value: Decimal) -> str:
    # A function, not `str`: pydantic before 2.7 cannot inspect a builtin's signature.
    return str(value)


Money = Annotated[
    Decimal, pydantic.PlainSerializer(_money_text, return_type=str, when_used="always")
]

T = TypeVar("T")


class _Out(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(frozen=True, from_attributes=True)


class OrderItemOut(_Out):
    """One line of an order."""

    id: str
    product_id: str
    price_id: str
    quantity: int
    unit_price: Money
    total_price: Money
    download_count: int
    access_expires_at: datetime | None


class RefundOut(_Out):
    """One refund of an order."""

    id: str
    amount: Money
    currency: str
    reason: str
    status: str
    created_at: datetime
    processed_at: datetime | None


class PaymentOut(_Out):
    """The order's payment state as paykit last recorded it."""

    status: str
    method: str | None
    payment_intent_id: str | None
    refunded_amount: Money


class OrderOut(_Out):
    """An order as its reader may see it (``internal_notes`` is None unless allowed)."""

    id: str
    order_number: str
    customer_id: str
    status: str
    currency: str
    subtotal: Money
    discount_amount: Money
    tax_amount: Money
    total_amount: Money
    payment: PaymentOut
    notes: str | None
    internal_notes: str | None
    created_at: datetime
    completed_at: datetime | None
    cancelled_at: datetime | None
    items: list[OrderItemOut]
    refunds: list[RefundOut]


M = TypeVar("M", bound=pydantic.BaseModel)
_set = object.__setattr__


def assemble(cls: type[M], values: dict[str, Any], *, in_order: bool = False) -> M:
    """``cls.model_construct(**values)`` for values that already have the fields' types.

    ``values`` must name every field of ``cls`` (a missing one is a
    ``KeyError``). What model_construct does, minus its per-field loop over
    aliases and defaults, which costs more than the rest of a listing page;
    ``tests/unit/test_read_models.py`` holds it equal to validation.
    """
    # In field order: a nested model's JSON follows its __dict__'s order
    # (``in_order``: the caller built ``values`` so, every field included).
    ordered = values if in_order else {name: values[name] for name in cls.model_fields}
    return assemble_all(cls, (ordered,))[0]


def assemble_all(cls: type[M], rows: Iterable[dict[str, Any]]) -> list[M]:
    """:func:`assemble` with ``in_order`` of each of ``rows``, in one loop (a page's worth)."""
    new, built = cls.__new__, []
    for values in rows:
        model = new(cls)
        _set(model, "__dict__", values)
        _set(model, "__pydantic_fields_set__", set(values))
        _set(model, "__pydantic_extra__", None)
        _set(model, "__pydantic_private__", None)
        built.append(model)
    return built


class Page(pydantic.BaseModel, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back (same filter) for the next page."""

    items: list[T]
    next_cursor: str | None = None


def active_actor(
    session: Session, actor: Actor, *, refusal: str, action: Action | None = None
) -> User:
    """The actor's stored user, if active and not deleted (``PermissionDenied``: ``refusal``)."""
    if not isinstance(actor, Actor):
        raise ValidationError("actor must be a paykit Actor", details={"field": "actor"})
    user = session.get(User, actor.user_id)
    if user is None or user.status is not UserStatus.ACTIVE or user.deleted_at is not None:
        details = {"actor_id": actor.user_id}
        if action is not None:
            details = {"action": action.value, **details}
        raise PermissionDenied(refusal, details=details)
    return user


def _reader(session: Session, actor: Actor) -> User:
    return active_actor(
        session,
        actor,
        refusal="reading orders needs an active, authenticated user",
        action=Action.READ_ANY_ORDER,
    )


@checked
def get_order(session: Session, *, actor: Actor, order_id: str) -> OrderOut:
    """One order with its items, refunds and payment state, as ``actor`` may see it.

    Another customer's order (or an unknown id) is ``NotFound``, so ids are not
    confirmed; an inactive or unknown actor is ``PermissionDenied``.
    """
    if not isinstance(actor, Actor) or not isinstance(order_id, str):
        _reader(session, actor)  # a non-Actor or an inactive reader is refused first
        raise ValidationError("order_id must be a string", details={"field": "order_id"})
    # One statement: the reader's stored role, the order and (PostgreSQL) its children.
    dialect = session.get_bind().dialect.name
    statement = page_statement(dialect, False, False, False, False, False, order=True)
    params = {"reader_id": actor.user_id, "order_id": order_id, "size": 1}
    rows = session.execute(statement, params).all()  # autoflushes, as an ORM read does
    if not rows:
        raise _refused_reader(actor.user_id)
    row = rows[0]
    role = UserRole(row[0])
    visible = row.id is not None and owner_or_role_may(
        actor.user_id, role, row.user_id, Action.READ_ANY_ORDER
    )
    found(row if visible else None, "order", order_id)
    if dialect == "postgresql":
        items = [assemble(OrderItemOut, f, in_order=True) for f in parse_items(row[-2])]
        refunds = [assemble(RefundOut, f, in_order=True) for f in parse_refunds(row[-1])]
    else:
        children = _children(session, [row.id])
        items, refunds = children[0].get(row.id, []), children[1].get(row.id, [])
    return _row_view(row, items, refunds, allows(role, Action.READ_INTERNAL_NOTES))


def _refused_reader(actor_id: str) -> PermissionDenied:
    return PermissionDenied(
        "reading orders needs an active, authenticated user",
        details={"action": Action.READ_ANY_ORDER.value, "actor_id": actor_id},
    )


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValidationError(
            f"{field} must be a timezone-aware datetime", details={"field": field}
        )
    return value


def check_page_limit(limit: int) -> int:
    """``limit`` when it is a page size paykit serves (1..100), else ``invalid_limit``."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(
            f"limit must be an integer from 1 to {MAX_PAGE_SIZE}",
            code="invalid_limit",
            details={"field": "limit"},
        )
    return limit


def _filter(
    reader_id: str,
    role: UserRole,
    customer_id: str | None,
    status: str | OrderStatus | None,
    created_from: datetime | None,
    created_to: datetime | None,
    limit: int,
) -> dict[str, Any]:
    """The listing's filter, checked, with the customer scope the reader is allowed."""
    check_page_limit(limit)
    if customer_id is not None and not isinstance(customer_id, str):
        raise ValidationError("customer_id must be a string", details={"field": "customer_id"})
    # A customer lists their own orders only; naming anyone else is refused.
    customer_id = listing_scope(reader_id, role, customer_id, Action.READ_ANY_ORDER, "orders")
    try:
        state = OrderStatus(status) if status is not None else None
    except ValueError:
        raise ValidationError(
            f"unknown order status {status!r}", code="invalid_status", details={"field": "status"}
        ) from None
    start, end = _aware(created_from, "created_from"), _aware(created_to, "created_to")
    if start is not None and end is not None and start > end:
        raise ValidationError(
            "created_from is after created_to",
            code="invalid_range",
            details={"field": "created_to"},
        )
    return {
        "reader": reader_id,
        "customer_id": customer_id,
        "status": state.value if state else None,
        "from": start.isoformat() if start else None,
        "to": end.isoformat() if end else None,
    }


def _fingerprint(flt: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(flt, sort_keys=True).encode()).hexdigest()[:32]


def pack_cursor(body: dict[str, Any]) -> str:
    """A cursor's text: its JSON ``body`` in URL-safe base64, without padding."""
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


def unpack_cursor(cursor: str) -> Any:
    """The JSON body of a :func:`pack_cursor` text; ``binascii.Error``, ``ValueError``
    or ``UnicodeDecodeError`` when it is not one."""
    return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))


def _encode_cursor(flt: dict[str, Any], created_at: datetime, order_id: str) -> str:
    return pack_cursor({"f": _fingerprint(flt), "t": created_at.isoformat(), "i": order_id})


def _bad_cursor() -> ValidationError:
    return ValidationError(
        "the cursor is invalid or belongs to another filter",
        code="invalid_cursor",
        details={"field": "cursor"},
    )


def _decode_cursor(cursor: str, flt: dict[str, Any]) -> tuple[datetime, str]:
    """The position a cursor names; refused unless it was made for this very filter."""
    if not isinstance(cursor, str) or len(cursor) > 512:
        raise _bad_cursor()
    try:
        body = unpack_cursor(cursor)
        fingerprint, when, order_id = body["f"], datetime.fromisoformat(body["t"]), body["i"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if fingerprint != _fingerprint(flt) or not isinstance(order_id, str) or when.tzinfo is None:
        raise _bad_cursor()
    return when, order_id


#: The keyset position helpers, shared by every listing: a cursor names a
#: ``(created_at, id)`` position and is bound to the listing's filter.
encode_position = _encode_cursor
decode_position = _decode_cursor


def newest_first(
    session: Session,
    query: sa.Select[Any],
    model: Any,
    *,
    scope: dict[str, Any],
    cursor: str | None,
    limit: int,
) -> tuple[list[Any], str | None]:
    """One keyset page of ``query``'s ``model`` rows, newest first (``created_at``, ``id``).

    The rows after ``cursor`` (made for the same ``scope``) and the next
    page's cursor, or ``None`` on the last page.
    """
    if cursor is not None:
        when, last_id = decode_position(cursor, scope)
        # A row-value comparison, so the (created_at, id) index seeks to the position.
        query = query.where(
            sa.tuple_(model.created_at, model.id)
            < sa.tuple_(sa.literal(when, model.created_at.type), sa.literal(last_id, sa.Text()))
        )
    ordered = query.order_by(model.created_at.desc(), model.id.desc()).limit(limit + 1)
    rows = list(session.scalars(ordered))
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = encode_position(scope, rows[-1].created_at, rows[-1].id) if more else None
    return rows, next_cursor


@checked
def list_orders(
    session: Session,
    *,
    actor: Actor,
    customer_id: str | None = None,
    status: str | OrderStatus | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    limit: int = 20,
    cursor: str | None = None,
) -> Page[OrderOut]:
    """Orders newest first (``created_at`` desc, then ``id`` desc), one page at a time.

    A customer sees only their own orders (``customer_id`` of anyone else is
    ``PermissionDenied``); SUPPORT and ADMIN see everyone's, optionally of one
    ``customer_id``. ``created_from`` is inclusive, ``created_to`` exclusive
    (timezone-aware). ``limit`` is 1..100 (``invalid_limit``). ``cursor`` is
    ``next_cursor`` of the previous page; one made for another filter or reader,
    or altered, is refused with ``invalid_cursor``. Keyset pagination: rows
    inserted between pages never make a row appear twice or be skipped.
    """
    if not isinstance(actor, Actor):
        _reader(session, actor)  # refuses a non-Actor
    args = (customer_id, status, created_from, created_to, limit)
    position: tuple[datetime, str] | None = None
    try:
        # The actor's claimed role shapes the statement; the statement checks it
        # against the stored user, and any difference goes the long way below.
        flt = _filter(actor.user_id, actor.role, *args)
        position = _decode_cursor(cursor, flt) if cursor is not None else None
    except PaykitError:
        flt = None
    if flt is not None:
        page = _one_statement_page(session, actor, flt, position, args)
        if page is not None:
            return page
    reader = _reader(session, actor)
    flt = _filter(reader.id, reader.role, *args)
    position = _decode_cursor(cursor, flt) if cursor is not None else None
    page = _one_statement_page(session, Actor(reader.id, reader.role), flt, position, args)
    if page is None:  # the reader changed between the two statements
        raise _refused_reader(actor.user_id)
    return page


def _one_statement_page(
    session: Session,
    actor: Actor,
    flt: dict[str, Any],
    position: tuple[datetime, str] | None,
    args: tuple[Any, ...],
) -> Page[OrderOut] | None:
    """The page as ``actor``'s stored role sees it; None unless that role is ``actor.role``."""
    _, _, created_from, created_to, limit = args
    dialect = session.get_bind().dialect.name
    statement = page_statement(
        dialect,
        flt["customer_id"] is not None,
        flt["status"] is not None,
        created_from is not None,
        created_to is not None,
        position is not None,
    )
    params: dict[str, Any] = {"reader_id": actor.user_id, "size": limit + 1}
    if flt["customer_id"] is not None:
        params["customer_id"] = flt["customer_id"]
    if flt["status"] is not None:
        params["status"] = OrderStatus(flt["status"])
    if created_from is not None:
        params["created_from"] = created_from
    if created_to is not None:
        params["created_to"] = created_to
    if position is not None:
        params["after_at"], params["after_id"] = position
    rows = session.connection().execute(statement, params).all()
    if not rows or rows[0][0] != actor.role.value:
        return None
    rows = [row for row in rows if row.id is not None]
    more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = _encode_cursor(flt, rows[-1].created_at, rows[-1].id) if more else None
    notes_ok = allows(actor.role, Action.READ_INTERNAL_NOTES)
    if dialect == "postgresql":
        views = [
            _row_view(
                row,
                [assemble(OrderItemOut, f, in_order=True) for f in parse_items(row[-2])],
                [assemble(RefundOut, f, in_order=True) for f in parse_refunds(row[-1])],
                notes_ok,
            )
            for row in rows
        ]
    else:
        items, refunds = _children(session, [row.id for row in rows])
        views = [
            _row_view(row, items.get(row.id, []), refunds.get(row.id, []), notes_ok) for row in rows
        ]
    return assemble(_ORDER_PAGE, {"items": views, "next_cursor": next_cursor})


# A listing reads rows, not ORM objects, and assembles the output models:
# every value comes typed from the database (the JSON children are converted
# back to Decimal and datetime), so validating them again would only repeat
# the column types at a cost per row.
_ORDER_PAGE = Page[OrderOut]


def _children(
    session: Session, ids: list[str]
) -> tuple[dict[str, list[OrderItemOut]], dict[str, list[RefundOut]]]:
    items: dict[str, list[OrderItemOut]] = {}
    refunds: dict[str, list[RefundOut]] = {}
    if not ids:
        return items, refunds
    connection = session.connection()
    for order_id, *values in connection.execute(CHILD_ITEMS, {"ids": ids}):
        items.setdefault(order_id, []).append(
            assemble(OrderItemOut, dict(zip(OrderItemOut.model_fields, values, strict=True)))
        )
    for order_id, *values in connection.execute(CHILD_REFUNDS, {"ids": ids}):
        refunds.setdefault(order_id, []).append(
            assemble(RefundOut, dict(zip(_REFUND_NAMES, values, strict=True)))
        )
    return items, refunds


_REFUND_NAMES = ("id", "amount", "currency", "reason", "status", "created_at", "processed_at")


def _row_view(
    row: Any, items: list[OrderItemOut], refunds: list[RefundOut], notes_ok: bool
) -> OrderOut:
    # One unpacking of the row (in ORDER_COLUMNS' order, after the reader's
    # role) instead of eighteen attribute lookups.
    (
        _,
        order_id,
        number,
        customer,
        status,
        currency,
        subtotal,
        discount,
        tax,
        total,
        payment_status,
        method,
        intent,
        refunded,
        notes,
        internal,
        created,
        completed,
        cancelled,
    ) = row[:19]
    payment = {
        "status": payment_status,
        "method": method,
        "payment_intent_id": intent,
        "refunded_amount": refunded,
    }
    return assemble(
        OrderOut,
        {
            "id": order_id,
            "order_number": number,
            "customer_id": customer,
            "status": status,
            "currency": currency,
            "subtotal": subtotal,
            "discount_amount": discount,
            "tax_amount": tax,
            "total_amount": total,
            "payment": assemble(PaymentOut, payment, in_order=True),
            "notes": notes,
            "internal_notes": internal if notes_ok else None,
            "created_at": created,
            "completed_at": completed,
            "cancelled_at": cancelled,
            "items": items,
            "refunds": refunds,
        },
        in_order=True,
    )
