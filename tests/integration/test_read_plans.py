"""On PostgreSQL, the order read side uses indexes: no sequential scan of a big table.

A fresh database gets 1,000 customers and 50,000 orders (with items and
refunds) generated set-based, then ANALYZE. Each read call runs with every
statement it sends captured, and each captured SELECT is EXPLAINed with its own
parameters: no plan may hold a ``Seq Scan`` on ``orders``, ``order_items`` or
``refunds``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory

import paykit
from paykit.security import Actor

BIG = ("orders", "order_items", "refunds")

_FILL = [
    """INSERT INTO users (id, email, name, role, status, created_at, updated_at)
       SELECT 'u' || g, 'plan' || g || '@example.com', 'User ' || g,
              CASE WHEN g = 1 THEN 'SUPPORT' ELSE 'CUSTOMER' END::user_role, 'ACTIVE',
              now(), now()
       FROM generate_series(1, 1000) g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price, tags,
                             created_at, updated_at)
       VALUES ('p1', 'P', 'd', 'plan-p1', 'PUBLISHED', 'ONE_TIME', 10, '{}', now(), now())""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type,
                           created_at, updated_at)
       VALUES ('pr1', 'p1', 'price_plan_1', 10, 'ONE_TIME', now(), now())""",
    """INSERT INTO orders (id, user_id, order_number, status, subtotal, total_amount,
                           billing_address, payment_status, created_at, updated_at)
       SELECT 'o' || g, 'u' || (1 + mod(g, 1000)), 'N' || g,
              (ARRAY['COMPLETED','PENDING','CANCELLED','REFUNDED'])[1 + mod(g, 4)]::order_status,
              10, 10, '{}', 'SUCCEEDED',
              timestamptz '2025-01-01' + g * interval '3 minutes',
              timestamptz '2025-01-01' + g * interval '3 minutes'
       FROM generate_series(1, 50000) g""",
    """INSERT INTO order_items (id, order_id, product_id, price_id, quantity, unit_price,
                                total_price, created_at)
       SELECT 'i' || g, 'o' || g, 'p1', 'pr1', 1, 10, 10, now()
       FROM generate_series(1, 50000) g""",
    """INSERT INTO refunds (id, order_id, stripe_refund_id, amount, currency, reason, status,
                            created_at, updated_at)
       SELECT 'r' || g, 'o' || g, 're_' || g, 10, 'USD', 'REQUESTED_BY_CUSTOMER', 'SUCCEEDED',
              now(), now()
       FROM generate_series(4, 50000, 4) g""",
    "ANALYZE users, products, prices, orders, order_items, refunds",
]


@pytest.fixture(scope="module")
def big(_factories: dict[str, DatabaseFactory]) -> Engine:
    from tests.conftest import require_postgres

    require_postgres()
    engine = _factories["postgresql"].migrated()
    with engine.begin() as conn:
        for statement in _FILL:
            conn.exec_driver_sql(statement)
    return engine


@contextmanager
def _captured(session: Session) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []
    connection = session.connection()

    def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    sa.event.listen(connection, "before_cursor_execute", grab)
    try:
        yield seen
    finally:
        sa.event.remove(connection, "before_cursor_execute", grab)


def _scans(plan: Any) -> Iterator[tuple[str, str]]:
    if isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan["Node Type"], plan.get("Relation Name", "")
        for value in plan.values():
            yield from _scans(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _scans(value)


def _assert_indexed(big: Engine, call: Callable[[Session], Any]) -> list[tuple[str, str]]:
    with Session(big) as session:
        with _captured(session) as statements:
            call(session)
        assert statements, "the call sent no SELECT"
        nodes: list[tuple[str, str]] = []
        raw = session.connection().connection.driver_connection
        assert raw is not None
        for statement, parameters in statements:
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            nodes += list(_scans(plan))
        session.rollback()
    seq = [(node, table) for node, table in nodes if node == "Seq Scan" and table in BIG]
    assert not seq, f"sequential scans: {seq} in {nodes}"
    return nodes


CUSTOMER = Actor("u7", paykit.models.UserRole.CUSTOMER)
STAFF = Actor("u1", paykit.models.UserRole.SUPPORT)


def _deep(session: Session, actor: Actor, pages: int, **kw: Any) -> Any:
    page = paykit.list_orders(session, actor=actor, limit=20, **kw)
    for _ in range(pages):
        assert page.next_cursor is not None
        page = paykit.list_orders(session, actor=actor, limit=20, cursor=page.next_cursor, **kw)
    return page


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("customer history", lambda s: paykit.list_orders(s, actor=CUSTOMER)),
        ("customer history, page 3", lambda s: _deep(s, CUSTOMER, 2)),
        ("staff history", lambda s: paykit.list_orders(s, actor=STAFF)),
        ("staff history, page 20", lambda s: _deep(s, STAFF, 19)),
        ("staff, one status", lambda s: paykit.list_orders(s, actor=STAFF, status="REFUNDED")),
        ("staff, one customer", lambda s: paykit.list_orders(s, actor=STAFF, customer_id="u9")),
        (
            "staff, a month",
            lambda s: paykit.list_orders(
                s,
                actor=STAFF,
                created_from=datetime(2025, 2, 1, tzinfo=UTC),
                created_to=datetime(2025, 3, 1, tzinfo=UTC),
            ),
        ),
        ("one order", lambda s: paykit.get_order(s, actor=STAFF, order_id="o4")),
    ],
)
def test_order_reads_use_indexes(big: Engine, name: str, call: Callable[[Session], Any]) -> None:
    nodes = _assert_indexed(big, call)
    assert any("Index" in node for node, _ in nodes), name


def _nodes(plan: Any) -> Iterator[dict[str, Any]]:
    if isinstance(plan, dict):
        if "Node Type" in plan:
            yield plan
        for value in plan.values():
            yield from _nodes(value)
    elif isinstance(plan, list):
        for value in plan:
            yield from _nodes(value)


def test_a_deep_page_seeks_to_its_position(big: Engine) -> None:
    """The staff history's keyset is an index condition, not a filter over every earlier row.

    (A customer's 50 orders are read by a bitmap scan of their user_id index
    and sorted: the planner's choice for so few rows.)
    """
    actor = STAFF
    with Session(big) as session:
        page = _deep(session, actor, 1)
        assert page.next_cursor is not None
        with _captured(session) as statements:
            paykit.list_orders(session, actor=actor, cursor=page.next_cursor)
        raw = session.connection().connection.driver_connection
        assert raw is not None
        scans = []
        for statement, parameters in statements:
            with raw.cursor() as cursor:
                cursor.execute("EXPLAIN (FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
            plan = json.loads(plan) if isinstance(plan, str) else plan
            scans += [n for n in _nodes(plan) if n.get("Relation Name") == "orders"]
        session.rollback()
    assert scans, "no scan of orders"
    assert all("created_at" in scan.get("Index Cond", "") for scan in scans), scans


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("staff history", lambda s: paykit.list_orders(s, actor=STAFF)),
        ("staff history, page 3", lambda s: _deep(s, STAFF, 2)),
        ("customer history", lambda s: paykit.list_orders(s, actor=CUSTOMER)),
        ("staff, one status", lambda s: paykit.list_orders(s, actor=STAFF, status="REFUNDED")),
        ("catalog", lambda s: paykit.list_products(s)),
        ("catalog, newest", lambda s: paykit.list_products(s, sort="newest")),
        ("one order with its children", lambda s: paykit.get_order(s, actor=STAFF, order_id="o4")),
    ],
)
def test_a_page_is_one_statement(big: Engine, name: str, call: Callable[[Session], Any]) -> None:
    """On PostgreSQL a listing page (and one order) is one round trip: reader check, rows
    and children."""
    with Session(big) as session:
        call(session)  # a deep page walks its earlier pages first: count only the last
        with _captured(session) as statements:
            page = call(session)
        session.rollback()
    assert page.items, name
    assert len(statements) == (3 if "page 3" in name else 1), statements


def test_the_product_page_is_one_statement(big: Engine) -> None:
    """``get_product`` on PostgreSQL: one statement, however deep its categories are
    and whoever reads (the reader's role, prices, rating and paths included)."""
    from tests import factories as f

    with Session(big) as session:
        parent = None
        for _ in range(4):
            parent = f.category(session, parent_id=parent.id if parent else None)
        product = f.product(session, status=paykit.models.ProductStatus.DRAFT)
        assert parent is not None
        product.categories.extend([parent, f.category(session)])
        f.price(session, product)
        session.add(
            paykit.models.ProductReview(product_id=product.id, user_id="u9", rating=4, content="ok")
        )
        admin = f.user(session, role=paykit.models.UserRole.ADMIN)
        session.flush()
        statements: list[str] = []

        def grab(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
            statements.append(statement)

        connection = session.connection()
        sa.event.listen(connection, "before_cursor_execute", grab)
        try:
            view = paykit.get_product(session, slug=product.slug, actor=Actor.of(admin))
        finally:
            sa.event.remove(connection, "before_cursor_execute", grab)
        session.rollback()
    assert sorted(len(path) for path in view.category_paths) == [1, 4]
    assert (view.rating.count, len(view.prices)) == (1, 1)
    assert len(statements) == 1, statements
