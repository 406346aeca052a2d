"""On PostgreSQL the catalog listings and the seed's 3.2 queries are index-backed.

A data set is generated set-based (20,000 products in a 300-category tree,
50,000 orders, 2,000 users with subscriptions and payment methods) and
ANALYZEd; each paykit call runs with its statements captured, and each
statement's EXPLAIN must show no sequential scan of ``products`` or ``orders``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from tests.conftest import DatabaseFactory, require_postgres

import paykit
from paykit.security import Actor

PRODUCTS, CATEGORIES, USERS, ORDERS = 20_000, 300, 2_000, 50_000

# Category c<n> (n > 10) is a child of c<n // 10>: ten roots, three levels.
DATA = [
    f"""INSERT INTO users (id, email, name, role)
        SELECT 'u' || g, 'u' || g || '@example.com', 'User ' || g,
               CASE WHEN g = 1 THEN 'ADMIN'::user_role ELSE 'CUSTOMER'::user_role END
        FROM generate_series(1, {USERS}) g""",
    f"""INSERT INTO product_categories (id, name, slug, parent_id)
        SELECT 'c' || g, 'Category ' || g, 'category-' || g,
               CASE WHEN g > 10 THEN 'c' || (g / 10) END
        FROM generate_series(1, {CATEGORIES}) g""",
    f"""INSERT INTO products (id, name, description, short_description, slug, status, type,
                              base_price, featured, tags, created_at, updated_at)
        SELECT 'p' || lpad(g::text, 6, '0'),
               'Product ' || g || ' word' || (g % 2000),
               'A generated product, number ' || g || ', for the plan tests.',
               'Short text ' || (g % 97),
               'product-' || g,
               (CASE WHEN g % 10 = 0 THEN 'DRAFT' WHEN g % 10 = 1 THEN 'ARCHIVED'
                     ELSE 'PUBLISHED' END)::product_status,
               (CASE g % 4 WHEN 0 THEN 'ONE_TIME' WHEN 1 THEN 'SUBSCRIPTION'
                     WHEN 2 THEN 'DIGITAL_DOWNLOAD' ELSE 'SERVICE' END)::product_type,
               ((g * 7919) % 100000) / 100.0,
               g % 20 = 0,
               '{{}}',
               timestamptz '2030-01-01' + g * interval '17 minutes',
               timestamptz '2030-01-01' + g * interval '17 minutes'
        FROM generate_series(1, {PRODUCTS}) g""",
    f"""INSERT INTO product_category_links (product_id, category_id)
        SELECT 'p' || lpad(g::text, 6, '0'), 'c' || (1 + g % {CATEGORIES})
        FROM generate_series(1, {PRODUCTS}) g""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type, recurring)
        SELECT 'pr' || g, 'p' || lpad(g::text, 6, '0'), 'price_' || g, 10 + g % 50,
               'RECURRING', '{"interval": "month", "interval_count": 1}'
        FROM generate_series(1, 200) g""",
    f"""INSERT INTO orders (id, user_id, order_number, status, currency, subtotal, total_amount,
                            billing_address, created_at, updated_at)
        SELECT 'o' || g, 'u' || (1 + g % {USERS}), 'ORD-' || g,
               (CASE WHEN g % 5 < 3 THEN 'COMPLETED' WHEN g % 5 = 3 THEN 'PENDING'
                     ELSE 'CANCELLED' END)::order_status,
               CASE WHEN g % 7 = 0 THEN 'EUR' ELSE 'USD' END,
               (g % 500) + 0.99, (g % 500) + 0.99, '{{}}',
               timestamptz '2029-01-01' + g * interval '31 minutes',
               timestamptz '2029-01-01' + g * interval '31 minutes'
        FROM generate_series(1, {ORDERS}) g""",
    f"""INSERT INTO subscriptions (id, user_id, product_id, price_id, stripe_subscription_id,
                                   status, current_period_start, current_period_end,
                                   unit_amount)
        SELECT 's' || g, 'u' || (1 + g % {USERS}), 'p' || lpad((1 + g % 200)::text, 6, '0'),
               'pr' || (1 + g % 200), 'sub_' || g,
               (CASE g % 3 WHEN 0 THEN 'ACTIVE' WHEN 1 THEN 'TRIALING'
                     ELSE 'CANCELLED' END)::subscription_status,
               timestamptz '2030-01-01', timestamptz '2030-02-01', 10
        FROM generate_series(1, {USERS * 2}) g""",
    f"""INSERT INTO payment_methods (id, user_id, stripe_payment_method_id, type, card,
                                     is_default)
        SELECT 'pm' || g, 'u' || (1 + g % {USERS}), 'pm_' || g, 'card',
               '{{"brand": "visa", "last4": "4242"}}', g <= {USERS}
        FROM generate_series(1, {USERS * 2}) g""",
]


@pytest.fixture(scope="module")
def catalog_db(_factories: dict[str, DatabaseFactory]) -> Engine:
    require_postgres()
    engine = _factories["postgresql"].migrated(shared=True)
    with engine.begin() as conn:
        for statement in DATA:
            conn.exec_driver_sql(statement.replace("%", "%%"), {})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # This schema's tables only: a bare ANALYZE would walk every schema of the server.
        conn.exec_driver_sql(
            "ANALYZE users, product_categories, products, product_category_links, prices, "
            "product_reviews, orders, subscriptions, payment_methods"
        )
    return engine


def plans(conn: Connection, call: Callable[[Session], Any]) -> list[str]:
    """Run ``call`` and return the EXPLAIN of every SELECT it sent."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            sent.append((statement, params))

    sa.event.listen(conn, "before_cursor_execute", capture)
    try:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as session:
            call(session)
    finally:
        sa.event.remove(conn, "before_cursor_execute", capture)
    assert sent, "the call sent no query"
    out = []
    for statement, params in sent:
        rows = conn.exec_driver_sql("EXPLAIN " + statement, params or {}).scalars()
        out.append("\n".join(rows))
    return out


SEQ_SCAN = re.compile(r"Seq Scan on (products|orders)\b")
ADMIN = Actor("u1", "ADMIN")


def _page_two(session: Session, **kw: Any) -> Any:
    first = paykit.list_products(session, **kw)
    assert first.next_cursor is not None
    return paykit.list_products(session, cursor=first.next_cursor, **kw)


CALLS: dict[str, Callable[[Session], Any]] = {
    "catalog page (featured)": lambda s: paykit.list_products(s),
    "catalog page 2 (featured, keyset)": lambda s: _page_two(s),
    "newest": lambda s: _page_two(s, sort="newest"),
    "price_asc": lambda s: _page_two(s, sort="price_asc"),
    "price_desc": lambda s: paykit.list_products(s, sort="price_desc"),
    "leaf category": lambda s: paykit.list_products(s, category_id="c123"),
    "category with descendants": lambda s: paykit.list_products(s, category_id="c12"),
    "search": lambda s: paykit.list_products(s, search="word42"),
    "search by relevance": lambda s: paykit.list_products(s, search="word42", sort="relevance"),
    "product page": lambda s: paykit.get_product(s, slug="product-1234"),
    "monthly revenue": lambda s: paykit.monthly_revenue(s, actor=ADMIN, year=2029, month=6),
    "user with subscriptions": lambda s: paykit.user_subscriptions(s, actor=ADMIN, user_id="u42"),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_no_sequential_scan_of_products_or_orders(catalog_db: Engine, name: str) -> None:
    with catalog_db.connect() as conn, conn.begin():
        explained = plans(conn, CALLS[name])
    bad = [plan for plan in explained if SEQ_SCAN.search(plan)]
    assert not bad, f"{name}:\n" + "\n---\n".join(bad)


def test_the_check_can_fail(catalog_db: Engine) -> None:
    # Guards the test above: a query without a usable index shows the scan.
    with catalog_db.connect() as conn, conn.begin():
        explained = plans(
            conn,
            lambda s: s.execute(sa.text("SELECT count(*) FROM products WHERE name LIKE '%x%'")),
        )
    assert SEQ_SCAN.search(explained[0])


def test_the_data_set_is_there(catalog_db: Engine) -> None:
    with catalog_db.connect() as conn:
        counts = conn.execute(
            sa.text("SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM orders)")
        ).one()
    assert tuple(counts) == (PRODUCTS, ORDERS)
    with Session(catalog_db) as session:
        page = paykit.list_products(session, search="word42")
        assert {p.name.split()[-1] for p in page.items} == {"word42"}
        assert paykit.monthly_revenue(session, actor=ADMIN, year=2029, month=6)
