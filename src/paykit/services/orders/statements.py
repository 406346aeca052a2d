"""The prebuilt Core statements of the order services.

Built once, at import: ``place_order`` and ``pay_order`` are the hot path, and a
prebuilt statement skips construction and cache-key work on every call.
Parameters of an UPDATE are never named like a column of its table (an UPDATE
given such a parameter would SET that column).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import aggregate_order_by

from paykit.models import (
    AuditLog,
    Discount,
    IdempotencyKey,
    Order,
    OrderItem,
    OrderStatus,
    PaymentStatus,
    Price,
    Product,
    ProductType,
    User,
)
from paykit.models.orders import OPEN_ORDER, PAID_PAYMENT
from paykit.services import _idempotency
from paykit.services.discounts import DISCOUNT_ROW, TAKE_USE, record_use_from

# --- reading a cart ---------------------------------------------------------------

CATALOG = (
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
CUSTOMER = sa.select(User.id, User.status, User.deleted_at, User.stripe_customer_id).where(
    User.id == sa.bindparam("customer_id")
)
# The customer rides along with the catalog rows: one round trip fewer per order.
CATALOG_AND_CUSTOMER = CATALOG.add_columns(
    *(
        sa.select(column)
        .where(User.id == sa.bindparam("customer_id"))
        .scalar_subquery()
        .label(f"customer_{column.key}")
        for column in (User.id, User.status, User.deleted_at, User.stripe_customer_id)
    )
)
# The discount as one row, joined onto every catalog row: one query reads all.
CATALOG_CUSTOMER_DISCOUNT = CATALOG_AND_CUSTOMER.add_columns(*DISCOUNT_ROW.c).outerjoin(
    DISCOUNT_ROW, sa.true()
)


def _with_claim(statement: Any) -> Any:
    # PostgreSQL: the idempotency claim rides along with the read, one round
    # trip fewer; "claimed" is NULL when another call holds the key.
    cte = _idempotency.claim_cte()
    return statement.add_columns(sa.select(cte.c.id).scalar_subquery().label("claimed")).add_cte(
        cte
    )


#: (discount code given?, claim riding along?) -> the read statement
READS = {
    (False, False): CATALOG_AND_CUSTOMER,
    (True, False): CATALOG_CUSTOMER_DISCOUNT,
    (False, True): _with_claim(CATALOG_AND_CUSTOMER),
    (True, True): _with_claim(CATALOG_CUSTOMER_DISCOUNT),
}

#: Another call's claim of the key (after a read that returned no catalog row).
KEY_TAKEN = sa.select(IdempotencyKey.id).where(
    IdempotencyKey.scope == sa.bindparam("k_scope"),
    IdempotencyKey.key == sa.bindparam("k_key"),
    IdempotencyKey.id != sa.bindparam("k_id"),
)

#: Whether an order already holds a gateway payment.
PAYMENT_TAKEN = sa.select(Order.id).where(
    Order.stripe_payment_intent_id == sa.bindparam("payment_id")
)

# --- the guards: a conditional update whose row count says whether it won ------------

TAKE_STOCK = (
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


def _take_stock_and_use(names: dict[str, str] | None = None) -> Any:
    # PostgreSQL, one product and a discount (the common checkout): stock, the
    # discount use and its record in one statement. The discount's UPDATE
    # reads the stock UPDATE's RETURNING, so the product row is locked before
    # the discount row, the same fixed order as the separate statements, and
    # no use is taken when the stock was not.
    stock = TAKE_STOCK.returning(Product.id).cte("stock_taken")
    taken = TAKE_USE.where(sa.exists(sa.select(stock.c.id))).returning(Discount.id).cte("taken")
    recorded = record_use_from(taken, names).cte("recorded")
    return sa.select(
        sa.select(sa.func.count()).select_from(stock).scalar_subquery().label("stock"),
        sa.select(sa.func.count()).select_from(recorded).scalar_subquery().label("uses"),
    ).add_cte(taken)


TAKE_STOCK_AND_USE = _take_stock_and_use()
#: The same, for riding along with the order's own INSERT (``insert_objects(...,
#: then=...)``, the order its first row): the usage row's customer, order and time
#: are bound to the order row's parameters. Fewer parameters (at most 50) let
#: psycopg cache the statement's conversion.
TAKE_STOCK_AND_USE_WITH_ORDER = _take_stock_and_use(
    {"user_id": "t0r0_user_id", "order_id": "t0r0_id", "created_at": "t0r0_created_at"}
)

# --- order state changes ----------------------------------------------------------

_STATUS = Order.__table__.c.status.type
_PAYMENT_STATUS = Order.__table__.c.payment_status.type
_ORDER = Order.id == sa.bindparam("t_order_id")

#: An open order becomes COMPLETED / SUCCEEDED (``t_order_id``, ``t_now``).
MARK_PAID = (
    sa.update(Order)
    .where(_ORDER, Order.status.in_(OPEN_ORDER))
    .values(
        status=OrderStatus.COMPLETED,
        payment_status=PaymentStatus.SUCCEEDED,
        completed_at=sa.bindparam("t_now"),
        updated_at=sa.bindparam("t_now"),
    )
)
#: The same, only while the order still has the total and currency it was read
#: with (``t_total``, ``t_currency``): a payment checked against that read can
#: complete it without reading the order again.
MARK_PAID_AS_READ = MARK_PAID.where(
    Order.total_amount == sa.bindparam("t_total"),
    Order.currency == sa.bindparam("t_currency"),
)
_AUDIT = AuditLog.__table__.c
_NOW = sa.bindparam("t_now", type_=Order.__table__.c.completed_at.type)


def _paid_in_one(mark_paid: Any) -> Any:
    """PostgreSQL: ``mark_paid`` and everything that follows the won change in one
    statement, one round trip instead of four: the digital items' access expiry
    (``now`` + ``access_duration`` days of 24 hours, as ``timedelta(days=...)``;
    none means lifetime), the ``order.paid`` audit row (``a_<column>``
    parameters; its ``user_id`` is the order's) and the order's row as it now
    is (what a refresh would read). When the update does not win, no row comes
    back and nothing else is written."""
    paid = mark_paid.returning(*Order.__table__.c).cte("paid")
    days = Product.access_duration
    access = (
        sa.update(OrderItem)
        .where(
            OrderItem.order_id == paid.c.id,
            Product.id == OrderItem.product_id,
            Product.type == ProductType.DIGITAL_DOWNLOAD,
        )
        .values(
            access_expires_at=sa.case(
                (days.is_(None), sa.null()),
                else_=_NOW + sa.func.make_interval(0, 0, 0, 0, days * 24),
            )
        )
        .returning(OrderItem.id, OrderItem.access_expires_at)
        .cte("access")
    )
    columns = [c.name for c in AuditLog.__table__.c]
    values = [
        paid.c.user_id if name == "user_id" else sa.bindparam(f"a_{name}", type_=_AUDIT[name].type)
        for name in columns
    ]
    audit = (
        sa.insert(AuditLog)
        .from_select(columns, sa.select(*values).select_from(paid))
        .returning(AuditLog.id)
        .cte("audit")
    )
    granted = [
        sa.select(sa.func.array_agg(aggregate_order_by(column, access.c.id)))
        .scalar_subquery()
        .label(label)
        for column, label in (
            (access.c.id, "access_ids"),
            (access.c.access_expires_at, "access_until"),
        )
    ]
    return sa.select(paid, *granted).add_cte(access, audit)


#: :data:`MARK_PAID` with its effects, and :data:`MARK_PAID_AS_READ` with them
#: (PostgreSQL; see :func:`_paid_in_one`).
MARK_PAID_IN_ONE = _paid_in_one(MARK_PAID)
MARK_PAID_AS_READ_IN_ONE = _paid_in_one(MARK_PAID_AS_READ)

#: An open, unpaid order becomes CANCELLED (``t_order_id``, ``t_payment_status``, ``t_now``).
CLOSE_UNPAID = (
    sa.update(Order)
    .where(_ORDER, Order.status.in_(OPEN_ORDER), Order.payment_status.not_in(PAID_PAYMENT))
    .values(
        status=OrderStatus.CANCELLED,
        payment_status=sa.bindparam("t_payment_status", type_=_PAYMENT_STATUS),
        cancelled_at=sa.bindparam("t_now"),
        updated_at=sa.bindparam("t_now"),
    )
)
#: PENDING <-> PROCESSING (``t_order_id``, ``t_source``, ``t_target``,
#: ``t_payment_status``, ``t_now``).
MOVE_OPEN = (
    sa.update(Order)
    .where(_ORDER, Order.status == sa.bindparam("t_source", type_=_STATUS))
    .values(
        status=sa.bindparam("t_target", type_=_STATUS),
        payment_status=sa.bindparam("t_payment_status", type_=_PAYMENT_STATUS),
        updated_at=sa.bindparam("t_now"),
    )
)

#: The order, fresh from the database (``populate_existing``).
ORDER = (
    sa.select(Order)
    .where(Order.id == sa.bindparam("order_id"))
    .execution_options(populate_existing=True)
)
#: An order's digital items, with their product's access duration in days.
DIGITAL_ITEMS = (
    sa.select(OrderItem, Product.access_duration)
    .join(Product, Product.id == OrderItem.product_id)
    .where(
        OrderItem.order_id == sa.bindparam("order_id"),
        Product.type == ProductType.DIGITAL_DOWNLOAD,
    )
)
#: The order holding a gateway payment.
ORDER_BY_PAYMENT = sa.select(Order).where(
    Order.stripe_payment_intent_id == sa.bindparam("payment_id")
)
#: The tracked stock an order holds, per product in id order.
STOCK_BY_PRODUCT = (
    sa.select(OrderItem.product_id, sa.func.sum(OrderItem.quantity))
    .join(Product, Product.id == OrderItem.product_id)
    .where(OrderItem.order_id == sa.bindparam("order_id"), Product.track_inventory.is_(True))
    .group_by(OrderItem.product_id)
    .order_by(OrderItem.product_id)
)
#: Stock given back (``r_product_id``, ``r_quantity``, ``r_now``).
RETURN_STOCK = (
    sa.update(Product)
    .where(Product.id == sa.bindparam("r_product_id"))
    .values(
        stock_quantity=Product.stock_quantity + sa.bindparam("r_quantity"),
        updated_at=sa.bindparam("r_now"),
    )
)
