"""Revision 0005: login counters table, idempotency keys attributed to their customer."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

import paykit

NOW = "2026-01-01T00:00:00+00:00"


def test_existing_keys_are_attributed_and_downgrade_undoes_it(
    make_engine: Callable[..., Engine],
) -> None:
    engine = make_engine()
    paykit.migrate(engine, "0004")
    with engine.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        now = "now()" if pg else f"'{NOW}'"
        conn.execute(
            sa.text(
                "INSERT INTO users (id, email, role, status, timezone, language, email_verified,"
                f" created_at, updated_at) VALUES ('u1', 'k@example.com', 'CUSTOMER', 'ACTIVE',"
                f" 'UTC', 'en', false, {now}, {now})"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO orders (id, user_id, order_number, subtotal, total_amount,"
                " billing_address, created_at, updated_at)"
                f" VALUES ('o1', 'u1', 'N-1', 1, 1, '{{}}', {now}, {now})"
            )
        )
        for key, scope, resource in (("a", "place_order", "o1"), ("b", "other", "x")):
            conn.execute(
                sa.text(
                    "INSERT INTO paykit_idempotency_keys (id, scope, key, request_hash,"
                    f" resource_id, created_at) VALUES (:id, :scope, :key, 'h', :r, {now})"
                ),
                {"id": f"k{key}", "scope": scope, "key": key, "r": resource},
            )
    paykit.migrate(engine)
    with engine.connect() as conn:
        owners = dict(
            conn.execute(sa.text("SELECT key, user_id FROM paykit_idempotency_keys")).all()
        )
        assert owners == {"a": "u1", "b": None}
        assert sa.inspect(conn).has_table("paykit_login_attempts")
    paykit.downgrade(engine, "0004")
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        assert not inspector.has_table("paykit_login_attempts")
        columns = {c["name"] for c in inspector.get_columns("paykit_idempotency_keys")}
        assert "user_id" not in columns
        assert conn.execute(sa.text("SELECT count(*) FROM paykit_idempotency_keys")).scalar() == 2
