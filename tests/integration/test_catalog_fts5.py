"""SQLite catalog search on FTS5 (revision 0016): ranked by bm25, kept in sync by triggers.

PostgreSQL keeps its tsvector search (``test_catalog.py`` covers both
backends); on PostgreSQL the revision is a no-op. A SQLite build without FTS5
keeps the LIKE fallback (simulated here by dropping the index table).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f
from tests.conftest import DatabaseFactory

import paykit
from paykit import models as m
from paykit.migrator import current_revision, head_revision

_seq = itertools.count()


def _word() -> str:
    return f"fts{next(_seq)}q{datetime.now(UTC).strftime('%H%M%S%f')}"


@pytest.fixture
def lite(sqlite_engine: Engine) -> Iterator[Session]:
    with Session(sqlite_engine) as session:
        yield session
        session.rollback()


def _fts_table(session: Session) -> bool:
    found = session.execute(
        sa.text("SELECT 1 FROM sqlite_master WHERE name = 'products_fts'")
    ).first()
    return found is not None


def _ids(session: Session, search: str, sort: str = "featured") -> list[str]:
    return [p.id for p in paykit.list_products(session, search=search, sort=sort).items]


def test_the_migration_builds_the_index_on_sqlite(lite: Session) -> None:
    options = {row[0] for row in lite.execute(sa.text("PRAGMA compile_options"))}
    if "ENABLE_FTS5" not in options:
        pytest.skip("this SQLite build has no FTS5: search uses LIKE")
    assert _fts_table(lite)
    triggers = {
        row[0]
        for row in lite.execute(sa.text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    }
    assert {"products_fts_insert", "products_fts_update", "products_fts_delete"} <= triggers


def test_bm25_ranks_name_above_short_description_above_description(lite: Session) -> None:
    if not _fts_table(lite):
        pytest.skip("no FTS5")
    word = _word()
    in_text = f.product(lite, name="Plain", description=f"Mentions {word} once.")
    in_name = f.product(lite, name=f"The {word}", description="Nothing else.")
    in_short = f.product(lite, name="Other", short_description=f"{word} inside", description="x")
    assert _ids(lite, word, sort="relevance") == [in_name.id, in_short.id, in_text.id]
    # Every word must match, as a prefix ("ledg" finds "ledger").
    ledger = f.product(lite, name=f"Ledger {word}", description="books")
    assert _ids(lite, f"ledg {word}") == [ledger.id]
    assert _ids(lite, f"{word} nonexistentzzz") == []


def test_updates_and_deletes_keep_the_index_in_sync(lite: Session) -> None:
    if not _fts_table(lite):
        pytest.skip("no FTS5")
    old, new = _word(), _word()
    product = f.product(lite, name=f"Widget {old}")
    assert _ids(lite, old) == [product.id]
    product.name = f"Widget {new}"
    lite.flush()
    assert _ids(lite, old) == []
    assert _ids(lite, new) == [product.id]
    product.short_description = f"{old} again"
    lite.flush()
    assert _ids(lite, old) == [product.id]
    lite.delete(product)
    lite.flush()
    assert _ids(lite, new) == []
    count = lite.execute(
        sa.text("SELECT count(*) FROM products_fts WHERE product_id = :id"), {"id": product.id}
    ).scalar_one()
    assert count == 0


@pytest.mark.parametrize(
    "text",
    ['"', 'a"b', "x*", "NEAR(a b)", "a AND OR NOT", "col:thing", "^start", "(x", "a - b", "100%"],
)
def test_search_syntax_is_text_never_a_raw_error(lite: Session, text: str) -> None:
    word = _word()
    product = f.product(lite, name=f"{word} {text}")
    found = paykit.list_products(lite, search=f"{word} {text}")
    assert [p.id for p in found.items] == [product.id]


def test_without_the_fts5_table_search_falls_back_to_like(
    _factories: dict[str, DatabaseFactory],  # noqa: PT019 (used: a fresh database)
) -> None:
    engine = _factories["sqlite"].migrated()
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS products_fts_insert")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS products_fts_update")
        conn.exec_driver_sql("DROP TRIGGER IF EXISTS products_fts_delete")
        conn.exec_driver_sql("DROP TABLE IF EXISTS products_fts")
    with Session(engine) as session:
        word = _word()
        product = f.product(session, name=f"Lamp {word}", description="bright")
        # LIKE matches inside words, FTS5 only prefixes: "amp" proves the fallback.
        assert _ids(session, f"amp {word}") == [product.id]
        assert _ids(session, word, sort="relevance") == [product.id]
        session.rollback()
    engine.dispose()


def test_postgresql_has_no_fts5_table(engine: Engine, backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("the PostgreSQL half")
    with engine.connect() as conn:
        assert sa.inspect(conn).has_table("products_fts") is False
        assert current_revision(conn) == head_revision()


def test_a_product_without_descriptions_is_indexed(lite: Session) -> None:
    if not _fts_table(lite):
        pytest.skip("no FTS5")
    word = _word()
    product = f.product(lite, name=word, short_description=None, description="")
    assert product.status is m.ProductStatus.PUBLISHED
    assert _ids(lite, word) == [product.id]
