"""``place_order``: validate, price, create an unconfirmed payment, write the order
and take its counters. No money moves here (see docs/orders.md, "The flow")."""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    DiscountError,
    IdempotencyConflict,
    InsufficientStock,
    PaykitError,
    PaymentDeclined,
)
from paykit.gateways.base import GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import Order, OrderItem, OrderStatus, PaymentStatus, ProductType, new_id
from paykit.money import to_minor_units
from paykit.pricing import PricedOrder
from paykit.schemas.base import validate
from paykit.schemas.orders import PlaceOrderInput
from paykit.services import _idempotency
from paykit.services._audit import build_audit
from paykit.services.orders.inputs import Customer, KeyTaken, price_checked, stock_to_take
from paykit.services.orders.reserve import insert_and_reserve, insert_rows
from paykit.services.orders.results import OrderResult, PaymentInfo
from paykit.services.orders.statements import PAYMENT_TAKEN

__all__ = ["SCOPE_PLACE_ORDER", "place_order"]

SCOPE_PLACE_ORDER = "place_order"
# Crockford's base 32: no I, L, O, U, so order numbers read aloud cleanly.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_FRESH = (PaymentIntentStatus.REQUIRES_PAYMENT_METHOD, PaymentIntentStatus.REQUIRES_CONFIRMATION)
_REFUSALS = (PaymentDeclined, InsufficientStock, DiscountError)


@checked
def place_order(
    session: Session,
    *,
    customer_id: str,
    items: Sequence[Mapping[str, Any]],
    billing_address: Mapping[str, Any],
    gateway: PaymentGateway,
    shipping_address: Mapping[str, Any] | None = None,
    discount_code: str | None = None,
    payment_method_id: str | None = None,
    notes: str | None = None,
    metadata: Mapping[str, str] | None = None,
    clock: Clock | None = None,
    idempotency_key: str | None = None,
    context: RequestContext | None = None,
) -> OrderResult:
    """Place an order: validate, price, take stock and the discount use, and write the
    Order, its OrderItems, the DiscountUsage and an AuditLog. **No money moves here.**

    ``items`` are ``{"price_id": ..., "quantity": ...}`` mappings (active prices of
    published products, one currency). Everything the order will store is
    checked before the gateway is called (text, amounts within their columns,
    the currency's minimum charge). Then an *unconfirmed* gateway payment is
    created (with ``payment_method_id`` attached when given) and the order is
    PENDING, holding its stock and discount use. The customer pays after the
    host commits: :func:`pay_order` confirms the payment server-side, or the
    browser confirms it with ``result.payment.client_secret``. So a buyer who
    loses the race for the last unit or use is refused here and never charged
    (``InsufficientStock`` / ``DiscountError`` with ``details["order_id"]`` of a
    CANCELLED record; its payment is cancelled at the gateway).

    An order that totals 0.00 (a 100 % code) needs no payment: it is COMPLETED
    at once, without any gateway call.

    The same ``idempotency_key`` returns the same order and creates no second
    payment; with different parameters it raises ``IdempotencyConflict``. The
    session is flushed, never committed. Any failure after the gateway call
    rolls back what this call wrote, cancels the unconfirmed payment and raises
    a ``PaykitError`` (never a driver error).
    """
    data = validate(
        PlaceOrderInput,
        {
            "customer_id": customer_id,
            "items": list(items),
            "billing_address": billing_address,
            "shipping_address": shipping_address,
            "discount_code": discount_code,
            "payment_method_id": payment_method_id,
            "notes": notes,
            "metadata": dict(metadata or {}),
        },
    )
    call = _Call(session, data, gateway, resolve_clock(clock).now(), idempotency_key, context)
    replayed = call.claim()
    if replayed is not None:
        return replayed
    try:
        return call.run()
    except _REFUSALS as exc:
        if idempotency_key is not None and "order_id" in exc.details:
            _idempotency.record(
                session,
                scope=SCOPE_PLACE_ORDER,
                key=idempotency_key,
                resource_id=str(exc.details["order_id"]),
                outcome=_error_outcome(exc),
            )
            session.flush()
        raise


class _Claim(TypedDict):
    """The arguments of ``_idempotency.claim`` and ``claim_params`` for one call."""

    scope: str
    key: str
    fingerprint: str
    now: datetime
    resource_id: str | None
    user_id: str | None


class _Call:
    """One ``place_order`` call: its idempotency claim, then the order."""

    def __init__(
        self,
        session: Session,
        data: PlaceOrderInput,
        gateway: PaymentGateway,
        now: datetime,
        key: str | None,
        context: RequestContext | None,
    ) -> None:
        self.session = session
        self.data = data
        self.gateway = gateway
        self.now = now
        self.key = key
        self.context = context
        self.order_id = new_id()
        self.fingerprint = ""
        self.claim_params: dict[str, Any] | None = None

    def claim(self) -> OrderResult | None:
        """Prepare the idempotency claim: on PostgreSQL it rides along with the first
        read; elsewhere the key is claimed now, and a key already taken replays."""
        if self.key is None:
            return None
        self.fingerprint = _idempotency.request_hash(self.data.model_dump(mode="json"))
        if self.session.connection().dialect.name != "postgresql":
            return self._claim_or_replay()
        self.claim_params = _idempotency.claim_params(**self._claim())
        return None

    def _claim(self) -> _Claim:
        """What this call claims: its key, request fingerprint and order."""
        assert self.key is not None
        return _Claim(
            scope=SCOPE_PLACE_ORDER,
            key=self.key,
            fingerprint=self.fingerprint,
            now=self.now,
            resource_id=self.order_id,
            user_id=self.data.customer_id,
        )

    def run(self) -> OrderResult:
        """Place the order; a key that turns out to be taken replays instead."""
        try:
            return self._place(self.claim_params)
        except KeyTaken:
            replayed = self._claim_or_replay()
            return replayed if replayed is not None else self._place(None)

    def _claim_or_replay(self) -> OrderResult | None:
        """Claim the key on its own; a key already taken replays its order (or, if
        that call never finished, hands its order id over to carry on with)."""
        record = _idempotency.claim(self.session, **self._claim())
        if record is None:
            return None
        replayed = _replay(self.session, record, self.gateway)
        self.order_id = record.resource_id or self.order_id
        return replayed

    def _place(self, claim: Mapping[str, Any] | None) -> OrderResult:
        return _place(
            self.session,
            self.data,
            self.gateway,
            self.now,
            self.order_id,
            self.key,
            self.context,
            claim,
        )


def _error_outcome(exc: PaykitError) -> dict[str, Any]:
    return {
        "error": type(exc).__name__,
        "code": exc.code,
        "message": exc.message,
        "details": exc.details,
    }


def _raise_recorded(outcome: Mapping[str, Any]) -> None:
    error = outcome.get("error")
    classes: dict[str, type[PaykitError]] = {
        "PaymentDeclined": PaymentDeclined,
        "InsufficientStock": InsufficientStock,
        "DiscountError": DiscountError,
    }
    details = dict(outcome.get("details") or {})
    if error == "PaymentDeclined":
        raise PaymentDeclined(
            str(outcome.get("message")),
            decline_code=details.get("decline_code"),
            details=details,
        )
    cls = classes.get(str(error), PaykitError)
    raise cls(str(outcome.get("message")), code=str(outcome.get("code")), details=details)


def _replay(session: Session, record: Any, gateway: PaymentGateway) -> OrderResult | None:
    if record.outcome and record.outcome.get("error"):
        _raise_recorded(record.outcome)
    order = session.get(Order, record.resource_id) if record.resource_id else None
    if order is None:
        return None  # the first call never finished; this call carries on as the owner
    if order.stripe_payment_intent_id is None:
        return OrderResult(order, PaymentInfo(None, "none"), replayed=True)
    payment = gateway.retrieve_payment(order.stripe_payment_intent_id)
    return OrderResult(order, PaymentInfo.from_gateway(payment), replayed=True)


def _place(
    session: Session,
    data: PlaceOrderInput,
    gateway: PaymentGateway,
    now: datetime,
    order_id: str,
    idempotency_key: str | None,
    context: RequestContext | None,
    claim: Mapping[str, Any] | None,
) -> OrderResult:
    # The reads below go straight to the connection, past autoflush: flush the
    # host's pending changes first so they are seen, as an ORM query would.
    if session.new or session.dirty or session.deleted:
        session.flush()
    lines = [(line.price_id, line.quantity) for line in data.items]
    customer, prices, discount, priced = price_checked(
        session, data.customer_id, lines, data.discount_code, now, claim
    )
    order = _new_order(data, priced, customer.id, order_id, now)
    payment: GatewayPayment | None = None
    gateway_key = f"paykit:order:{idempotency_key or order_id}"
    if priced.total == 0:
        # Nothing to charge: the order completes now, without any gateway call.
        _complete(order, prices, priced, now)
    else:
        payment = _create_payment(
            session, gateway, priced, customer, data, gateway_key, idempotency_key is not None
        )
        order.stripe_payment_intent_id = payment.id
    audit = build_audit(
        session,
        action="order.created",
        resource="orders",
        resource_id=order_id,
        now=now,
        actor_id=customer.id,
        new={**_audit_new(order, priced), "status": order.status.value},
        context=context,
    )
    try:
        insert_and_reserve(
            session,
            rows=(order, *order.items, audit),
            stock=stock_to_take(prices, lines),
            discount=discount,
            customer_id=customer.id,
            order_id=order_id,
            amount_saved=priced.discount,
            now=now,
        )
    except (InsufficientStock, DiscountError) as exc:
        # Lost the race for the last unit or use: nobody was charged. Keep a
        # cancelled record of the attempt, and void its (unconfirmed) payment.
        _void(gateway, payment, gateway_key)
        _record_refused(session, order, priced, now, exc, context)
        raise type(exc)(
            exc.message, code=exc.code, details={**exc.details, "order_id": order_id}
        ) from exc
    except Exception as exc:
        _void(gateway, payment, gateway_key)
        raise _not_recorded(exc, order_id) from exc
    return OrderResult(
        order, PaymentInfo.from_gateway(payment) if payment else PaymentInfo(None, "none")
    )


def _create_payment(
    session: Session,
    gateway: PaymentGateway,
    priced: PricedOrder,
    customer: Customer,
    data: PlaceOrderInput,
    gateway_key: str,
    replayable: bool,
) -> GatewayPayment:
    """Create the order's payment, unconfirmed: no money moves until :func:`pay_order`
    (or the customer's browser) confirms it, after the order and its reservation
    are committed."""

    def create(key: str) -> GatewayPayment:
        return gateway.create_payment(
            amount_minor=to_minor_units(priced.total, priced.currency),
            currency=priced.currency,
            customer_id=customer.stripe_customer_id,
            payment_method_id=data.payment_method_id,
            confirm=False,
            # Only values a retry reproduces: the gateway compares parameters per key.
            metadata={"paykit_customer_id": customer.id, "paykit_reference": gateway_key},
            idempotency_key=key,
        )

    try:
        payment = create(gateway_key)
    except IdempotencyConflict:
        if not replayable or customer.stripe_customer_id is None:
            raise
        # A rolled-back first attempt used this key before the customer had a
        # gateway customer (one was committed in between, by a subscription say):
        # its parameters cannot be reproduced. That payment was never confirmed
        # (reconcile cancels it); a key derived from the customer keeps retries
        # deterministic.
        payment = create(f"{gateway_key}:customer:{customer.stripe_customer_id}")
    if not replayable:
        return payment  # a key made of the new order's id: never an earlier payment
    # A retry with the host's key may get the first attempt's answer replayed,
    # as it was then: read what the payment is now.
    payment = gateway.retrieve_payment(payment.id)
    if payment.status not in _FRESH or _payment_taken(session, payment.id):
        # The key replayed a payment that is no longer fresh (reconciliation
        # cancelled or refunded it after a host rolled back), or one that
        # another order holds: never build an order on it. A new key, derived
        # from the old payment, keeps retries deterministic.
        payment = create(f"{gateway_key}:after:{payment.id}")
    return payment


def _payment_taken(session: Session, payment_id: str) -> bool:
    return (
        session.connection().execute(PAYMENT_TAKEN, {"payment_id": payment_id}).first() is not None
    )


def _order_number(now: datetime) -> str:
    suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))
    return f"PK-{now:%y%m%d}-{suffix}"


def _new_order(
    data: PlaceOrderInput, priced: PricedOrder, customer_id: str, order_id: str, now: datetime
) -> Order:
    order = Order(
        id=order_id,
        user_id=customer_id,
        order_number=_order_number(now),
        status=OrderStatus.PENDING,
        payment_status=PaymentStatus.PENDING,
        refunded_amount=Decimal(0),
        currency=priced.currency,
        subtotal=priced.subtotal,
        discount_amount=priced.discount,
        tax_amount=priced.tax,
        total_amount=priced.total,
        billing_address=data.billing_address.model_dump(mode="json", exclude_none=True),
        shipping_address=data.shipping_address.model_dump(mode="json", exclude_none=True)
        if data.shipping_address
        else None,
        notes=data.notes,
        metadata_=dict(data.metadata),
        payment_method="card" if data.payment_method_id and priced.total > 0 else None,
        created_at=now,
        updated_at=now,
    )
    for line in priced.lines:
        order.items.append(
            OrderItem(
                order_id=order_id,
                product_id=line.product_id,
                price_id=line.price_id,
                quantity=line.quantity,
                unit_price=line.unit_price,
                total_price=line.subtotal,
                created_at=now,
            )
        )
    return order


def _audit_new(order: Order, priced: PricedOrder) -> dict[str, Any]:
    return {
        "order_number": order.order_number,
        "total_amount": priced.total,
        "currency": priced.currency,
        "discount_code": priced.discount_code,
    }


def _complete(order: Order, prices: Mapping[str, Any], priced: PricedOrder, now: datetime) -> None:
    """A free order: COMPLETED / SUCCEEDED at once, digital access granted."""
    order.status = OrderStatus.COMPLETED
    order.payment_status = PaymentStatus.SUCCEEDED
    order.completed_at = now
    for item, line in zip(order.items, priced.lines, strict=True):
        row = prices[str(line.price_id)]
        if row.product_type is ProductType.DIGITAL_DOWNLOAD and row.access_duration is not None:
            item.access_expires_at = now + timedelta(days=row.access_duration)


def _void(gateway: PaymentGateway, payment: GatewayPayment | None, gateway_key: str) -> None:
    """Cancel an unconfirmed payment whose order was not written (no money moved).

    Best effort: if the gateway cannot be reached now, ``reconcile`` cancels
    the orphan later (it carries paykit's metadata and no order has it)."""
    if payment is None:
        return
    with contextlib.suppress(PaykitError):
        gateway.cancel_payment(payment.id, idempotency_key=f"{gateway_key}:cancel")


def _not_recorded(exc: Exception, order_id: str) -> PaykitError:
    if isinstance(exc, PaykitError):
        return exc
    return PaykitError(
        f"the order could not be recorded ({type(exc).__name__}); nothing was charged",
        code="order_not_recorded",
        details={"order_id": order_id, "cause": type(exc).__name__},
    )


def _record_refused(
    session: Session,
    order: Order,
    priced: PricedOrder,
    now: datetime,
    reason: PaykitError,
    context: RequestContext | None,
) -> None:
    """After the savepoint rolled back: the attempt as a CANCELLED order, for the
    customer's history and the idempotency record."""
    order.status = OrderStatus.CANCELLED
    order.payment_status = PaymentStatus.CANCELLED
    order.completed_at = None
    order.cancelled_at = now
    for item in order.items:
        item.access_expires_at = None
    audit = build_audit(
        session,
        action="order.created",
        resource="orders",
        resource_id=order.id,
        now=now,
        actor_id=order.user_id,
        new={**_audit_new(order, priced), "status": "CANCELLED", "reason": reason.code},
        context=context,
    )
    insert_rows(session, order, *order.items, audit)
