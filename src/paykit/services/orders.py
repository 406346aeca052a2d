"""Orders: place, pay, cancel, discount. See docs/orders.md for the lifecycle and locking.

Locking in one sentence: every read and every gateway call happens first, with
no row lock held (only the caller's own fresh idempotency key row), and the
counters that guard money (stock, discount uses, per-customer uses) are
changed last, by conditional updates in a fixed order (customer, products by
id, discount), inside a savepoint, so their row locks live only from there to
the host's commit.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, make_transient

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import (
    DiscountError,
    GatewayError,
    InsufficientStock,
    InvalidAmount,
    InvalidState,
    NotFound,
    PaykitError,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways._checks import MAX_AMOUNT
from paykit.gateways.base import GatewayPayment, PaymentGateway, PaymentIntentStatus
from paykit.models import (
    AuditLog,
    Discount,
    DiscountUsage,
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    Price,
    PriceType,
    Product,
    ProductDiscount,
    ProductStatus,
    ProductType,
    RefundReason,
    User,
    UserStatus,
    new_id,
)
from paykit.models.discounts import code_matches
from paykit.money import check_chargeable, from_minor_units, to_minor_units
from paykit.pricing import DiscountRule, DiscountUsageCounts, LineInput, PricedOrder, price_order
from paykit.schemas.base import check_text, validate
from paykit.schemas.orders import PlaceOrderInput
from paykit.security.policy import Action, Actor, acting_user_id, authorize_owner
from paykit.services import _idempotency
from paykit.services._audit import build_audit, record_audit
from paykit.services._sql import affected, insert_objects, savepoint

__all__ = [
    "OrderResult",
    "PaymentInfo",
    "apply_discount",
    "apply_payment",
    "cancel_order",
    "fail_order_payment",
    "mark_order_paid",
    "place_order",
    "sync_order_payment",
]

SCOPE_PLACE_ORDER = "place_order"
_OPEN = (OrderStatus.PENDING, OrderStatus.PROCESSING)
_PAID = (PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED)
# Crockford's base 32: no I, L, O, U, so order numbers read aloud cleanly.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


@dataclass(frozen=True, slots=True)
class PaymentInfo:
    """The gateway payment behind an order, as far as a host's checkout page needs it."""

    id: str | None
    status: str
    client_secret: str | None = None
    decline_code: str | None = None

    @classmethod
    def from_gateway(cls, payment: GatewayPayment) -> PaymentInfo:
        """Build from the gateway's result."""
        return cls(payment.id, str(payment.status), payment.client_secret, payment.decline_code)


@dataclass(frozen=True, slots=True)
class OrderResult:
    """What :func:`place_order` returns: the order and its payment."""

    order: Order
    payment: PaymentInfo
    replayed: bool = False


# --- reading and pricing -----------------------------------------------------------


def _order_number(now: datetime) -> str:
    suffix = "".join(secrets.choice(_NUMBER_ALPHABET) for _ in range(8))
    return f"PK-{now:%y%m%d}-{suffix}"


# Statements built once: place_order is the hot path, and a prebuilt statement
# skips construction and cache-key work on every call.
_CATALOG = (
    sa.select(
        Price.id.label("price_id"),
        Price.unit_amount,
        Price.currency,
        Price.active,
        Price.type.label("price_type"),
        Product.id.label("product_id"),
        Product.slug,
        Product.status,
        Product.deleted_at,
        Product.tax_rate,
        Product.type.label("product_type"),
        Product.access_duration,
        Product.track_inventory,
        Product.stock_quantity,
    )
    .join(Product, Product.id == Price.product_id)
    .where(Price.id.in_(sa.bindparam("price_ids", expanding=True)))
)
_CUSTOMER = sa.select(User.id, User.status, User.deleted_at, User.stripe_customer_id).where(
    User.id == sa.bindparam("customer_id")
)
# The customer rides along with the catalog rows: one round trip fewer per order.
_CATALOG_AND_CUSTOMER = _CATALOG.add_columns(
    *(
        sa.select(column)
        .where(User.id == sa.bindparam("customer_id"))
        .scalar_subquery()
        .label(f"customer_{column.key}")
        for column in (User.id, User.status, User.deleted_at, User.stripe_customer_id)
    )
)
_DISCOUNT = (
    sa.select(
        Discount.id,
        Discount.code,
        Discount.type,
        Discount.value,
        Discount.currency,
        Discount.active,
        Discount.valid_from,
        Discount.valid_until,
        Discount.minimum_amount,
        Discount.first_time_only,
        Discount.max_uses,
        Discount.max_uses_per_customer,
        Discount.current_uses,
        ProductDiscount.product_id,
    )
    .outerjoin(ProductDiscount, ProductDiscount.discount_id == Discount.id)
    .where(code_matches(sa.bindparam("code")))
)

_DISCOUNT_FIELDS = (
    "id",
    "code",
    "type",
    "value",
    "currency",
    "active",
    "valid_from",
    "valid_until",
    "minimum_amount",
    "first_time_only",
    "max_uses",
    "max_uses_per_customer",
    "current_uses",
)
# The discount as one row (its product restrictions folded into one string),
# joined onto every catalog row: place_order reads everything in one query.
_DISCOUNT_ROW = (
    sa.select(
        *(getattr(Discount, name).label(f"discount_{name}") for name in _DISCOUNT_FIELDS),
        sa.func.aggregate_strings(ProductDiscount.product_id, ",").label("discount_products"),
    )
    .outerjoin(ProductDiscount, ProductDiscount.discount_id == Discount.id)
    .where(code_matches(sa.bindparam("code")))
    .group_by(Discount.id)
    .subquery("discount")
)
_CATALOG_CUSTOMER_DISCOUNT = _CATALOG_AND_CUSTOMER.add_columns(*_DISCOUNT_ROW.c).outerjoin(
    _DISCOUNT_ROW, sa.true()
)


def _with_claim(statement: Any) -> Any:
    # PostgreSQL: the idempotency claim rides along with the read, one round
    # trip fewer; "claimed" is NULL when another call holds the key.
    cte = _idempotency.claim_cte()
    return statement.add_columns(sa.select(cte.c.id).scalar_subquery().label("claimed")).add_cte(
        cte
    )


# (discount code given?, claim riding along?) -> the read statement
_READS = {
    (False, False): _CATALOG_AND_CUSTOMER,
    (True, False): _CATALOG_CUSTOMER_DISCOUNT,
    (False, True): _with_claim(_CATALOG_AND_CUSTOMER),
    (True, True): _with_claim(_CATALOG_CUSTOMER_DISCOUNT),
}


class _KeyTaken(Exception):
    """The idempotency key claimed with the read was already taken: replay instead."""


# The guards: a conditional update whose row count says whether it won.
_TAKE_STOCK = (
    sa.update(Product)
    .where(
        Product.id == sa.bindparam("product_id"),
        Product.track_inventory.is_(True),
        Product.stock_quantity >= sa.bindparam("quantity"),
    )
    .values(
        stock_quantity=Product.stock_quantity - sa.bindparam("quantity"),
        updated_at=sa.bindparam("now"),
    )
)
_TAKE_USE = (
    sa.update(Discount)
    .where(
        Discount.id == sa.bindparam("discount_id"),
        Discount.active.is_(True),
        sa.or_(Discount.max_uses.is_(None), Discount.current_uses < Discount.max_uses),
    )
    .values(current_uses=Discount.current_uses + 1, updated_at=sa.bindparam("now"))
)


_USAGE_COLUMNS = ("id", "discount_id", "user_id", "order_id", "amount_saved", "created_at")
# Parameters are named u_<column>: an UPDATE given a parameter named like one of
# its table's columns would SET that column.
_RECORD_USE = sa.insert(DiscountUsage).values(
    {name: sa.bindparam(f"u_{name}") for name in _USAGE_COLUMNS}
)


def _record_use_from(taken: Any) -> Any:
    """INSERT the usage row once per row of ``taken`` (a discount UPDATE's
    RETURNING): no use taken, no row recorded."""
    column = DiscountUsage.__table__.c
    values = [
        sa.bindparam(f"u_{name}", type_=column[name].type) if name != "discount_id" else taken.c.id
        for name in _USAGE_COLUMNS
    ]
    return (
        sa.insert(DiscountUsage)
        .from_select(list(_USAGE_COLUMNS), sa.select(*values))
        .returning(DiscountUsage.id)
    )


def _take_and_record_use() -> Any:
    # PostgreSQL: take the use and record it in one statement (a data-modifying CTE).
    taken = _TAKE_USE.returning(Discount.id).cte("taken")
    return _record_use_from(taken).add_cte(taken)


_TAKE_AND_RECORD_USE = _take_and_record_use()


def _take_stock_and_use() -> Any:
    # PostgreSQL, one product and a discount (the common checkout): stock, the
    # discount use and its record in one statement. The discount's UPDATE
    # reads the stock UPDATE's RETURNING, so the product row is locked before
    # the discount row, the same fixed order as the separate statements, and
    # no use is taken when the stock was not.
    stock = _TAKE_STOCK.returning(Product.id).cte("stock_taken")
    taken = _TAKE_USE.where(sa.exists(sa.select(stock.c.id))).returning(Discount.id).cte("taken")
    recorded = _record_use_from(taken).cte("recorded")
    return sa.select(
        sa.select(sa.func.count()).select_from(stock).scalar_subquery().label("stock"),
        sa.select(sa.func.count()).select_from(recorded).scalar_subquery().label("uses"),
    ).add_cte(taken)


_TAKE_STOCK_AND_USE = _take_stock_and_use()


@dataclass(frozen=True, slots=True)
class _DiscountRef:
    """What the services need of a Discount row (read in one query with its products)."""

    id: str
    current_uses: int
    rule: DiscountRule

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def first_time_only(self) -> bool:
        return self.rule.first_time_only

    @property
    def max_uses_per_customer(self) -> int | None:
        return self.rule.max_uses_per_customer


@dataclass(frozen=True, slots=True)
class _Customer:
    id: str
    status: UserStatus
    deleted_at: datetime | None
    stripe_customer_id: str | None


def _check_customer(customer_id: str, customer: _Customer | None) -> _Customer:
    if customer is None:
        raise NotFound(f"customer {customer_id} not found", details={"customer_id": customer_id})
    if customer.status is not UserStatus.ACTIVE or customer.deleted_at is not None:
        raise InvalidState(
            f"customer {customer_id} is {customer.status.value.lower()}",
            code="customer_not_active",
            details={"customer_id": customer_id},
        )
    return customer


def _read_inputs(
    session: Session,
    customer_id: str,
    price_ids: Sequence[str],
    code: str | None,
    claim: Mapping[str, Any] | None = None,
) -> tuple[_Customer, dict[str, Any], _DiscountRef | None]:
    """The customer, each price with its product's columns, and the discount: one
    query for all three, checked. With ``claim`` (PostgreSQL) the same statement
    claims the idempotency key, and ``_KeyTaken`` says it was taken."""
    params = {"price_ids": list(price_ids), "customer_id": customer_id, "code": code}
    if claim is not None:
        params.update(claim)
    statement = _READS[code is not None, claim is not None]
    rows = session.connection().execute(statement, params).all()
    if claim is not None and (not rows or rows[0].claimed is None):
        if rows:
            raise _KeyTaken
        # No catalog row came back, so the claim's outcome is unseen: settle it.
        taken = (
            session.connection()
            .execute(
                sa.select(IdempotencyKey.id).where(
                    IdempotencyKey.scope == claim["k_scope"],
                    IdempotencyKey.key == claim["k_key"],
                    IdempotencyKey.id != claim["k_id"],
                )
            )
            .first()
        )
        if taken is not None:
            raise _KeyTaken
    if rows:
        first = rows[0]
        found = (
            _Customer(
                first.customer_id,
                UserStatus(first.customer_status),
                first.customer_deleted_at,
                first.customer_stripe_customer_id,
            )
            if first.customer_id is not None
            else None
        )
    else:
        row = session.connection().execute(_CUSTOMER, params).first()
        found = _Customer(*row) if row is not None else None
    customer = _check_customer(customer_id, found)
    prices = _check_prices(rows, price_ids)
    discount = None
    if code is not None:
        d = rows[0]
        if d.discount_id is None:
            raise DiscountError(f"discount code {code!r} does not exist", code="discount_not_found")
        products = d.discount_products
        discount = _discount_ref(
            {name: getattr(d, f"discount_{name}") for name in _DISCOUNT_FIELDS},
            frozenset(products.split(",")) if products else frozenset(),
        )
    return customer, prices, discount


def _discount_ref(d: Mapping[str, Any], product_ids: frozenset[str]) -> _DiscountRef:
    rule = DiscountRule(
        code=d["code"],
        type=d["type"].value,
        value=d["value"],
        currency=d["currency"],
        active=d["active"],
        valid_from=d["valid_from"],
        valid_until=d["valid_until"],
        minimum_amount=d["minimum_amount"],
        first_time_only=d["first_time_only"],
        max_uses=d["max_uses"],
        max_uses_per_customer=d["max_uses_per_customer"],
        product_ids=product_ids,
    )
    return _DiscountRef(d["id"], d["current_uses"], rule)


def _check_prices(rows: Sequence[Any], price_ids: Sequence[str]) -> dict[str, Any]:
    found = {row.price_id: row for row in rows}
    for price_id in price_ids:
        row = found.get(price_id)
        if row is None:
            raise NotFound(f"price {price_id} not found", details={"price_id": price_id})
        if not row.active:
            raise ValidationError(
                f"price {price_id} is not active",
                code="price_inactive",
                details={"price_id": price_id},
            )
        if row.status is not ProductStatus.PUBLISHED or row.deleted_at is not None:
            raise ValidationError(
                f"product {row.slug} is not published",
                code="product_not_available",
                details={"product_id": row.product_id},
            )
        if row.price_type is PriceType.RECURRING:
            raise ValidationError(
                f"price {price_id} is recurring: subscribe to it instead of ordering it",
                code="recurring_price",
                details={"price_id": price_id},
            )
    return found


def _discount(session: Session, code: str) -> _DiscountRef:
    rows = session.connection().execute(_DISCOUNT, {"code": code}).all()
    if not rows:
        raise DiscountError(f"discount code {code!r} does not exist", code="discount_not_found")
    return _discount_ref(
        dict(rows[0]._mapping), frozenset(r.product_id for r in rows if r.product_id is not None)
    )


def _customer_uses(
    session: Session, discount_id: str, customer_id: str, exclude_order: str | None = None
) -> int:
    query = sa.select(sa.func.count()).where(
        DiscountUsage.discount_id == discount_id, DiscountUsage.user_id == customer_id
    )
    if exclude_order is not None:
        query = query.where(
            sa.or_(DiscountUsage.order_id.is_(None), DiscountUsage.order_id != exclude_order)
        )
    return int(session.scalar(query) or 0)


def _usage(
    session: Session, discount: _DiscountRef, customer_id: str, exclude_order: str | None = None
) -> DiscountUsageCounts:
    has_paid = False
    if discount.first_time_only:
        has_paid = _has_earlier_order(session, discount.id, customer_id, exclude_order)
    customer_uses = 0
    if discount.max_uses_per_customer is not None:
        customer_uses = _customer_uses(session, discount.id, customer_id, exclude_order)
    return DiscountUsageCounts(
        total_uses=discount.current_uses,
        customer_uses=customer_uses,
        customer_has_paid_order=has_paid,
    )


def _has_earlier_order(
    session: Session, discount_id: str, customer_id: str, exclude_order: str | None
) -> bool:
    """For first-time-only codes: a paid order, or an open order that already holds
    a use of this code (two unpaid orders cannot both be the "first")."""
    paid = sa.select(Order.id).where(Order.user_id == customer_id, Order.payment_status.in_(_PAID))
    holding = (
        sa.select(Order.id)
        .join(DiscountUsage, DiscountUsage.order_id == Order.id)
        .where(
            Order.user_id == customer_id,
            Order.status.in_(_OPEN),
            DiscountUsage.discount_id == discount_id,
        )
    )
    if exclude_order is not None:
        paid = paid.where(Order.id != exclude_order)
        holding = holding.where(Order.id != exclude_order)
    query = sa.select(sa.or_(sa.exists(paid), sa.exists(holding)))
    return bool(session.connection().execute(query).scalar())


def _line_inputs(lines: Sequence[tuple[str, int]], prices: Mapping[str, Any]) -> list[LineInput]:
    return [
        LineInput(
            key=price_id,
            product_id=prices[price_id].product_id,
            price_id=price_id,
            unit_price=prices[price_id].unit_amount,
            quantity=quantity,
            currency=prices[price_id].currency,
            tax_rate=prices[price_id].tax_rate,
        )
        for price_id, quantity in lines
    ]


def _check_stock(prices: Mapping[str, Any], lines: Sequence[tuple[str, int]]) -> None:
    # Advisory, to fail before anyone's payment is created; the conditional
    # update decides. All lines of one product count together (two prices of
    # one product draw on one stock).
    stock = {row.product_id: row.stock_quantity for row in prices.values()}
    for product_id, wanted in _stock_to_take(prices, lines):
        if stock[product_id] < wanted:
            raise _out_of_stock(product_id, wanted, stock[product_id])


def _column_limit(column: Any) -> Decimal:
    """The largest value a Numeric(p, s) column holds."""
    precision: int = column.type.precision
    scale: int = column.type.scale
    return Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)


_ORDER_LIMIT = _column_limit(Order.__table__.c.total_amount)
_LINE_LIMIT = _column_limit(OrderItem.__table__.c.total_price)


def _check_storable(priced: PricedOrder) -> None:
    """Every amount the order will store fits its column, and the total fits a
    payment: checked before the gateway is called, so nothing fails after it."""
    amounts = {
        "subtotal": priced.subtotal,
        "discount_amount": priced.discount,
        "tax_amount": priced.tax,
        "total_amount": priced.total,
    }
    for name, amount in amounts.items():
        if amount > _ORDER_LIMIT:
            raise InvalidAmount(
                f"the order's {name} {amount} {priced.currency} exceeds the largest "
                f"storable amount {_ORDER_LIMIT}",
                code="amount_too_large",
                details={"field": name, "limit": str(_ORDER_LIMIT)},
            )
    for line in priced.lines:
        if line.subtotal > _LINE_LIMIT:
            raise InvalidAmount(
                f"line {line.price_id} totals {line.subtotal} {priced.currency}, more than "
                f"the largest storable amount {_LINE_LIMIT}",
                code="amount_too_large",
                details={"field": "total_price", "price_id": line.price_id},
            )
    if to_minor_units(priced.total, priced.currency) > MAX_AMOUNT:
        raise InvalidAmount(
            f"{priced.total} {priced.currency} is more than a single payment may be",
            code="amount_too_large",
            details={"field": "total_amount", "limit_minor": MAX_AMOUNT},
        )
    check_chargeable(priced.total, priced.currency)


def _out_of_stock(product_id: str, wanted: int, left: int | None = None) -> InsufficientStock:
    details: dict[str, Any] = {"product_id": product_id, "requested": wanted}
    if left is not None:
        details["available"] = left
    return InsufficientStock(f"not enough stock of product {product_id}", details=details)


# --- the counters that guard money ---------------------------------------------------


def _stock_by_product(session: Session, order_id: str) -> list[tuple[str, int]]:
    rows = session.execute(
        sa.select(OrderItem.product_id, sa.func.sum(OrderItem.quantity))
        .join(Product, Product.id == OrderItem.product_id)
        .where(OrderItem.order_id == order_id, Product.track_inventory.is_(True))
        .group_by(OrderItem.product_id)
        .order_by(OrderItem.product_id)
    ).all()
    return [(product_id, int(qty)) for product_id, qty in rows]


def _reserve(
    session: Session,
    *,
    stock: Sequence[tuple[str, int]],
    discount: _DiscountRef | None,
    customer_id: str,
    order_id: str,
    amount_saved: Decimal,
    now: datetime,
) -> None:
    """Take stock and a discount use, or raise; locks in the fixed order customer,
    products by id, discount. Runs inside the caller's savepoint (see _reserve_or_undo)."""
    if discount is not None and (
        discount.max_uses_per_customer is not None or discount.first_time_only
    ):
        # Serializes one customer's parallel orders so the per-customer counts are exact.
        session.execute(
            sa.select(User.id).where(User.id == customer_id).with_for_update(key_share=True)
        )
        limit = discount.max_uses_per_customer
        if limit is not None and _customer_uses(session, discount.id, customer_id) >= limit:
            raise DiscountError(
                f"discount {discount.code!r} was already used the maximum number of times "
                "by this customer",
                code="discount_customer_limit",
            )
        if discount.first_time_only and _has_earlier_order(
            session, discount.id, customer_id, order_id
        ):
            raise DiscountError(
                f"discount {discount.code!r} is for a customer's first order only",
                code="discount_first_time_only",
            )
    connection = session.connection()
    usage = None
    if discount is not None:
        take = {"discount_id": discount.id, "now": now}
        usage = {
            "u_id": new_id(),
            "u_discount_id": discount.id,
            "u_user_id": customer_id,
            "u_order_id": order_id,
            "u_amount_saved": amount_saved,
            "u_created_at": now,
        }
        if len(stock) == 1 and connection.dialect.name == "postgresql":
            ((product_id, quantity),) = stock
            row = connection.execute(
                _TAKE_STOCK_AND_USE,
                {**take, **usage, "product_id": product_id, "quantity": quantity},
            ).one()
            if row.stock != 1:
                raise _out_of_stock(product_id, quantity)
            if row.uses != 1:
                raise _used_up(discount)
            return
    for product_id, quantity in sorted(stock):
        taken = connection.execute(
            _TAKE_STOCK, {"product_id": product_id, "quantity": quantity, "now": now}
        ).rowcount
        if taken != 1:
            raise _out_of_stock(product_id, quantity)
    if discount is not None:
        assert usage is not None
        take = {"discount_id": discount.id, "now": now}
        if connection.dialect.name == "postgresql":
            used = len(connection.execute(_TAKE_AND_RECORD_USE, {**take, **usage}).all())
        else:
            used = connection.execute(_TAKE_USE, take).rowcount
            if used == 1:
                # Core, kept out of the identity map: a refused reservation
                # rolls it back with its savepoint.
                connection.execute(_RECORD_USE, usage)
        if used != 1:
            raise _used_up(discount)


def _used_up(discount: _DiscountRef) -> DiscountError:
    return DiscountError(f"discount {discount.code!r} has been used up", code="discount_exhausted")


def _release(session: Session, order: Order, now: datetime) -> None:
    """Give back an order's stock and discount use. Call only after winning the
    conditional status change that makes this happen once."""
    for product_id, quantity in _stock_by_product(session, order.id):
        affected(
            session,
            sa.update(Product)
            .where(Product.id == product_id)
            .values(stock_quantity=Product.stock_quantity + quantity, updated_at=now),
        )
    _release_discount(session, order.id, now)


def _release_discount(session: Session, order_id: str, now: datetime) -> None:
    usages = session.execute(
        sa.select(DiscountUsage.id, DiscountUsage.discount_id)
        .where(DiscountUsage.order_id == order_id)
        .order_by(DiscountUsage.discount_id)
    ).all()
    for usage_id, discount_id in usages:
        affected(
            session,
            sa.update(Discount)
            .where(Discount.id == discount_id, Discount.current_uses > 0)
            .values(current_uses=Discount.current_uses - 1, updated_at=now),
        )
        session.execute(sa.delete(DiscountUsage).where(DiscountUsage.id == usage_id))


# --- order state changes ------------------------------------------------------------


def _transition(
    session: Session,
    order_id: str,
    *,
    allowed: Sequence[OrderStatus],
    values: Mapping[str, Any],
    payment_not: Sequence[PaymentStatus] = (),
) -> bool:
    """Move an order out of ``allowed`` states; True only for the one caller that did."""
    statement = sa.update(Order).where(Order.id == order_id, Order.status.in_(allowed))
    if payment_not:
        statement = statement.where(Order.payment_status.not_in(payment_not))
    # Callers refresh the order once they are done with it.
    return affected(session, statement.values(**values)) == 1


def _move_open(
    session: Session, order_id: str, source: OrderStatus, target: OrderStatus, now: datetime
) -> bool:
    """PENDING <-> PROCESSING, the payment status following (the two share names)."""
    return _transition(
        session,
        order_id,
        allowed=(source,),
        values={
            "status": target,
            "payment_status": PaymentStatus(target.value),
            "updated_at": now,
        },
    )


def _grant_access(session: Session, order_id: str, now: datetime) -> None:
    rows = session.execute(
        sa.select(OrderItem, Product.access_duration)
        .join(Product, Product.id == OrderItem.product_id)
        .where(OrderItem.order_id == order_id, Product.type == ProductType.DIGITAL_DOWNLOAD)
    ).all()
    for item, days in rows:
        # None means lifetime access: no expiry.
        item.access_expires_at = None if days is None else now + timedelta(days=days)


def _order(session: Session, order_id: str) -> Order:
    query = sa.select(Order).where(Order.id == order_id)
    order = session.scalar(query.execution_options(populate_existing=True))
    if order is None:
        raise NotFound(f"order {order_id} not found", details={"order_id": order_id})
    return order


def _order_by_payment(session: Session, payment_id: str) -> Order:
    order = session.scalar(sa.select(Order).where(Order.stripe_payment_intent_id == payment_id))
    if order is None:
        raise NotFound(f"no order for payment {payment_id}", details={"payment_id": payment_id})
    return order


def _amount_matches(order: Order, payment: GatewayPayment) -> bool:
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
    from paykit.services.refunds import record_gateway_refund  # refunds imports orders

    refund = gateway.create_refund(
        payment_id=payment.id,
        amount_minor=payment.amount_minor,
        reason=None,
        metadata={"paykit_order_id": order.id, "paykit_reason": "payment_amount_mismatch"},
        idempotency_key=f"paykit:mismatch:{payment.id}",
    )
    now = resolve_clock(clock).now()
    _close_unpaid(
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
    if payment.currency.upper() != order.currency.upper() or payment.amount_minor != to_minor_units(
        order.total_amount, order.currency
    ):
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
        order = _order(session, order_id)
    if payment is not None:
        if payment.status is not PaymentIntentStatus.SUCCEEDED:
            raise InvalidState(
                f"payment {payment.id} is {payment.status}, not succeeded",
                details={"order_id": order.id},
            )
        _payment_matches(order, payment)
    won = _transition(
        session,
        order.id,
        allowed=_OPEN,
        values={
            "status": OrderStatus.COMPLETED,
            "payment_status": PaymentStatus.SUCCEEDED,
            "completed_at": now,
            "updated_at": now,
        },
    )
    if won:
        _grant_access(session, order.id, now)
        record_audit(
            session,
            action="order.paid",
            resource="orders",
            resource_id=order.id,
            now=now,
            actor_id=order.user_id,
            new={"status": "COMPLETED", "payment_status": "SUCCEEDED"},
            context=context,
        )
        session.flush()
    elif order.status is OrderStatus.CANCELLED:
        raise InvalidState(
            f"order {order.order_number} was cancelled before its payment succeeded",
            code="order_cancelled",
            details={"order_id": order.id},
        )
    session.refresh(order)
    return order


def _close_unpaid(
    session: Session,
    order: Order,
    *,
    payment_status: PaymentStatus,
    action: str,
    now: datetime,
    actor_id: str | None,
    context: RequestContext | None,
) -> bool:
    won = _transition(
        session,
        order.id,
        allowed=_OPEN,
        payment_not=_PAID,
        values={
            "status": OrderStatus.CANCELLED,
            "payment_status": payment_status,
            "cancelled_at": now,
            "updated_at": now,
        },
    )
    if won:
        _release(session, order, now)
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


_RETRYABLE = (
    PaymentIntentStatus.REQUIRES_PAYMENT_METHOD,
    PaymentIntentStatus.REQUIRES_CONFIRMATION,
    PaymentIntentStatus.REQUIRES_ACTION,
)


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
    if order_id is not None:
        order = _order(session, order_id)
    elif payment_id is not None:
        order = _order_by_payment(session, payment_id)
    elif payment is not None:
        order = _order_by_payment(session, payment.id)
    else:
        raise ValidationError("fail_order_payment needs order_id, payment_id or payment")
    if payment is None:
        if gateway is None:
            raise ValidationError(
                "fail_order_payment needs the gateway's payment or the gateway to read it",
                code="gateway_required",
                details={"order_id": order.id},
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
        if gateway is not None and order.status in _OPEN and not _amount_matches(order, payment):
            return _refund_mismatch(session, order, payment, gateway, clock, context)
        return mark_order_paid(
            session, order_id=order.id, payment=payment, clock=clock, context=context
        )
    if payment.status is PaymentIntentStatus.CANCELED:
        _close_unpaid(
            session,
            order,
            payment_status=PaymentStatus.CANCELLED,
            action="order.cancelled",
            now=now,
            actor_id=None,
            context=context,
        )
    elif payment.status is PaymentIntentStatus.PROCESSING and order.status is OrderStatus.PENDING:
        _move_open(session, order.id, OrderStatus.PENDING, OrderStatus.PROCESSING, now)
    session.refresh(order)
    return order


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
    order = _order(session, order_id)
    authorize_owner(
        session,
        actor_id,
        owner_id=order.user_id,
        action=Action.CANCEL_ANY_ORDER,
        missing=NotFound(f"order {order_id} not found", details={"order_id": order_id}),
    )
    if order.status is OrderStatus.CANCELLED:
        return order
    if order.status not in _OPEN or order.payment_status in _PAID:
        raise InvalidState(
            f"order {order.order_number} is {order.status.value}; refund it instead",
            details={"order_id": order.id},
        )
    if order.stripe_payment_intent_id is not None and gateway is None:
        # Without cancelling the payment first, it could still succeed after the
        # order gave its stock back.
        raise ValidationError(
            "cancel_order needs the gateway to cancel the order's payment first",
            code="gateway_required",
            details={"order_id": order.id},
        )
    if order.stripe_payment_intent_id is not None and gateway is not None:
        try:
            gateway.cancel_payment(
                order.stripe_payment_intent_id, idempotency_key=f"paykit:cancel:{order.id}"
            )
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
    _close_unpaid(
        session,
        order,
        payment_status=PaymentStatus.CANCELLED,
        action="order.cancelled",
        now=now,
        actor_id=actor_id,
        context=context,
    )
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
    order = _order(session, order_id)
    if order.stripe_payment_intent_id is None:
        return order
    payment = gateway.retrieve_payment(order.stripe_payment_intent_id)
    return apply_payment(
        session, order=order, payment=payment, gateway=gateway, clock=clock, context=context
    )


# --- place_order --------------------------------------------------------------------


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
    now = resolve_clock(clock).now()
    order_id = new_id()
    claim: dict[str, Any] | None = None
    if idempotency_key is not None:
        fingerprint = _idempotency.request_hash(data.model_dump(mode="json"))
        if session.connection().dialect.name == "postgresql":
            claim = _idempotency.claim_params(
                scope=SCOPE_PLACE_ORDER,
                key=idempotency_key,
                fingerprint=fingerprint,
                now=now,
                resource_id=order_id,
                user_id=data.customer_id,
            )
        else:
            replayed, order_id = _claim_or_replay(
                session, gateway, idempotency_key, fingerprint, now, order_id, data.customer_id
            )
            if replayed is not None:
                return replayed
    try:
        try:
            return _place(session, data, gateway, now, order_id, idempotency_key, context, claim)
        except _KeyTaken:
            assert idempotency_key is not None
            assert claim is not None
            replayed, order_id = _claim_or_replay(
                session,
                gateway,
                idempotency_key,
                claim["k_request_hash"],
                now,
                order_id,
                data.customer_id,
            )
            if replayed is not None:
                return replayed
            return _place(session, data, gateway, now, order_id, idempotency_key, context, None)
    except (PaymentDeclined, InsufficientStock, DiscountError) as exc:
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


def _claim_or_replay(
    session: Session,
    gateway: PaymentGateway,
    key: str,
    fingerprint: str,
    now: datetime,
    order_id: str,
    user_id: str,
) -> tuple[OrderResult | None, str]:
    """Claim ``key`` on its own; a key already taken replays its order (or, if that
    call never finished, hands its order id over to carry on with)."""
    record = _idempotency.claim(
        session,
        scope=SCOPE_PLACE_ORDER,
        key=key,
        fingerprint=fingerprint,
        now=now,
        resource_id=order_id,
        user_id=user_id,
    )
    if record is None:
        return None, order_id
    replayed = _replay(session, record, gateway)
    return replayed, record.resource_id or order_id


def _price_checked(
    session: Session,
    customer_id: str,
    lines: Sequence[tuple[str, int]],
    code: str | None,
    now: datetime,
    claim: Mapping[str, Any] | None = None,
) -> tuple[_Customer, dict[str, Any], _DiscountRef | None, PricedOrder]:
    """Read, price and check a cart without writing: the one pricing path that
    ``place_order`` and ``quote_order`` share, so a quote cannot drift from the order."""
    customer, prices, discount = _read_inputs(
        session, customer_id, [price_id for price_id, _ in lines], code, claim
    )
    priced = price_order(
        _line_inputs(lines, prices),
        discount=discount.rule if discount else None,
        usage=_usage(session, discount, customer.id) if discount else None,
        now=now,
    )
    _check_stock(prices, lines)
    _check_storable(priced)
    return customer, prices, discount, priced


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
    customer, prices, discount, priced = _price_checked(
        session, data.customer_id, lines, data.discount_code, now, claim
    )
    order = _new_order(data, priced, customer.id, order_id, now)
    free = priced.total == 0
    payment: GatewayPayment | None = None
    gateway_key = f"paykit:order:{idempotency_key or order_id}"
    if free:
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
        _insert_and_reserve(
            session,
            rows=(order, *order.items, audit),
            stock=_stock_to_take(prices, lines),
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


_FRESH = (PaymentIntentStatus.REQUIRES_PAYMENT_METHOD, PaymentIntentStatus.REQUIRES_CONFIRMATION)


def _create_payment(
    session: Session,
    gateway: PaymentGateway,
    priced: PricedOrder,
    customer: _Customer,
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

    payment = create(gateway_key)
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
    query = sa.select(Order.id).where(Order.stripe_payment_intent_id == payment_id)
    return session.connection().execute(query).first() is not None


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
    insert_objects(session, order, *order.items, audit)


_SAVEPOINT = "paykit_reserve"


def _insert_and_reserve(session: Session, *, rows: Sequence[object], **kwargs: Any) -> None:
    """Insert the order's rows and take its counters inside one savepoint.

    On any failure the savepoint is rolled back, which also releases the row
    locks taken since (PostgreSQL releases a rolled-back subtransaction's
    locks) and leaves the host's transaction usable, so the caller can void the
    payment and record the refusal. The savepoint is not released on success:
    it costs a round trip and the host's commit ends it anyway.
    """
    try:
        with savepoint(session, _SAVEPOINT):
            insert_objects(session, *rows)
            _reserve(session, **kwargs)
    except BaseException:
        for row in rows:
            if row in session:
                session.expunge(row)
            make_transient(row)  # so the caller may insert it again, as a refusal
        raise


def _reserve_or_undo(
    session: Session, *, release_first: bool = False, lock_order: str | None = None, **kwargs: Any
) -> None:
    """:func:`_reserve` inside a savepoint; on refusal, roll back to it, which also
    releases the row locks taken since.

    With ``lock_order`` (apply_discount) the order row is locked first -- the
    same order as cancel_order, which changes the order row before giving
    counters back -- and must still be PENDING and unpaid, so a use is never
    taken for an order that was cancelled meanwhile."""
    with savepoint(session, _SAVEPOINT) as connection:
        if lock_order is not None:
            still_open = connection.execute(
                sa.select(Order.id)
                .where(
                    Order.id == lock_order,
                    Order.status == OrderStatus.PENDING,
                    Order.payment_status == PaymentStatus.PENDING,
                )
                .with_for_update()
            ).first()
            if still_open is None:
                raise InvalidState(
                    "the order changed meanwhile; discounts apply to pending, unpaid orders only",
                    details={"order_id": lock_order},
                )
        if release_first:  # apply_discount: the old code's use goes back in the same step
            _release_discount(session, kwargs["order_id"], kwargs["now"])
        _reserve(session, **kwargs)


def _stock_to_take(
    prices: Mapping[str, Any], lines: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    wanted: dict[str, int] = {}
    for price_id, quantity in lines:
        row = prices[price_id]
        if row.track_inventory:
            wanted[row.product_id] = wanted.get(row.product_id, 0) + quantity
    return sorted(wanted.items())


# --- apply_discount -----------------------------------------------------------------


@checked
def apply_discount(
    session: Session,
    *,
    order_id: str,
    code: str,
    gateway: PaymentGateway | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> Order:
    """Apply discount ``code`` to a PENDING, unpaid order: re-price it, update the gateway
    payment's amount, and replace an earlier code (whose use is given back).

    ``gateway`` is required when the order has a payment (``gateway_required``):
    the order's total and the payment's amount never differ. The payment's
    amount is changed first, with a gateway key that is new for every change,
    then the order row is locked and re-checked (still PENDING: a cancellation
    that won the race refuses this call, and the amount is put back). A code
    that brings the total to 0.00 completes the order as a free order: its
    payment is cancelled at the gateway. Applying the code the order already
    has changes nothing. Refusals are the pricing engine's ``DiscountError`` codes.
    """
    now = resolve_clock(clock).now()
    order = _order(session, check_text(order_id, "order_id", max_length=64))
    _check_discountable(order)
    if order.stripe_payment_intent_id is not None and gateway is None:
        raise ValidationError(
            "apply_discount needs the gateway: the order has a payment whose amount must follow",
            code="gateway_required",
            details={"order_id": order.id},
        )
    discount = _discount(session, check_text(code, "code", max_length=64).strip())
    current = session.scalar(
        sa.select(DiscountUsage.discount_id).where(DiscountUsage.order_id == order.id)
    )
    if current == discount.id:
        return order
    priced = _reprice(session, order, discount, now)
    _check_storable(priced)
    old = {"discount_amount": order.discount_amount, "total_amount": order.total_amount}
    change = _AmountChange(session, order, gateway, priced.total)
    change.apply()
    try:
        _reserve_or_undo(
            session,
            release_first=current is not None,
            lock_order=order.id,
            stock=(),
            discount=discount,
            customer_id=order.user_id,
            order_id=order.id,
            amount_saved=priced.discount,
            now=now,
        )
    except BaseException:
        change.undo()
        raise
    _store_discount(session, order, priced, now)
    record_audit(
        session,
        action="order.discount_applied",
        resource="orders",
        resource_id=order.id,
        now=now,
        actor_id=order.user_id,
        old=old,
        new={
            "discount_code": discount.code,
            "discount_amount": priced.discount,
            "total_amount": priced.total,
            "status": order.status.value,
        },
        context=context,
    )
    session.flush()
    return order


def _check_discountable(order: Order) -> None:
    if order.status is not OrderStatus.PENDING or order.payment_status is not PaymentStatus.PENDING:
        raise InvalidState(
            f"order {order.order_number} is {order.status.value}/{order.payment_status.value}; "
            "discounts apply to pending, unpaid orders only",
            details={"order_id": order.id},
        )


def _reprice(session: Session, order: Order, discount: _DiscountRef, now: datetime) -> PricedOrder:
    items = session.scalars(
        sa.select(OrderItem).where(OrderItem.order_id == order.id).order_by(OrderItem.id)
    ).all()
    products = {
        p.id: p
        for p in session.scalars(
            sa.select(Product).where(Product.id.in_({i.product_id for i in items}))
        )
    }
    lines = [
        LineInput(
            key=item.id,
            product_id=item.product_id,
            price_id=item.price_id,
            unit_price=item.unit_price,
            quantity=item.quantity,
            currency=order.currency,
            tax_rate=products[item.product_id].tax_rate,
        )
        for item in items
    ]
    return price_order(
        lines,
        discount=discount.rule,
        usage=_usage(session, discount, order.user_id, exclude_order=order.id),
        now=now,
    )


class _AmountChange:
    """The gateway side of an amount change, and its undo.

    Every amount update gets a key of its own (the order, the number of changes
    it has committed, the amount, and a fresh id): setting an absolute amount
    is idempotent by nature, while a replayed answer could describe a state the
    payment has left since (a change whose transaction was rolled back, a
    re-sync by ``pay_order``). The amount the gateway answers is checked.
    """

    def __init__(
        self, session: Session, order: Order, gateway: PaymentGateway | None, total: Decimal
    ) -> None:
        self.order = order
        self.gateway = gateway
        self.old_total = order.total_amount
        self.new_total = total
        self.free = total == 0
        self.payment_id = order.stripe_payment_intent_id
        changes = session.scalar(
            sa.select(sa.func.count()).where(
                AuditLog.resource_id == order.id, AuditLog.action == "order.discount_applied"
            )
        )
        self.key = f"paykit:amount:{order.id}:{changes or 0}"
        self.touched = False

    def apply(self) -> None:
        if self.gateway is None or self.payment_id is None or self.new_total == self.old_total:
            return
        self.touched = True
        if self.free:
            # A free order needs no payment: cancel it, so it can never be charged.
            self.gateway.cancel_payment(self.payment_id, idempotency_key=f"{self.key}:free")
            return
        self._set(self.new_total, self.key)

    def undo(self) -> None:
        if not self.touched or self.gateway is None or self.payment_id is None:
            return
        if self.free:
            return  # a cancelled payment cannot come back; the order stays PENDING without one
        self._set(self.old_total, f"{self.key}:undo")

    def _set(self, total: Decimal, key: str) -> None:
        assert self.gateway is not None
        assert self.payment_id is not None
        wanted = to_minor_units(total, self.order.currency)
        # Setting an absolute amount is idempotent by nature, so every attempt gets
        # a key of its own: a replayed answer could describe a state the payment
        # has left since (a rolled-back change, a re-sync by pay_order).
        payment = self.gateway.update_payment_amount(
            self.payment_id, amount_minor=wanted, idempotency_key=f"{key}:{wanted}:{new_id()}"
        )
        if payment.amount_minor != wanted:
            raise GatewayError(
                f"the gateway kept {payment.amount_minor} for payment {self.payment_id}, "
                f"not {wanted}",
                code="gateway_amount_mismatch",
                details={"order_id": self.order.id, "payment_id": self.payment_id},
            )


def _store_discount(session: Session, order: Order, priced: PricedOrder, now: datetime) -> None:
    values: dict[str, Any] = {
        "discount_amount": priced.discount,
        "tax_amount": priced.tax,
        "total_amount": priced.total,
        "updated_at": now,
    }
    if priced.total == 0:
        values.update(
            status=OrderStatus.COMPLETED,
            payment_status=PaymentStatus.SUCCEEDED,
            completed_at=now,
            payment_method=None,  # the (cancelled) payment's id stays, for the record
        )
    # The order row is locked (see _reserve_or_undo): this cannot miss.
    affected(session, sa.update(Order).where(Order.id == order.id).values(**values))
    if priced.total == 0:
        _grant_access(session, order.id, now)
    session.flush()
    session.refresh(order)
