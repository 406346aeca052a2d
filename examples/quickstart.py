"""paykit quickstart: create a SQLite database, migrate it, add a category and a product.

Run it as a plain script:

    python examples/quickstart.py [path/to/database.db]
"""

from __future__ import annotations

import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit.models import Price, PriceType, Product, ProductCategory, ProductStatus, ProductType


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()) / "quickstart.db"
    engine = paykit.create_engine(f"sqlite:///{path}")
    paykit.migrate(engine)  # idempotent: safe on every start of your app

    # The host owns the transaction: commit when the unit of work is done.
    with Session(engine) as session, session.begin():
        ebooks = session.scalar(sa.select(ProductCategory).where(ProductCategory.slug == "ebooks"))
        if ebooks is None:
            ebooks = ProductCategory(name="E-books", slug="ebooks", description="Things to read")
            guide = Product(
                name="The Billing Guide",
                description="Everything about invoices, in one PDF.",
                slug="billing-guide",
                type=ProductType.DIGITAL_DOWNLOAD,
                status=ProductStatus.PUBLISHED,
                base_price=Decimal("19.99"),
                tax_rate=Decimal("0.0825"),
                access_duration=365,
                tags=["pdf", "billing"],
                categories=[ebooks],
            )
            guide.prices.append(
                Price(
                    stripe_price_id="price_local_billing_guide",
                    unit_amount=Decimal("19.99"),
                    type=PriceType.ONE_TIME,
                )
            )
            session.add(guide)

    with Session(engine) as session:
        for category in session.scalars(sa.select(ProductCategory)):
            print(f"category {category.slug!r}: {category.name}")
            for product in category.products:
                prices = ", ".join(f"{p.unit_amount} {p.currency}" for p in product.prices)
                print(f"  product {product.slug!r}: {product.name} [{product.type.value}] {prices}")
    print(f"database: {path} (schema revision {paykit.current_revision(engine)})")
    engine.dispose()


if __name__ == "__main__":
    main()
