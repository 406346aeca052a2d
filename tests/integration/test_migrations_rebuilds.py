"""Upgrades and downgrades keep the rows that reference a rebuilt table.

SQLite cannot alter most of a table, so Alembic rebuilds it: a copy, then
``DROP TABLE`` of the original. With foreign keys on (paykit's engines turn
them on), that drop deletes the table's rows first: a referencing row with
``ON DELETE CASCADE`` goes with them (a subscription's MRR history), one with
``RESTRICT`` makes the upgrade fail (its invoices). 0013 rebuilds
``subscriptions`` on SQLite; a database at 0012 with an invoiced subscription
could not be upgraded before paykit turned foreign keys off for the migration.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

import paykit
from paykit.errors import ConfigurationError

BEFORE_REBUILD = "0012"
AT = "'2026-01-01 00:00:00'"
COUNTED = ("subscriptions", "invoices", "subscription_mrr_history")


def _subscription_with_children(engine: Engine) -> None:
    """Raw rows at 0012 (the models are at head): a subscription, its invoice and MRR history."""
    tags = "'{}'" if engine.dialect.name == "postgresql" else "'[]'"  # text[] there, JSON here
    with engine.begin() as conn:
        _insert_rows(conn.exec_driver_sql, tags, invoice_of="s1")


def _insert_rows(run: Callable[[str], object], tags: str, *, invoice_of: str) -> None:
    run("INSERT INTO users (id, email) VALUES ('u1', 'ada@example.com')")
    run(
        "INSERT INTO products (id, name, description, slug, type, base_price, tags)"
        f" VALUES ('p1', 'Pro', 'Pro plan', 'pro', 'SUBSCRIPTION', 100, {tags})"
    )
    run(
        "INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type)"
        " VALUES ('pr1', 'p1', 'price_1', 100, 'RECURRING')"
    )
    run(
        "INSERT INTO subscriptions (id, user_id, product_id, price_id, stripe_subscription_id,"
        " status, current_period_start, current_period_end, unit_amount)"
        f" VALUES ('s1', 'u1', 'p1', 'pr1', 'sub_1', 'ACTIVE', {AT}, {AT}, 100)"
    )
    run(
        "INSERT INTO invoices (id, subscription_id, stripe_invoice_id, number, status,"
        " subtotal, total, amount_due, period_start, period_end)"
        f" VALUES ('i1', '{invoice_of}', 'in_1', 'N-1', 'PAID', 100, 100, 0, {AT}, {AT})"
    )
    run(
        "INSERT INTO subscription_mrr_history (id, subscription_id, user_id, effective_at,"
        f" currency, status, monthly_amount, mrr) VALUES ('h1', 's1', 'u1', {AT}, 'USD',"
        " 'ACTIVE', 100, 100)"
    )


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            table: conn.execute(
                sa.select(sa.func.count()).select_from(sa.table(table))
            ).scalar_one()
            for table in COUNTED
        }


def _sqlite_only(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("foreign keys switched per connection are SQLite's")


def test_an_upgrade_across_a_rebuild_keeps_invoices_and_history(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    paykit.migrate(engine, BEFORE_REBUILD)
    _subscription_with_children(engine)
    before = _counts(engine)
    assert before == dict.fromkeys(COUNTED, 1)

    paykit.migrate(engine)
    assert paykit.current_revision(engine) == paykit.head_revision()
    assert _counts(engine) == before

    paykit.downgrade(engine, BEFORE_REBUILD)
    assert paykit.current_revision(engine) == BEFORE_REBUILD
    assert _counts(engine) == before
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:  # the pooled connection has its setting back
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_a_caller_transaction_with_foreign_keys_on_is_refused_before_a_rebuild(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    _sqlite_only(engine)
    paykit.migrate(engine, BEFORE_REBUILD)
    _subscription_with_children(engine)
    with engine.begin() as conn, pytest.raises(ConfigurationError) as caught:
        paykit.migrate(conn)
    assert caught.value.code == "sqlite_foreign_keys_on"
    assert caught.value.details["current"] == [BEFORE_REBUILD]
    assert paykit.current_revision(engine) == BEFORE_REBUILD
    assert _counts(engine) == dict.fromkeys(COUNTED, 1)

    paykit.migrate(engine)
    with engine.begin() as conn:
        paykit.migrate(conn)  # nothing to do: not refused
    assert paykit.current_revision(engine) == paykit.head_revision()


def test_a_broken_reference_that_was_there_before_does_not_block_the_upgrade(
    make_engine: Callable[..., Engine],
) -> None:
    # A host that ran with foreign keys off may have an invoice of a deleted
    # subscription: the check refuses only what the migration itself broke.
    engine = make_engine()
    _sqlite_only(engine)
    paykit.migrate(engine, BEFORE_REBUILD)
    raw = sqlite3.connect(str(engine.url.database), isolation_level=None)
    try:  # foreign keys are off on a plain sqlite3 connection
        raw.execute("BEGIN")
        _insert_rows(raw.execute, "'[]'", invoice_of="gone")
        raw.execute("COMMIT")
    finally:
        raw.close()
    paykit.migrate(engine)
    assert paykit.current_revision(engine) == paykit.head_revision()
