"""Order state changes after placing: paid, cancelled, failed, synced with the gateway.

Every change is a conditional UPDATE from the states it may leave (prebuilt in
:mod:`.statements`); only the one caller whose update won gives counters back
or grants access, so each effect happens once however many webhooks, polls
and hosts race.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import GatewayError, InvalidState, NotFound, PaykitError, ValidationError
from paykit.gateways.base import GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import (
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    RefundReason,
)
from paykit.models.orders import OPEN_ORDER, PAID_PAYMENT
from paykit.money import from_minor_units, to_minor_units
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner
from paykit.services._audit import build_audit, record_audit
from paykit.services._notify import emit_for_audit
from paykit.services._rows import found, not_found
from paykit.services._sql import row_values
from paykit.services.orders.reserve import release
from paykit.services.orders.statements import (
    CLOSE_UNPAID,
    DIGITAL_ITEMS,
    MARK_PAID,
    MARK_PAID_AS_READ,
    MARK_PAID_AS_READ_IN_ONE,
    MARK_PAID_IN_ONE,
    MOVE_OPEN,
    ORDER,
    ORDER_BY_PAYMENT,
)
from paykit.services.refunds import record_gateway_refund

__all__ = [
    "apply_payment",
    "cancel_order",
    "close_unpaid",
    "fail_order_payment",
    "get_order",
    "grant_access",
    "mark_order_paid",
    "sync_order_payment",
]

_ITEM = OrderItem.__mapper__
#: (column name, attribute key) of every column of an order.
_ORDER_KEYS = tuple(
    (column.name, Order.__mapper__.get_property_by_column(column).key)
    for column in Order.__table__.c
)
_RETRYABLE = (
    PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentIntentStatus.REQUIRES_CONFIRMATION,
    PaymentIntentStatus.REQUIRES_ACTION,
)


def _won(session: Session, statement: Any, params: dict[str, Any]) -> bool:
    """Run a state change; True only for the one caller whose update matched.
    Callers refresh the order once they are done with it."""
    return int(session.connection().execute(statement, params).rowcount) == 1


def _move_open(
    session: Session, order_id: str, source: OrderStatus, target: OrderStatus, now: datetime
) -> bool:
    """PENDING <-> PROCESSING, the payment status following (the two share names)."""
    params = {
        "t_order_id": order_id,
        "t_source": source,
        "t_target": target,
        "t_payment_status": PaymentStatus(target.value),
        "t_now": now,
    }
    return _won(session, MOVE_OPEN, params)


def grant_access(session: Session, order_id: str, now: datetime) -> None:
    """Set the access expiry of an order's digital items (none: lifetime access)."""
    rows = session.execute(DIGITAL_ITEMS, {"order_id": order_id}).all()
    for item, days in rows:
        item.access_expires_at = None if days is None else now + timedelta(days=days)


def get_order(session: Session, order_id: str) -> Order:
    """The order, fresh from the database, or ``NotFound``."""
    return found(session.scalar(ORDER, {"order_id": order_id}), "order", order_id)


def cancel_key(order_id: str) -> str:
    """The gateway idempotency key that cancels an order's payment: one key for
    :func:`cancel_order` and ``release_expired_orders``, so a retry of either, or
    both at once, cancel it once."""
    return f"paykit:cancel:{order_id}"


def require_gateway(gateway: PaymentGateway | None, order: Order, why: str) -> PaymentGateway:
    """``gateway``; without one, ``ValidationError`` (``gateway_required``) saying ``why``
    the call on ``order`` needs it."""
    if gateway is None:
        raise ValidationError(why, code="gateway_required", details={"order_id": order.id})
    return gateway


def _order_by_payment(session: Session, payment_id: str) -> Order:
    order = session.scalar(ORDER_BY_PAYMENT, {"payment_id": payment_id})
    if order is None:
        raise NotFound(f"no order for payment {payment_id}", details={"payment_id": payment_id})
    return order


# --- a payment that does not match its order -----------------------------------------


def amount_matches(order: Order, payment: GatewayPayment) -> bool:
    """Whether ``payment`` is for the order's total, in the order's currency."""
    return payment.currency.upper() == order.currency.upper() and (
        payment.amount_minor == to_minor_units(order.total_amount, order.currency)
    )


def _refund_mismatch(
    session: Session,
    order: Order,
    payment: GatewayPayment,
    gateway: PaymentGateway,
    clock: Clock | None,
    context: RequestContext | None,
) -> Order:
    """Money that does not match its order goes back, and the order is cancelled."""
    refund = gateway.create_refund(
        payment_id=payment.id,
        amount_minor=payment.amount_minor,
        reason=None,
        metadata={"paykit_order_id": order.id, "paykit_reason": "payment_amount_mismatch"},
        idempotency_key=f"paykit:mismatch:{payment.id}",
    )
    now = resolve_clock(clock).now()
    close_unpaid(
        session,
        order,
        payment_status=PaymentStatus.REFUNDED,
        action="order.payment_amount_mismatch",
        now=now,
        actor_id=None,
        context=context,
    )
    record_gateway_refund(
        session,
        order=order,
        gateway_refund=refund,
        reason=RefundReason.OTHER,
        notes=f"payment {payment.id} was for {payment.amount_minor} minor units, "
        f"not the order's total {order.total_amount}",
        clock=clock,
        context=context,
    )
    session.refresh(order)
    return order


def _payment_matches(order: Order, payment: GatewayPayment) -> None:
    if not amount_matches(order, payment):
        raise InvalidState(
            f"payment {payment.id} is for {_major_units(payment)}, "
            f"order {order.order_number} totals {order.total_amount} {order.currency}",
            code="payment_amount_mismatch",
            details={
                "order_id": order.id,
                "payment_id": payment.id,
                "payment_amount_minor": payment.amount_minor,
                "payment_currency": payment.currency.upper(),
            },
        )


def _major_units(payment: GatewayPayment) -> str:
    """``"1000.00 USD"`` for 100000 minor units; raw minor units if the currency is unknown."""
    currency = payment.currency.upper()
    try:
        return f"{from_minor_units(payment.amount_minor, currency)} {currency}"
    except PaykitError:
        return f"{payment.amount_minor} minor units of {currency}"


# --- the transitions -----------------------------------------------------------------


@checked
def mark_order_paid(
    session: Session,
    *,
    order_id: str | None = None,
    payment: GatewayPayment | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Record that an order's payment succeeded: COMPLETED, SUCCEEDED, ``completed_at``,
    and digital access expiry (``now + access_duration`` days; none means lifetime).

    Used by webhooks (with the gateway ``payment``) and by polling. Idempotent:
    a second call, or a call for an order already paid, changes nothing. A
    payment whose amount or currency differs from the order's is refused. An
    order cancelled meanwhile is not revived (``InvalidState``): its payment
    needs a refund.
    """
    now = resolve_clock(clock).now()
    if order_id is None:
        if payment is None:
            raise ValidationError("mark_order_paid needs order_id or payment")
        order = _order_by_payment(session, payment.id)
    else:
        order = get_order(session, order_id)
    if payment is not None:
        if payment.status is not PaymentIntentStatus.SUCCEEDED:
            raise InvalidState(
                f"payment {payment.id} is {payment.status}, not succeeded",
                details={"order_id": order.id},
            )
        _payment_matches(order, payment)
    if _complete(session, order, now, context, MARK_PAID, {}):
        return order
    if order.status is OrderStatus.CANCELLED:
        raise InvalidState(
            f"order {order.order_number} was cancelled before its payment succeeded",
            code="order_cancelled",
            details={"order_id": order.id},
        )
    session.refresh(order)
    return order


_IN_ONE = {MARK_PAID: MARK_PAID_IN_ONE, MARK_PAID_AS_READ: MARK_PAID_AS_READ_IN_ONE}
_PAID_VALUES = {"status": "COMPLETED", "payment_status": "SUCCEEDED"}


class _Audited(TypedDict):  # an audit row's fields, as record_audit and build_audit take them
    action: str
    resource: str
    resource_id: str
    now: datetime
    actor_id: str | None
    new: Mapping[str, Any]
    context: RequestContext | None


def _paid_audit(order: Order, now: datetime, context: RequestContext | None) -> _Audited:
    """The audit row of an order whose payment succeeded (the customer's)."""
    return _Audited(
        action="order.paid",
        resource="orders",
        resource_id=order.id,
        now=now,
        actor_id=order.user_id,
        new=_PAID_VALUES,
        context=context,
    )


def _complete(
    session: Session,
    order: Order,
    now: datetime,
    context: RequestContext | None,
    statement: Any,
    params: dict[str, Any],
) -> bool:
    """Run ``statement`` (MARK_PAID or MARK_PAID_AS_READ) and, if it won, what follows
    (:func:`_paid`), leaving ``order`` as fresh as a refresh would; True if it won.

    On PostgreSQL all of it is one statement (see ``statements._paid_in_one``)
    whose RETURNING row is the order as it now is."""
    params = {**params, "t_order_id": order.id, "t_now": now}
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        if not _won(session, statement, params):
            return False
        _paid(session, order, now, context)
        session.refresh(order)
        return True
    audit = build_audit(session, **_paid_audit(order, now, context))
    for name, value in row_values(audit).items():
        params[f"a_{name}"] = value
    row = connection.execute(_IN_ONE[statement], params).first()
    if row is None:
        return False
    _loaded(session, order, row)
    emit_for_audit(
        session,
        action="order.paid",
        resource="orders",
        resource_id=order.id,
        now=now,
        new=_PAID_VALUES,
    )
    return True


def _loaded(session: Session, order: Order, row: Any) -> None:
    """Set ``order`` to ``row`` (all its columns) as a refresh would, and the access
    expiry the statement gave its digital items on those loaded in the session."""
    values = row._mapping
    for column, key in _ORDER_KEYS:
        set_committed_value(order, key, values[column])
    for item_id, until in zip(row.access_ids or (), row.access_until or (), strict=True):
        item = session.identity_map.get(_ITEM.identity_key_from_primary_key((item_id,)))
        if item is not None:
            set_committed_value(item, "access_expires_at", until)


def _paid(session: Session, order: Order, now: datetime, context: RequestContext | None) -> None:
    """What follows the won change to COMPLETED: digital access and the audit row."""
    grant_access(session, order.id, now)
    record_audit(session, **_paid_audit(order, now, context))
    session.flush()


def _paid_as_read(
    session: Session,
    order: Order,
    payment: GatewayPayment,
    now: datetime,
    context: RequestContext | None,
) -> bool:
    """Complete an open order whose payment matches it as this session read it, in
    one conditional update that also requires the row to still hold that total and
    currency; True if it did. Otherwise (changed, cancelled or paid meanwhile, or
    an order of another session) nothing is written and :func:`mark_order_paid`
    decides from a fresh read."""
    if order.status not in OPEN_ORDER or order not in session or not amount_matches(order, payment):
        return False
    params = {"t_total": order.total_amount, "t_currency": order.currency}
    return _complete(session, order, now, context, MARK_PAID_AS_READ, params)


def close_unpaid(
    session: Session,
    order: Order,
    *,
    payment_status: PaymentStatus,
    action: str,
    now: datetime,
    actor_id: str | None,
    context: RequestContext | None,
) -> bool:
    """Cancel an open, unpaid order and give back what it holds; True for the one
    caller that did."""
    params = {"t_order_id": order.id, "t_payment_status": payment_status, "t_now": now}
    won = _won(session, CLOSE_UNPAID, params)
    if won:
        release(session, order, now)
        record_audit(
            session,
            action=action,
            resource="orders",
            resource_id=order.id,
            now=now,
            actor_id=actor_id or order.user_id,
            new={"status": "CANCELLED", "payment_status": payment_status.value},
            context=context,
        )
        session.flush()
    return won


def _close_cancelled(
    session: Session,
    order: Order,
    now: datetime,
    actor_id: str | None,
    context: RequestContext | None,
) -> None:
    """Cancel an open order as ``order.cancelled``: its payment is cancelled too."""
    close_unpaid(
        session,
        order,
        payment_status=PaymentStatus.CANCELLED,
        action="order.cancelled",
        now=now,
        actor_id=actor_id,
        context=context,
    )


def _order_of_failure(
    session: Session, order_id: str | None, payment_id: str | None, payment: GatewayPayment | None
) -> Order:
    if order_id is not None:
        return get_order(session, order_id)
    if payment_id is not None:
        return _order_by_payment(session, payment_id)
    if payment is not None:
        return _order_by_payment(session, payment.id)
    raise ValidationError("fail_order_payment needs order_id, payment_id or payment")


@checked
def fail_order_payment(
    session: Session,
    *,
    order_id: str | None = None,
    payment_id: str | None = None,
    payment: GatewayPayment | None = None,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """A payment attempt failed: the order follows the gateway's truth.

    A failed attempt leaves the payment retryable (the customer may try another
    card), so the order stays PENDING and keeps its stock and discount use; an
    audit row records the attempt. Only a payment the gateway has cancelled
    cancels the order (CANCELLED / CANCELLED, stock and discount use given back,
    exactly once; release an abandoned order with :func:`cancel_order` or
    ``release_expired_orders``); a payment that succeeded meanwhile completes it. The truth is
    ``payment`` (a webhook's object) or, with ``gateway``, re-read from the
    gateway; one of the two is required (``gateway_required``).
    """
    now = resolve_clock(clock).now()
    order = _order_of_failure(session, order_id, payment_id, payment)
    if payment is None:
        gateway = require_gateway(
            gateway,
            order,
            "fail_order_payment needs the gateway's payment or the gateway to read it",
        )
        if order.stripe_payment_intent_id is None:
            return order
        payment = gateway.retrieve_payment(order.stripe_payment_intent_id)
    if payment.status in _RETRYABLE or payment.status is PaymentIntentStatus.PROCESSING:
        record_audit(
            session,
            action="order.payment_attempt_failed",
            resource="orders",
            resource_id=order.id,
            now=now,
            actor_id=order.user_id,
            new={"payment_id": payment.id, "decline_code": payment.decline_code},
            context=context,
        )
        if payment.status in _RETRYABLE and order.status is OrderStatus.PROCESSING:
            _move_open(session, order.id, OrderStatus.PROCESSING, OrderStatus.PENDING, now)
        session.flush()
        session.refresh(order)
        return order
    return apply_payment(session, order=order, payment=payment, clock=clock, context=context)


@checked
def apply_payment(
    session: Session,
    *,
    order: Order,
    payment: GatewayPayment,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Bring an open order in line with its gateway payment: succeeded completes it,
    canceled cancels it (CANCELLED / CANCELLED, counters given back once), processing
    marks it PROCESSING; a payment still waiting for the customer changes nothing.

    A payment that succeeded for another amount than the order's total (a
    customer who paid in the browser after an ``apply_discount`` whose
    transaction was rolled back) is refunded in full, as a Refund row with its
    real status, and the order is cancelled (CANCELLED / REFUNDED, counters
    given back), when ``gateway`` is given; without it ``mark_order_paid``
    refuses it (``payment_amount_mismatch``)."""
    if not isinstance(order, Order) or not isinstance(payment, GatewayPayment):
        raise ValidationError(
            "apply_payment needs an Order and a GatewayPayment", details={"param": "order"}
        )
    if payment.id != order.stripe_payment_intent_id:
        raise InvalidState(
            f"payment {payment.id} is not order {order.order_number}'s payment",
            code="payment_mismatch",
            details={"order_id": order.id, "payment_id": payment.id},
        )
    now = resolve_clock(clock).now()
    if payment.status is PaymentIntentStatus.SUCCEEDED:
        if (
            gateway is not None
            and order.status in OPEN_ORDER
            and not amount_matches(order, payment)
        ):
            return _refund_mismatch(session, order, payment, gateway, clock, context)
        if _paid_as_read(session, order, payment, now, context):
            return order  # the common case: one statement fewer than a fresh read
        return mark_order_paid(
            session, order_id=order.id, payment=payment, clock=clock, context=context
        )
    if payment.status is PaymentIntentStatus.CANCELED:
        _close_cancelled(session, order, now, None, context)
    elif payment.status is PaymentIntentStatus.PROCESSING and order.status is OrderStatus.PENDING:
        _move_open(session, order.id, OrderStatus.PENDING, OrderStatus.PROCESSING, now)
    session.refresh(order)
    return order


def _cancel_at_gateway(
    session: Session, order: Order, gateway: PaymentGateway, clock: Clock | None
) -> None:
    """Cancel the order's payment first, so it cannot succeed after the order gave
    its stock back; a payment that succeeded meanwhile completes the order."""
    assert order.stripe_payment_intent_id is not None
    try:
        gateway.cancel_payment(order.stripe_payment_intent_id, idempotency_key=cancel_key(order.id))
    except GatewayError as exc:
        current = gateway.retrieve_payment(order.stripe_payment_intent_id)
        if current.status is PaymentIntentStatus.SUCCEEDED:
            mark_order_paid(session, order_id=order.id, payment=current, clock=clock)
            raise InvalidState(
                f"order {order.order_number} was paid meanwhile; refund it instead",
                code="order_paid",
                details={"order_id": order.id},
            ) from exc
        if current.status is not PaymentIntentStatus.CANCELED:
            raise


@checked
def cancel_order(
    session: Session,
    *,
    order_id: str,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    actor_id: str | None = None,
    actor: Actor | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Cancel an unpaid order: its gateway payment is cancelled first (so it cannot
    succeed afterwards), then the order becomes CANCELLED and its stock and discount use
    are given back, exactly once. Cancelling a cancelled order returns it unchanged;
    a paid order raises ``InvalidState`` (refund it instead).

    ``actor`` (or ``actor_id``) must own the order or hold ``order.cancel_any``;
    without one the host acts on its own authority (docs/security.md)."""
    now = resolve_clock(clock).now()
    actor_id = acting_user_id(actor, actor_id)
    order = get_order(session, order_id)
    authorize_owner(
        session,
        actor_id,
        owner_id=order.user_id,
        action=Action.CANCEL_ANY_ORDER,
        missing=not_found("order", order_id),
    )
    if order.status is OrderStatus.CANCELLED:
        return order
    if order.status not in OPEN_ORDER or order.payment_status in PAID_PAYMENT:
        raise InvalidState(
            f"order {order.order_number} is {order.status.value}; refund it instead",
            details={"order_id": order.id},
        )
    if order.stripe_payment_intent_id is not None:
        gateway = require_gateway(
            gateway, order, "cancel_order needs the gateway to cancel the order's payment first"
        )
        _cancel_at_gateway(session, order, gateway, clock)
    _close_cancelled(session, order, now, actor_id, context)
    session.refresh(order)
    return order


@checked
def sync_order_payment(
    session: Session,
    *,
    order_id: str,
    gateway: PaymentGateway,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Poll the gateway for an order's payment and apply what it says (paid, cancelled,
    still processing); see :func:`apply_payment`."""
    order = get_order(session, order_id)
    if order.stripe_payment_intent_id is None:
        return order
    payment = gateway.retrieve_payment(order.stripe_payment_intent_id)
    return apply_payment(
        session, order=order, payment=payment, gateway=gateway, clock=clock, context=context
    )
