"""Repairing what one call cannot: expired reservations and drift from the gateway.

* :func:`release_expired_orders` gives back the stock and discount use of
  PENDING orders nobody paid for within the hold time (their payment is
  cancelled at the gateway first, so it cannot succeed afterwards).
* :func:`reconcile` brings open orders up to date from the gateway, and finds
  gateway payments that carry paykit's metadata but have no order (a host that
  crashed or rolled back after a charge) and refunds or cancels them.

Both make every gateway call first, with no row lock held, and write to the
database afterwards; both are idempotent (deterministic gateway keys,
conditional updates), so running them again, or twice at once, is safe.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, PaykitError, ValidationError
from paykit.gateways.base import GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import AuditLog, Order, OrderStatus, PaymentStatus
from paykit.models.orders import OPEN_ORDER
from paykit.services._audit import record_audit
from paykit.services.orders.lifecycle import (
    amount_matches,
    apply_payment,
    cancel_key,
    close_unpaid,
)

__all__ = [
    "DEFAULT_HOLD",
    "ReconcileReport",
    "reconcile",
    "release_expired_orders",
]

DEFAULT_HOLD = timedelta(minutes=30)
"""How long a PENDING order keeps its stock and discount use without being paid."""

_UNCONFIRMED = (
    PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentIntentStatus.REQUIRES_CONFIRMATION,
    PaymentIntentStatus.REQUIRES_ACTION,
    PaymentIntentStatus.REQUIRES_CAPTURE,
)
_CLOSED = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
_ORPHAN_REFUNDED = "payment.orphan_refunded"
_ORPHAN_CANCELLED = "payment.orphan_cancelled"


def _check_duration(value: object, name: str) -> timedelta:
    if not isinstance(value, timedelta) or value < timedelta(0):
        raise ValidationError(f"{name} must be a non-negative timedelta", details={"param": name})
    return value


def _settle_at_gateway(gateway: PaymentGateway, payment_id: str, key: str) -> GatewayPayment:
    """Cancel a payment that has not succeeded; return the gateway's state either way."""
    try:
        return gateway.cancel_payment(payment_id, idempotency_key=key)
    except GatewayError:
        return gateway.retrieve_payment(payment_id)  # succeeded, processing or canceled already


@checked
def release_expired_orders(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    hold: timedelta = DEFAULT_HOLD,
    limit: int = 500,
    context: RequestContext | None = None,
) -> list[Order]:
    """Cancel PENDING orders older than ``hold`` and give back what they hold.

    Each order's payment is cancelled at the gateway first (key
    ``paykit:cancel:<order id>``, the same as :func:`~paykit.cancel_order`); a
    payment that succeeded meanwhile completes its order instead. PROCESSING
    orders (money in flight) are left alone. At most ``limit`` orders per call,
    oldest first; returns the orders it changed.
    """
    hold = _check_duration(hold, "hold")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a positive integer", details={"param": "limit"})
    now = resolve_clock(clock).now()
    orders = session.scalars(
        sa.select(Order)
        .where(
            Order.status == OrderStatus.PENDING,
            Order.payment_status == PaymentStatus.PENDING,
            Order.created_at < now - hold,
        )
        .order_by(Order.created_at, Order.id)
        .limit(limit)
    ).all()
    # Every gateway call first, with no row lock held; then the writes.
    truths: dict[str, GatewayPayment | None] = {}
    for order in orders:
        if order.stripe_payment_intent_id is None:
            truths[order.id] = None
        else:
            truths[order.id] = _settle_at_gateway(
                gateway, order.stripe_payment_intent_id, cancel_key(order.id)
            )
    changed = []
    for order in orders:
        payment = truths[order.id]
        if payment is None or payment.status is PaymentIntentStatus.CANCELED:
            won = close_unpaid(
                session,
                order,
                payment_status=PaymentStatus.CANCELLED,
                action="order.expired",
                now=now,
                actor_id=None,
                context=context,
            )
            session.refresh(order)
            if won:
                changed.append(order)
        else:
            before = order.status
            apply_payment(session, order=order, payment=payment, clock=clock, context=context)
            if order.status is not before:
                changed.append(order)
    return changed


@dataclass
class ReconcileReport:
    """What :func:`reconcile` found and did; ``str()`` gives one line per action."""

    checked_orders: int = 0
    checked_payments: int = 0
    completed: list[str] = field(default_factory=list)  # order ids paid at the gateway
    cancelled: list[str] = field(default_factory=list)  # order ids whose payment was cancelled
    processing: list[str] = field(default_factory=list)
    refunded_orphans: list[str] = field(default_factory=list)  # payment ids
    cancelled_orphans: list[str] = field(default_factory=list)  # payment ids
    errors: list[str] = field(default_factory=list)
    dry_run: bool = False  # True: the lists say what a real run would do; nothing was done

    @property
    def actions(self) -> int:
        """How many things were changed."""
        return sum(
            len(items)
            for items in (
                self.completed,
                self.cancelled,
                self.processing,
                self.refunded_orphans,
                self.cancelled_orphans,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary."""
        return {
            "checked_orders": self.checked_orders,
            "checked_payments": self.checked_payments,
            "completed": list(self.completed),
            "cancelled": list(self.cancelled),
            "processing": list(self.processing),
            "refunded_orphans": list(self.refunded_orphans),
            "cancelled_orphans": list(self.cancelled_orphans),
            "errors": list(self.errors),
            "dry_run": self.dry_run,
        }

    def __str__(self) -> str:
        lines = [
            f"checked {self.checked_orders} open orders and {self.checked_payments} "
            "gateway payments"
        ]
        labels = (
            ("order paid at the gateway, completed", self.completed),
            ("order's payment cancelled, order cancelled", self.cancelled),
            ("order's payment processing", self.processing),
            ("payment without an order, refunded", self.refunded_orphans),
            ("payment without an order, cancelled", self.cancelled_orphans),
            ("error", self.errors),
        )
        prefix = "would be: " if self.dry_run else ""
        for label, items in labels:
            lines.extend(
                f"{prefix if items is not self.errors else ''}{label}: {item}" for item in items
            )
        if not self.actions and not self.errors:
            lines.append("nothing to do")
        return "\n".join(lines)


@checked
def reconcile(
    session: Session,
    *,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    older_than: timedelta = timedelta(minutes=15),
    since: timedelta = timedelta(days=7),
    context: RequestContext | None = None,
    dry_run: bool = False,
) -> ReconcileReport:
    """Bring paykit's books in line with the gateway.

    1. Open (PENDING, PROCESSING) orders older than ``older_than``: their payment
       is re-read and applied (paid completes, cancelled cancels, processing
       marks PROCESSING).
    2. Gateway payments created between ``since`` and ``older_than`` ago that
       carry paykit's ``paykit_reference`` metadata and belong to no order: a
       succeeded one is refunded in full, an unconfirmed one cancelled, each
       with a deterministic key (``paykit:reconcile:<payment id>``) and an audit
       row. ``older_than`` leaves room for transactions still in flight.

    Idempotent: a second run finds nothing to do. The session is flushed,
    never committed. ``dry_run=True`` only reads (the database and the
    gateway) and returns the report a real run would give, marked
    ``dry_run``: no gateway write, no database write.
    """
    older_than = _check_duration(older_than, "older_than")
    since = _check_duration(since, "since")
    if not isinstance(dry_run, bool):
        raise ValidationError("dry_run must be a boolean", details={"param": "dry_run"})
    now = resolve_clock(clock).now()
    report = ReconcileReport(dry_run=dry_run)
    _reconcile_orders(session, gateway, now - older_than, report, clock, context)
    _reconcile_orphans(session, gateway, now - since, now - older_than, report, now, context)
    if not dry_run:
        session.flush()
    return report


def _would_apply(order: Order, payment: GatewayPayment, report: ReconcileReport) -> None:
    """What apply_payment would do to an open order, in the report, without doing it."""
    if payment.status is PaymentIntentStatus.SUCCEEDED:
        # A payment of another amount is refunded and its order cancelled.
        (report.completed if amount_matches(order, payment) else report.cancelled).append(order.id)
    elif payment.status is PaymentIntentStatus.CANCELED:
        report.cancelled.append(order.id)
    elif payment.status is PaymentIntentStatus.PROCESSING and order.status is OrderStatus.PENDING:
        report.processing.append(order.id)


def _reconcile_orders(
    session: Session,
    gateway: PaymentGateway,
    before: datetime,
    report: ReconcileReport,
    clock: Clock | None,
    context: RequestContext | None,
) -> None:
    orders = session.scalars(
        sa.select(Order)
        .where(
            Order.status.in_(OPEN_ORDER),
            Order.stripe_payment_intent_id.is_not(None),
            Order.created_at < before,
        )
        .order_by(Order.created_at, Order.id)
    ).all()
    report.checked_orders = len(orders)
    truths = {}
    for order in orders:
        assert order.stripe_payment_intent_id is not None
        try:
            truths[order.id] = gateway.retrieve_payment(order.stripe_payment_intent_id)
        except PaykitError as exc:
            report.errors.append(f"order {order.id}: {exc.code}")
    # Orders whose payment needs a compensating refund (another amount than the
    # order's) come first, so that gateway call is made before this
    # transaction has changed any other row.
    orders = sorted(orders, key=lambda o: o.id not in truths or amount_matches(o, truths[o.id]))
    for order in orders:
        payment = truths.get(order.id)
        if payment is None or payment.status in _UNCONFIRMED:
            continue
        if report.dry_run:
            _would_apply(order, payment, report)
            continue
        before_status = order.status
        try:
            apply_payment(
                session,
                order=order,
                payment=payment,
                gateway=gateway,
                clock=clock,
                context=context,
            )
        except PaykitError as exc:
            # e.g. payment_amount_mismatch: money that does not match its order
            # needs a person; the report (and the CLI's exit status) says so.
            report.errors.append(f"order {order.id}: {exc.code}")
            continue
        if order.status is before_status:
            continue
        if order.status is OrderStatus.COMPLETED:
            report.completed.append(order.id)
        elif order.status in _CLOSED:  # REFUNDED: paid another amount, refunded
            report.cancelled.append(order.id)
        elif order.status is OrderStatus.PROCESSING:
            report.processing.append(order.id)


def _reconcile_orphans(
    session: Session,
    gateway: PaymentGateway,
    start: datetime,
    end: datetime,
    report: ReconcileReport,
    now: datetime,
    context: RequestContext | None,
) -> None:
    if end <= start:
        return
    payments = [
        payment
        for payment in gateway.list_payments(created_from=start, created_to=end)
        if "paykit_reference" in payment.metadata
    ]
    report.checked_payments = len(payments)
    orphans = _without_order(session, payments)
    done = _already_settled(session, [p.id for p in orphans])
    for payment in orphans:
        if payment.id in done:
            continue
        if report.dry_run:
            if payment.status is PaymentIntentStatus.SUCCEEDED:
                report.refunded_orphans.append(payment.id)
            elif payment.status in _UNCONFIRMED:
                report.cancelled_orphans.append(payment.id)
            continue
        key = f"paykit:reconcile:{payment.id}"
        try:
            if payment.status is PaymentIntentStatus.SUCCEEDED:
                gateway.create_refund(
                    payment_id=payment.id,
                    amount_minor=payment.amount_minor,
                    reason=None,
                    metadata={"paykit_reason": "orphan_payment"},
                    idempotency_key=key,
                )
                action, bucket = _ORPHAN_REFUNDED, report.refunded_orphans
            elif payment.status in _UNCONFIRMED:
                gateway.cancel_payment(payment.id, idempotency_key=key)
                action, bucket = _ORPHAN_CANCELLED, report.cancelled_orphans
            else:
                continue  # canceled already, or processing: the next run sees it settled
        except GatewayError as exc:
            if exc.code != "charge_already_refunded":
                report.errors.append(f"payment {payment.id}: {exc.code}")
                continue
            action, bucket = _ORPHAN_REFUNDED, report.refunded_orphans
        except PaykitError as exc:
            report.errors.append(f"payment {payment.id}: {exc.code}")
            continue
        bucket.append(payment.id)
        record_audit(
            session,
            action=action,
            resource="payments",
            resource_id=payment.id,
            now=now,
            actor_id=None,
            new={
                "amount_minor": payment.amount_minor,
                "currency": payment.currency,
                "reference": payment.metadata.get("paykit_reference"),
            },
            context=context,
        )


def _without_order(session: Session, payments: Iterable[GatewayPayment]) -> list[GatewayPayment]:
    payments = list(payments)
    if not payments:
        return []
    ids = [p.id for p in payments]
    known = set(
        session.scalars(
            sa.select(Order.stripe_payment_intent_id).where(Order.stripe_payment_intent_id.in_(ids))
        )
    )
    return [p for p in payments if p.id not in known]


def _already_settled(session: Session, payment_ids: list[str]) -> set[str]:
    if not payment_ids:
        return set()
    return {
        str(resource_id)
        for resource_id in session.scalars(
            sa.select(AuditLog.resource_id).where(
                AuditLog.resource == "payments",
                AuditLog.action.in_((_ORPHAN_REFUNDED, _ORPHAN_CANCELLED)),
                AuditLog.resource_id.in_(payment_ids),
            )
        )
    }
