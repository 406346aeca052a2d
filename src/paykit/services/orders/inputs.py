"""Reading and checking what an order is made of: the customer, the catalog rows,
the discount code, stock and storable amounts. Nothing here writes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paykit.errors import InsufficientStock, InvalidAmount, InvalidState, ValidationError
from paykit.gateways._checks import MAX_AMOUNT
from paykit.models import Order, OrderItem, PriceType, ProductStatus, UserStatus
from paykit.money import check_chargeable, to_minor_units
from paykit.pricing import LineInput, PricedOrder, price_order
from paykit.services import discounts
from paykit.services._rows import not_found
from paykit.services.discounts import DiscountRef
from paykit.services.orders.statements import CUSTOMER, KEY_TAKEN, READS

__all__ = [
    "Customer",
    "KeyTaken",
    "check_storable",
    "out_of_stock",
    "price_checked",
    "read_inputs",
    "stock_to_take",
]


class KeyTaken(Exception):
    """The idempotency key claimed with the read was already taken: replay instead."""


@dataclass(frozen=True, slots=True)
class Customer:
    """The columns of the ordering user that an order needs."""

    id: str
    status: UserStatus
    deleted_at: datetime | None
    stripe_customer_id: str | None


def _check_customer(customer_id: str, customer: Customer | None) -> Customer:
    if customer is None:
        raise not_found("customer", customer_id)
    if customer.status is not UserStatus.ACTIVE or customer.deleted_at is not None:
        raise InvalidState(
            f"customer {customer_id} is {customer.status.value.lower()}",
            code="customer_not_active",
            details={"customer_id": customer_id},
        )
    return customer


def _check_claim(session: Session, rows: Sequence[Any], claim: Mapping[str, Any]) -> None:
    """Raise :class:`KeyTaken` if the claim that rode along with the read lost."""
    if rows and rows[0].claimed is not None:
        return
    if rows:
        raise KeyTaken
    # No catalog row came back, so the claim's outcome is unseen: settle it.
    params = {name: claim[name] for name in ("k_scope", "k_key", "k_id")}
    if session.connection().execute(KEY_TAKEN, params).first() is not None:
        raise KeyTaken


def read_inputs(
    session: Session,
    customer_id: str,
    price_ids: Sequence[str],
    code: str | None,
    claim: Mapping[str, Any] | None = None,
) -> tuple[Customer, dict[str, Any], DiscountRef | None]:
    """The customer, each price with its product's columns, and the discount: one
    query for all three, checked. With ``claim`` (PostgreSQL) the same statement
    claims the idempotency key, and :class:`KeyTaken` says it was taken."""
    params = {"price_ids": list(price_ids), "customer_id": customer_id, "code": code}
    if claim is not None:
        params.update(claim)
    rows = session.connection().execute(READS[code is not None, claim is not None], params).all()
    if claim is not None:
        _check_claim(session, rows, claim)
    if rows:
        first = rows[0]
        found = (
            Customer(
                first.customer_id,
                UserStatus(first.customer_status),
                first.customer_deleted_at,
                first.customer_stripe_customer_id,
            )
            if first.customer_id is not None
            else None
        )
    else:
        row = session.connection().execute(CUSTOMER, params).first()
        found = Customer(*row) if row is not None else None
    customer = _check_customer(customer_id, found)
    prices = _check_prices(rows, price_ids)
    discount = None if code is None else discounts.from_joined_row(rows[0], code)
    return customer, prices, discount


def _check_prices(rows: Sequence[Any], price_ids: Sequence[str]) -> dict[str, Any]:
    found = {row.price_id: row for row in rows}
    for price_id in price_ids:
        row = found.get(price_id)
        if row is None:
            raise not_found("price", price_id)
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


def stock_to_take(
    prices: Mapping[str, Any], lines: Sequence[tuple[str, int]]
) -> list[tuple[str, int]]:
    """The tracked stock a cart needs, per product in id order (two prices of one
    product draw on one stock)."""
    wanted: dict[str, int] = {}
    for price_id, quantity in lines:
        row = prices[price_id]
        if row.track_inventory:
            wanted[row.product_id] = wanted.get(row.product_id, 0) + quantity
    return sorted(wanted.items())


def _check_stock(prices: Mapping[str, Any], lines: Sequence[tuple[str, int]]) -> None:
    # Advisory, to fail before anyone's payment is created; the conditional
    # update decides.
    stock = {row.product_id: row.stock_quantity for row in prices.values()}
    for product_id, wanted in stock_to_take(prices, lines):
        if stock[product_id] < wanted:
            raise out_of_stock(product_id, wanted, stock[product_id])


def out_of_stock(product_id: str, wanted: int, left: int | None = None) -> InsufficientStock:
    """The refusal for a product without ``wanted`` units left."""
    details: dict[str, Any] = {"product_id": product_id, "requested": wanted}
    if left is not None:
        details["available"] = left
    return InsufficientStock(f"not enough stock of product {product_id}", details=details)


def _column_limit(column: Any) -> Decimal:
    """The largest value a Numeric(p, s) column holds."""
    precision: int = column.type.precision
    scale: int = column.type.scale
    return Decimal(10) ** (precision - scale) - Decimal(1).scaleb(-scale)


_ORDER_LIMIT = _column_limit(Order.__table__.c.total_amount)
_LINE_LIMIT = _column_limit(OrderItem.__table__.c.total_price)


def check_storable(priced: PricedOrder) -> None:
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


def price_checked(
    session: Session,
    customer_id: str,
    lines: Sequence[tuple[str, int]],
    code: str | None,
    now: datetime,
    claim: Mapping[str, Any] | None = None,
) -> tuple[Customer, dict[str, Any], DiscountRef | None, PricedOrder]:
    """Read, price and check a cart without writing: the one pricing path that
    ``place_order`` and ``quote_order`` share, so a quote cannot drift from the order."""
    customer, prices, discount = read_inputs(
        session, customer_id, [price_id for price_id, _ in lines], code, claim
    )
    priced = price_order(
        _line_inputs(lines, prices),
        discount=discount.rule if discount else None,
        usage=discounts.usage(session, discount, customer.id) if discount else None,
        now=now,
    )
    _check_stock(prices, lines)
    check_storable(priced)
    return customer, prices, discount, priced
