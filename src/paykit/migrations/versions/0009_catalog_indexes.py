"""Catalog read side: sort-order indexes, full-text search, the category tree

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 20:00:00.000000

Indexes for the catalog listing's keyset pages (the seed's catalog order
``featured desc, created_at desc``, newest first, by price; each ends with the
id), the category tree walk (``parent_id``), and on PostgreSQL a GIN index
on the products' weighted ``tsvector``
(``paykit.models.catalog.product_search_document``).

It follows 0008, which reached main first (no revision 0007 was released;
the ids stay in the order of the chain).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copy of product_search_document() as of this revision.
_SEARCH_DOCUMENT = (
    "(setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(short_description, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C'))"
)


def upgrade() -> None:
    op.create_index(
        "idx_products_catalog_order",
        "products",
        ["status", sa.text("featured DESC"), sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index(
        "idx_products_status_created_at",
        "products",
        ["status", sa.text("created_at DESC"), sa.text("id DESC")],
    )
    op.create_index("idx_products_status_base_price", "products", ["status", "base_price", "id"])
    op.create_index("ix_product_categories_parent_id", "product_categories", ["parent_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "idx_products_search",
            "products",
            [sa.text(_SEARCH_DOCUMENT)],
            postgresql_using="gin",
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("idx_products_search", table_name="products")
    op.drop_index("ix_product_categories_parent_id", table_name="product_categories")
    op.drop_index("idx_products_status_base_price", table_name="products")
    op.drop_index("idx_products_status_created_at", table_name="products")
    op.drop_index("idx_products_catalog_order", table_name="products")
