"""Refunds: money back to a customer, never more than was paid."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    GatewayError,
    InvalidAmount,
    InvalidState,
    NotFound,
    PermissionDenied,
    RefundError,
    RefundExceedsPaid,
)
from paykit.gateways.base import GatewayRefund, GatewayRefundStatus, PaymentGateway
from paykit.models import (
    Order,
    OrderStatus,
    PaymentStatus,
    Refund,
    RefundReason,
    RefundStatus,
    User,
    UserStatus,
    new_id,
)
from paykit.models.orders import PAID_PAYMENT
from paykit.money import as_money, from_minor_units, to_minor_units
from paykit.pricing import refundable_amount
from paykit.security.policy import POLICY, Action, Actor, acting_user_id, allows
from paykit.services import _idempotency
from paykit.services._audit import record_audit
from paykit.services._choices import member
from paykit.services._rows import load
from paykit.services._sql import affected

__all__ = ["REFUND_ROLES", "issue_refund", "record_gateway_refund", "sync_refund"]

#: Roles allowed to refund: the ``refund.issue`` row of ``paykit.security.POLICY``.
REFUND_ROLES = POLICY[Action.ISSUE_REFUND]
SCOPE_REFUND = "issue_refund"

_STRIPE_REASONS = {
    RefundReason.REQUESTED_BY_CUSTOMER: "requested_by_customer",
    RefundReason.DUPLICATE: "duplicate",
    RefundReason.FRAUDULENT: "fraudulent",
}
_STATUS = {
    GatewayRefundStatus.PENDING: RefundStatus.PENDING,
    GatewayRefundStatus.SUCCEEDED: RefundStatus.SUCCEEDED,
    GatewayRefundStatus.FAILED: RefundStatus.FAILED,
    GatewayRefundStatus.CANCELED: RefundStatus.CANCELED,
}


def _actor(session: Session, actor_id: str | None, actor: Actor | None = None) -> User:
    actor_id = acting_user_id(actor, actor_id)
    # The stored role decides, not the Actor's: a stale Actor cannot refund.
    user = session.get(User, actor_id) if actor_id else None
    if (
        user is None
        or not allows(user.role, Action.ISSUE_REFUND)
        or user.status is not UserStatus.ACTIVE
    ):
        raise PermissionDenied(
            "only active SUPPORT and ADMIN users may issue refunds",
            details={"actor_id": actor_id},
        )
    return user


def _apply_succeeded(session: Session, order: Order, amount: Decimal, now: datetime) -> None:
    """Add a succeeded refund to ``order.refunded_amount`` with a conditional update
    (the database refuses to pass the total) and mark a full refund REFUNDED."""
    result = affected(
        session,
        sa.update(Order)
        .where(Order.id == order.id, Order.refunded_amount + amount <= Order.total_amount)
        .values(refunded_amount=Order.refunded_amount + amount, updated_at=now),
    )
    if result != 1:
        raise RefundExceedsPaid(
            f"refund of {amount} would pass order {order.order_number}'s total",
            details={"order_id": order.id},
        )
    affected(
        session,
        sa.update(Order)
        .where(Order.id == order.id, Order.refunded_amount == Order.total_amount)
        .values(status=OrderStatus.REFUNDED, payment_status=PaymentStatus.REFUNDED),
    )


def _insert_refund(session: Session, values: dict[str, Any]) -> bool:
    """Insert the Refund row unless one with this gateway id exists; True if inserted."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    # The Core table: its keys are column names, and ORM-enabled inserts before
    # SQLAlchemy 2.1 read "metadata" as the declarative MetaData, not the column.
    table = cast(sa.Table, Refund.__table__)
    statement = (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["stripe_refund_id"])
        .returning(table.c.id)
    )
    return session.execute(statement).scalar_one_or_none() is not None


def _claim(
    session: Session,
    order_id: str,
    order: Order,
    requested: Decimal | None,
    reason: RefundReason,
    idempotency_key: str,
    now: datetime,
) -> Refund | None:
    """Claim the key; the refund an earlier call with it made, if any."""
    fingerprint = _idempotency.request_hash(
        {"order_id": order_id, "amount": str(requested), "reason": reason.value}
    )
    record = _idempotency.claim(
        session,
        scope=SCOPE_REFUND,
        key=idempotency_key,
        fingerprint=fingerprint,
        now=now,
        user_id=order.user_id,
    )
    if record is not None and record.resource_id is not None:
        return session.get(Refund, record.resource_id)
    return None


def _refundable(
    session: Session, order: Order, requested: Decimal | None, amount: object
) -> Decimal:
    """The amount to refund: ``requested``, or all that is left when None; refused
    when the order is unpaid or free, or more than is left is asked for."""
    if order.total_amount == 0 and order.payment_status is PaymentStatus.SUCCEEDED:
        raise RefundError(
            f"order {order.order_number} was free: there is no payment to refund",
            code="nothing_to_refund",
            details={"order_id": order.id},
        )
    if order.payment_status not in PAID_PAYMENT or (order.stripe_payment_intent_id is None):
        raise InvalidState(
            f"order {order.order_number} has not been paid; nothing to refund",
            code="order_not_paid",
            details={"order_id": order.id},
        )
    # Pending refunds count against what is left, as the gateway counts them.
    pending = session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
            Refund.order_id == order.id, Refund.status == RefundStatus.PENDING
        )
    ) or Decimal(0)
    left = refundable_amount(
        total=order.total_amount, refunded=order.refunded_amount + pending, currency=order.currency
    )
    if requested is None:
        requested = left
    if requested <= 0:
        if amount is None:
            raise RefundExceedsPaid(
                f"order {order.order_number} is already fully refunded",
                details={"order_id": order.id, "refundable": str(left)},
            )
        raise InvalidAmount("a refund amount must be positive")
    if requested > left:
        raise RefundExceedsPaid(
            f"refund of {requested} {order.currency} exceeds the {left} still refundable",
            details={"order_id": order.id, "refundable": str(left), "requested": str(requested)},
        )
    return requested


@checked
def issue_refund(
    session: Session,
    *,
    order_id: str,
    reason: RefundReason | str,
    gateway: PaymentGateway,
    amount: Decimal | int | str | None = None,
    notes: str | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> Refund:
    """Refund a paid order, fully (``amount=None``: all that is still refundable) or in part.

    Only active SUPPORT and ADMIN users (``actor``, or its id as ``actor_id``)
    may refund (``PermissionDenied``); only paid orders can be refunded; never more than
    paid minus refunded (``RefundExceedsPaid``). The Refund row takes the
    gateway's status; ``Order.refunded_amount`` is the sum of SUCCEEDED refunds,
    and the order becomes REFUNDED exactly when that reaches its total.

    The gateway call is made with no row lock held; the gateway also refuses to
    refund more than it charged, and a conditional update keeps
    ``refunded_amount <= total_amount`` in the database, so parallel refunds can
    never exceed what was paid. The same ``idempotency_key`` gives one refund and
    one gateway call.
    """
    now = resolve_clock(clock).now()
    acting_user = _actor(session, actor_id, actor)
    allowed = {"allowed": [r.value for r in RefundReason]}
    refund_reason = member(RefundReason, reason, "refund reason", details=allowed)
    order = load(session, Order, order_id, "order", populate_existing=True)
    requested = None if amount is None else as_money(amount, order.currency, field="amount")
    if idempotency_key is not None:
        existing = _claim(session, order_id, order, requested, refund_reason, idempotency_key, now)
        if existing is not None:
            return existing
    requested = _refundable(session, order, requested, amount)
    payment_id = order.stripe_payment_intent_id
    assert payment_id is not None  # _refundable refuses an order without a payment
    gateway_key = f"paykit:refund:{idempotency_key or new_id()}"
    try:
        result = gateway.create_refund(
            payment_id=payment_id,
            amount_minor=to_minor_units(requested, order.currency),
            reason=_STRIPE_REASONS.get(refund_reason),
            metadata={"paykit_order_id": order.id, "paykit_reason": refund_reason.value},
            idempotency_key=gateway_key,
        )
    except GatewayError as exc:
        if exc.code in ("refund_exceeds_payment", "charge_already_refunded"):
            # A parallel refund got there first: the gateway's own cap held.
            raise RefundExceedsPaid(exc.message, details={"order_id": order.id}) from exc
        raise
    refund = _record(session, order, result, refund_reason, notes, acting_user, now, context)
    if idempotency_key is not None:
        _idempotency.record(session, scope=SCOPE_REFUND, key=idempotency_key, resource_id=refund.id)
    session.flush()
    return refund


def _record(
    session: Session,
    order: Order,
    result: GatewayRefund,
    reason: RefundReason,
    notes: str | None,
    actor: User | None,
    now: datetime,
    context: RequestContext | None,
) -> Refund:
    amount = from_minor_units(result.amount_minor, result.currency)
    status = _STATUS[result.status]
    inserted = _insert_refund(
        session,
        {
            "id": new_id(),
            "order_id": order.id,
            "stripe_refund_id": result.id,
            "amount": amount,
            "currency": order.currency,
            "reason": reason,
            "status": status,
            "notes": notes,
            "metadata": {},
            "created_at": now,
            "updated_at": now,
            "processed_at": now if status is RefundStatus.SUCCEEDED else None,
        },
    )
    refund = session.scalars(
        sa.select(Refund)
        .where(Refund.stripe_refund_id == result.id)
        .execution_options(populate_existing=True)
    ).one()
    if inserted:
        # Only the call that inserted the row counts it, so a duplicate never double-counts.
        if status is RefundStatus.SUCCEEDED:
            _apply_succeeded(session, order, amount, now)
        record_audit(
            session,
            action="refund.created",
            resource="refunds",
            resource_id=refund.id,
            now=now,
            actor_id=actor.id if actor else None,
            new={
                "order_id": order.id,
                "amount": amount,
                "currency": order.currency,
                "reason": reason.value,
                "status": status.value,
            },
            context=context,
        )
    session.refresh(order)
    return refund


@checked
def record_gateway_refund(
    session: Session,
    *,
    order: Order,
    gateway_refund: GatewayRefund,
    reason: RefundReason,
    notes: str | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Refund:
    """Record a refund that was made at the gateway (its dashboard, or an
    ``issue_refund`` whose transaction has not committed yet).

    The Refund row is unique on ``stripe_refund_id``, and only the call that
    inserts it adds a SUCCEEDED refund to ``Order.refunded_amount``, so
    recording the same refund twice counts it once.
    """
    now = resolve_clock(clock).now()
    return _record(session, order, gateway_refund, reason, notes, None, now, context)


def _reverse_succeeded(session: Session, order_id: str, amount: Decimal, now: datetime) -> Order:
    """Take a refund that had succeeded back out of ``order.refunded_amount``; a
    REFUNDED order that is no longer fully refunded is COMPLETED and SUCCEEDED again."""
    result = affected(
        session,
        sa.update(Order)
        .where(Order.id == order_id, Order.refunded_amount >= amount)
        .values(refunded_amount=Order.refunded_amount - amount, updated_at=now),
    )
    if result != 1:  # the row's sum no longer holds this refund: a bug, not an input
        raise InvalidState(
            f"order {order_id} does not count the refund being reversed",
            code="refund_not_counted",
            details={"order_id": order_id},
        )
    affected(
        session,
        sa.update(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.REFUNDED,
            Order.refunded_amount < Order.total_amount,
        )
        .values(status=OrderStatus.COMPLETED, payment_status=PaymentStatus.SUCCEEDED),
    )
    order = session.get(Order, order_id, populate_existing=True)
    assert order is not None
    return order


def _move(
    session: Session, refund: Refund, source: RefundStatus, target: RefundStatus, now: datetime
) -> bool:
    """Move the refund from ``source`` to ``target`` if it is still there (one caller wins)."""
    return (
        affected(
            session,
            sa.update(Refund)
            .where(Refund.id == refund.id, Refund.status == source)
            .values(
                status=target,
                updated_at=now,
                processed_at=now if target is RefundStatus.SUCCEEDED else None,
            ),
        )
        == 1
    )


@checked
def sync_refund(
    session: Session,
    *,
    gateway_refund: GatewayRefund,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Refund:
    """Apply a gateway refund's current status (from a webhook or polling) to its Refund row.

    PENDING may become SUCCEEDED, FAILED or CANCELED; SUCCEEDED may become
    FAILED or CANCELED (Stripe fails a refund the bank sends back); FAILED and
    CANCELED are final, so a late or replayed older status changes nothing.
    Each move is a conditional status change, so it happens once: a refund
    that succeeds is added to ``Order.refunded_amount``, one that fails after
    succeeding is taken out again (a REFUNDED order becomes COMPLETED and
    SUCCEEDED), and every move writes a ``refund.<status>`` audit row.
    """
    now = resolve_clock(clock).now()
    refund = session.scalars(
        sa.select(Refund)
        .where(Refund.stripe_refund_id == gateway_refund.id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if refund is None:
        raise NotFound(f"no refund {gateway_refund.id}", details={"refund_id": gateway_refund.id})
    status = _STATUS[gateway_refund.status]
    sources = {
        RefundStatus.SUCCEEDED: (RefundStatus.PENDING,),
        RefundStatus.FAILED: (RefundStatus.SUCCEEDED, RefundStatus.PENDING),
        RefundStatus.CANCELED: (RefundStatus.SUCCEEDED, RefundStatus.PENDING),
    }.get(status, ())
    source = next((s for s in sources if _move(session, refund, s, status, now)), None)
    if source is None:
        return refund
    order = session.get(Order, refund.order_id)
    assert order is not None
    before = order.refunded_amount
    if status is RefundStatus.SUCCEEDED:
        _apply_succeeded(session, order, refund.amount, now)
    elif source is RefundStatus.SUCCEEDED:
        order = _reverse_succeeded(session, order.id, refund.amount, now)
    session.refresh(order)
    session.refresh(refund)
    record_audit(
        session,
        action=f"refund.{status.value.lower()}",
        resource="refunds",
        resource_id=refund.id,
        now=now,
        old={"status": source.value, "order_refunded_amount": before},
        new={
            "status": status.value,
            "failure_reason": gateway_refund.failure_reason,
            "order_refunded_amount": order.refunded_amount,
            "order_status": order.status.value,
            "payment_status": order.payment_status.value,
        },
        context=context,
    )
    return refund
