"""Readable tables of what is in a paykit database, for ``paykit demo`` and the examples."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.models import Price, Product, ProductCategory, User

__all__ = ["format_table", "print_database"]


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
    prices = session.scalars(sa.select(Price).order_by(Price.stripe_price_id)).all()
    print(
        format_table(
            "Prices",
            ["id", "product", "amount", "type", "active"],
            [
                (
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
