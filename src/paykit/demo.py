"""Readable tables of what is in a paykit database, for ``paykit demo`` and the examples."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.clock import Clock, SystemClock
from paykit.models import Price, Product, ProductCategory, User, new_id

__all__ = ["checkout_story", "format_table", "print_database"]


def format_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain-text table with a title, aligned columns and a row count."""
    cells = [[str(h) for h in headers]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    line = "+" + "+".join("-" * (w + 2) for w in widths) + "+"

    def fmt(row: Sequence[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) + " |"

    body = [fmt(r) for r in cells[1:]] or ["| " + "(none)".ljust(len(line) - 4) + " |"]
    return "\n".join([f"{title} ({len(rows)})", line, fmt(cells[0]), line, *body, line])


def print_database(session: Session, out: TextIO) -> None:
    """Print users, categories, products and prices as tables."""
    users = session.scalars(sa.select(User).order_by(User.created_at, User.email)).all()
    print(
        format_table(
            "Users",
            ["email", "name", "role", "status", "verified"],
            [(u.email, u.name, u.role.value, u.status.value, u.email_verified) for u in users],
        ),
        file=out,
    )
    categories = session.scalars(sa.select(ProductCategory).order_by(ProductCategory.slug)).all()
    print(
        format_table(
            "Categories",
            ["slug", "name", "products"],
            [(c.slug, c.name, len(c.products)) for c in categories],
        ),
        file=out,
    )
    products = session.scalars(sa.select(Product).order_by(Product.slug)).all()
    print(
        format_table(
            "Products",
            ["slug", "name", "type", "status", "base price", "categories"],
            [
                (
                    p.slug,
                    p.name,
                    p.type.value,
                    p.status.value,
                    f"{p.base_price} {p.currency}",
                    ", ".join(c.slug for c in p.categories),
                )
                for p in products
            ],
        ),
        file=out,
    )
    prices = session.scalars(sa.select(Price).order_by(Price.stripe_price_id, Price.id)).all()
    print(
        format_table(
            "Prices",
            ["id", "stripe price id", "product", "amount", "type", "active"],
            [
                (
                    p.id,
                    p.stripe_price_id,
                    p.product.slug,
                    f"{p.unit_amount} {p.currency}",
                    p.type.value,
                    p.active,
                )
                for p in prices
            ],
        ),
        file=out,
    )


def _story_rows(session: Session, run: str) -> tuple[User, User, Product, Price, str]:
    """The story's customer, support agent, stocked product, its price and a 15% code."""
    from paykit.models import (
        Discount,
        DiscountType,
        PriceType,
        ProductStatus,
        ProductType,
        UserRole,
    )

    customer = User(email=f"ada.{run}@example.com", name="Ada Lovelace")
    support = User(email=f"support.{run}@example.com", name="Grace", role=UserRole.SUPPORT)
    product = Product(
        name="Analytical Engine Manual",
        description="A printed manual, shipped from stock.",
        slug=f"engine-manual-{run}",
        type=ProductType.ONE_TIME,
        status=ProductStatus.PUBLISHED,
        base_price=Decimal("24.00"),
        tax_rate=Decimal("0.0800"),
        track_inventory=True,
        stock_quantity=10,
    )
    price = Price(
        product=product,
        stripe_price_id=f"price_demo_{run}",
        unit_amount=Decimal("24.00"),
        type=PriceType.ONE_TIME,
    )
    code = f"WELCOME{run.upper()}"
    session.add_all(
        [
            customer,
            support,
            product,
            price,
            Discount(code=code, name="Welcome", type=DiscountType.PERCENTAGE, value=Decimal("15")),
        ]
    )
    return customer, support, product, price, code


def checkout_story(session: Session, out: TextIO, *, clock: Clock | None = None) -> None:
    """The checkout story of ``paykit demo``: a customer buys a stocked product with a
    discount code, pays by card (FakeGateway), and support refunds part of it.

    The caller owns the transaction; each run creates its own customer and codes,
    so the story can be told again on the same database.
    """
    from paykit.gateways import FakeGateway
    from paykit.services import issue_refund, pay_order, place_order

    clock = clock or SystemClock()
    gateway = FakeGateway(clock=clock, namespace=f"demo{new_id()[-8:]}")
    run = new_id()[-6:]
    customer, support, product, price, code = _story_rows(session, run)
    session.flush()
    print(
        f"\n1. {customer.name} finds '{product.name}' at {price.unit_amount} USD "
        f"({product.stock_quantity} in stock) and has the code {code} (15% off).",
        file=out,
    )
    result = place_order(
        session,
        customer_id=customer.id,
        items=[{"price_id": price.id, "quantity": 2}],
        billing_address={"line1": "12 St James's Square", "city": "London", "country": "GB"},
        discount_code=code,
        payment_method_id="pm_card_visa",
        gateway=gateway,
        clock=clock,
        idempotency_key=f"demo-checkout-{run}",
    )
    # The stock and the code's use are reserved; a real host commits here, then charges.
    session.flush()
    result = pay_order(session, order_id=result.order.id, gateway=gateway, clock=clock)
    order = result.order
    print(
        f"2. Order {order.order_number}: subtotal {order.subtotal}, discount "
        f"-{order.discount_amount}, tax {order.tax_amount}, total {order.total_amount} "
        f"{order.currency}.",
        file=out,
    )
    print(
        f"3. Card charged: payment {result.payment.id} {result.payment.status}; order "
        f"{order.status.value}, payment {order.payment_status.value}.",
        file=out,
    )
    session.refresh(product)
    print(f"   Stock left: {product.stock_quantity}.", file=out)
    refund = issue_refund(
        session,
        order_id=order.id,
        amount=Decimal("10.00"),
        reason="REQUESTED_BY_CUSTOMER",
        notes="one copy arrived damaged",
        actor_id=support.id,
        gateway=gateway,
        clock=clock,
    )
    session.refresh(order)
    print(
        f"4. {support.name} (support) refunds {refund.amount} {refund.currency}: refund "
        f"{refund.status.value}; refunded so far {order.refunded_amount} of "
        f"{order.total_amount}; order {order.status.value}.",
        file=out,
    )
