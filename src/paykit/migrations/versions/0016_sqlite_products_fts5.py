"""SQLite full-text search: an FTS5 index of products kept in sync by triggers

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 08:30:00.000000

On SQLite ``list_products(search=...)`` uses the FTS5 virtual table
``products_fts`` (name, short description, description; ranked with
``bm25``) instead of a LIKE scan of every product. The table holds its own
copy of the text and the product id (not an external-content table: a table
with a text primary key may get new rowids from ``VACUUM``), filled from the
existing products and kept in sync by triggers on insert, update and delete.

A no-op on PostgreSQL (it searches the ``tsvector`` GIN index of 0009), and on
a SQLite build without FTS5, where search keeps its LIKE fallback.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ROW = "{p}.id, {p}.name, coalesce({p}.short_description, ''), coalesce({p}.description, '')"
_INSERT = (
    "INSERT INTO products_fts (product_id, name, short_description, description) "
    "VALUES (" + _ROW.format(p="new") + ");"
)
_STATEMENTS = (
    "CREATE VIRTUAL TABLE products_fts USING fts5("
    "product_id UNINDEXED, name, short_description, description, "
    "tokenize = 'unicode61 remove_diacritics 2')",
    "INSERT INTO products_fts (product_id, name, short_description, description) "
    "SELECT " + _ROW.format(p="products") + " FROM products",
    "CREATE TRIGGER products_fts_insert AFTER INSERT ON products BEGIN " + _INSERT + " END",
    "CREATE TRIGGER products_fts_update "
    "AFTER UPDATE OF id, name, short_description, description ON products BEGIN "
    "DELETE FROM products_fts WHERE product_id = old.id; " + _INSERT + " END",
    "CREATE TRIGGER products_fts_delete AFTER DELETE ON products BEGIN "
    "DELETE FROM products_fts WHERE product_id = old.id; END",
)


def _has_fts5(bind: sa.Connection) -> bool:
    options = {row[0] for row in bind.exec_driver_sql("PRAGMA compile_options")}
    return "ENABLE_FTS5" in options or _probe(bind)


def _probe(bind: sa.Connection) -> bool:
    # FTS5 may be loaded as an extension rather than compiled in.
    # A failed CREATE does not end SQLite's transaction.
    try:
        bind.exec_driver_sql("CREATE VIRTUAL TABLE temp.paykit_fts5_probe USING fts5(x)")
        bind.exec_driver_sql("DROP TABLE temp.paykit_fts5_probe")
    except sa.exc.OperationalError:
        return False
    return True


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite" or not _has_fts5(bind):
        return
    for statement in _STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for trigger in ("products_fts_delete", "products_fts_update", "products_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    op.execute("DROP TABLE IF EXISTS products_fts")
