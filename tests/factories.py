"""Small row builders for tests: valid defaults, any field overridable."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from paykit import models as m

_seq = itertools.count(1)


def _n() -> int:
    return next(_seq)


def user(session: Session, **kw: Any) -> m.User:
    n = _n()
    row = m.User(email=kw.pop("email", f"user{n}@example.com"), name=f"User {n}", **kw)
    session.add(row)
    session.flush()
    return row


def category(session: Session, **kw: Any) -> m.ProductCategory:
    n = _n()
    row = m.ProductCategory(
        name=kw.pop("name", f"Category {n}"), slug=kw.pop("slug", f"category-{n}"), **kw
    )
    session.add(row)
    session.flush()
    return row


def product(session: Session, **kw: Any) -> m.Product:
    n = _n()
    row = m.Product(
        name=kw.pop("name", f"Product {n}"),
        description=kw.pop("description", "A product used in tests."),
        slug=kw.pop("slug", f"product-{n}"),
        type=kw.pop("type", m.ProductType.ONE_TIME),
        status=kw.pop("status", m.ProductStatus.PUBLISHED),
        base_price=kw.pop("base_price", Decimal("10.00")),
        **kw,
    )
    session.add(row)
    session.flush()
    return row


def price(session: Session, product_row: m.Product, **kw: Any) -> m.Price:
    n = _n()
    row = m.Price(
        product_id=product_row.id,
        stripe_price_id=kw.pop("stripe_price_id", f"price_test_{n}"),
        unit_amount=kw.pop("unit_amount", product_row.base_price),
        currency=kw.pop("currency", product_row.currency),
        type=kw.pop("type", m.PriceType.ONE_TIME),
        **kw,
    )
    session.add(row)
    session.flush()
    return row


def order(session: Session, user_row: m.User, **kw: Any) -> m.Order:
    n = _n()
    row = m.Order(
        user_id=user_row.id,
        order_number=kw.pop("order_number", f"ORD-TEST-{n:06d}"),
        subtotal=kw.pop("subtotal", Decimal("10.00")),
        total_amount=kw.pop("total_amount", Decimal("10.00")),
        billing_address=kw.pop("billing_address", {"country": "US"}),
        **kw,
    )
    session.add(row)
    session.flush()
    return row
