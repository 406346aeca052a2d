"""The read side at scale: paykit's listings against hand-written SQL, page 1 and page 1,000.

    python benchmarks/read_side.py [--orders N] [--customers C] [--repeat R] [--keep]

Generates set-based (``INSERT ... SELECT generate_series``) in a throwaway
PostgreSQL schema N orders (default 1,000,000) of C customers (default
1,000), one item each and a refund on every 25th, then ``ANALYZE``. Measures,
R times each (default 200), with p50 and p99 in milliseconds:

* **staff order history**: ``paykit.list_orders(actor=<support>)``, 20 per
  page, at page 1 and at page 1,000 (the cursor of page 999 is reached by
  walking the pages once);
* **customer order history**: ``list_orders(actor=<customer>)`` at page 1 and
  at the customer's last page;
* **catalog listing**: ``paykit.list_products()`` (the seed's catalog order,
  featured first, newest first) at page 1 and page 1,000, over P products
  (default 100,000) with two prices each, in K categories (default 10,000);

each beside a hand-written reference on the same connection: one psycopg
keyset query for the page's orders and one for their items and refunds, the
rows turned into plain dicts with the amounts as strings (what a JSON API
needs; paykit's call also checks the actor's role and builds pydantic
``OrderOut`` models). It prints the ratios paykit / reference and page
1,000 / page 1 (the targets of issue 12: both within 1.5x).

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
the schema is dropped afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit.models import UserRole
from paykit.security import Actor

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PAGE = 20

_FILL = [
    """INSERT INTO users (id, email, name, role, status, created_at, updated_at)
       SELECT 'u' || g, 'bench' || g || '@example.com', 'User ' || g,
              CASE WHEN g = 0 THEN 'SUPPORT' ELSE 'CUSTOMER' END::user_role, 'ACTIVE', now(), now()
       FROM generate_series(0, :customers) g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price, tags,
                             created_at, updated_at)
       VALUES ('p1', 'P', 'd', 'bench-p1', 'PUBLISHED', 'ONE_TIME', 10, '{}', now(), now())""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type, created_at,
                           updated_at)
       VALUES ('pr1', 'p1', 'price_bench_1', 10, 'ONE_TIME', now(), now())""",
    """INSERT INTO orders (id, user_id, order_number, status, subtotal, total_amount,
                           billing_address, payment_status, created_at, updated_at)
       SELECT 'o' || lpad(g::text, 8, '0'), 'u' || (1 + mod(g, :customers)), 'N' || g,
              'COMPLETED', 10, 10, '{}', 'SUCCEEDED',
              timestamptz '2024-01-01' + g * interval '30 seconds',
              timestamptz '2024-01-01' + g * interval '30 seconds'
       FROM generate_series(1, :orders) g""",
    """INSERT INTO order_items (id, order_id, product_id, price_id, quantity, unit_price,
                                total_price, created_at)
       SELECT 'i' || g, 'o' || lpad(g::text, 8, '0'), 'p1', 'pr1', 1, 10, 10, now()
       FROM generate_series(1, :orders) g""",
    """INSERT INTO refunds (id, order_id, stripe_refund_id, amount, currency, reason, status,
                            created_at, updated_at)
       SELECT 'r' || g, 'o' || lpad(g::text, 8, '0'), 're_' || g, 1, 'USD',
              'REQUESTED_BY_CUSTOMER', 'SUCCEEDED', now(), now()
       FROM generate_series(25, :orders, 25) g""",
    "ANALYZE users, products, prices, orders, order_items, refunds",
]

_CATALOG = [
    """INSERT INTO product_categories (id, name, slug, sort_order, created_at, updated_at)
       SELECT 'c' || g, 'Category ' || g, 'cat-' || g, 0, now(), now()
       FROM generate_series(1, :categories) g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price, tags,
                             featured, created_at, updated_at)
       SELECT 'q' || lpad(g::text, 7, '0'), 'Product ' || g, 'A product for the benchmark',
              'bench-q' || g,
              (CASE WHEN mod(g, 10) = 0 THEN 'DRAFT' ELSE 'PUBLISHED' END)::product_status,
              'ONE_TIME', 5 + mod(g, 200), '{}', mod(g, 20) = 0,
              timestamptz '2024-01-01' + g * interval '1 minute',
              timestamptz '2024-01-01' + g * interval '1 minute'
       FROM generate_series(1, :products) g""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type, active,
                           created_at, updated_at)
       SELECT 'qp' || g || '_' || k, 'q' || lpad(g::text, 7, '0'), 'price_q' || g || '_' || k,
              5 + mod(g, 200) + k, 'ONE_TIME', true, now(), now()
       FROM generate_series(1, :products) g, generate_series(0, 1) k""",
    """INSERT INTO product_category_links (product_id, category_id)
       SELECT 'q' || lpad(g::text, 7, '0'), 'c' || (1 + mod(g, :categories))
       FROM generate_series(1, :products) g""",
    "ANALYZE products, prices, product_categories, product_category_links",
]

_PRODUCTS = """
    SELECT id, name, slug, short_description, type, status, base_price, currency, featured,
           tags, images, billing_interval, trial_days, created_at, published_at
    FROM products
    WHERE status = 'PUBLISHED' AND deleted_at IS NULL {after}
    ORDER BY featured DESC, created_at DESC, id DESC
    LIMIT %(limit)s"""
_PRICES = """SELECT id, product_id, stripe_price_id, nickname, unit_amount, currency, type
             FROM prices WHERE product_id = ANY(%(ids)s) AND active"""
_REVIEW_COUNTS = """SELECT product_id, count(*) FROM product_reviews
                    WHERE product_id = ANY(%(ids)s) AND hidden_at IS NULL GROUP BY product_id"""


def hand_catalog(raw: Any, after: tuple[bool, Any, str] | None) -> list[Any]:
    """The reference catalog page: products, their active prices, their review counts."""
    params: dict[str, Any] = {"limit": PAGE + 1}
    clause = ""
    if after is not None:
        clause = "AND (featured, created_at, id) < (%(f)s, %(at)s, %(id)s)"
        params.update(f=after[0], at=after[1], id=after[2])
    with raw.cursor() as cur:
        cur.execute(_PRODUCTS.format(after=clause), params)
        names = [c.name for c in cur.description]
        products = [dict(zip(names, row, strict=True)) for row in cur.fetchall()][:PAGE]
        ids = [p["id"] for p in products]
        cur.execute(_PRICES, {"ids": ids})
        pnames = [c.name for c in cur.description]
        prices = [dict(zip(pnames, row, strict=True)) for row in cur.fetchall()]
        cur.execute(_REVIEW_COUNTS, {"ids": ids})
        counts = dict(cur.fetchall())
    by_id = {
        p["id"]: {**_money(p, "base_price"), "prices": [], "review_count": counts.get(p["id"], 0)}
        for p in products
    }
    for price in prices:
        by_id[price["product_id"]]["prices"].append(_money(price, "unit_amount"))
    return list(by_id.values())


def _catalog_cursor_at(session: Session, page: int) -> tuple[str | None, Any]:
    cursor: str | None = None
    last = None
    for _ in range(page - 1):
        result = paykit.list_products(session, limit=PAGE, cursor=cursor)
        cursor = result.next_cursor
        item = result.items[-1]
        last = (item.featured, item.created_at, item.id)
    return cursor, last


_ORDERS = """
    SELECT id, order_number, user_id, status, currency, subtotal, discount_amount, tax_amount,
           total_amount, payment_status, payment_method, stripe_payment_intent_id,
           refunded_amount, notes, created_at, completed_at, cancelled_at
    FROM orders
    WHERE {where}
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s"""
_ITEMS = """SELECT id, order_id, product_id, price_id, quantity, unit_price, total_price,
                   download_count, access_expires_at
            FROM order_items WHERE order_id = ANY(%(ids)s)"""
_REFUNDS = """SELECT id, order_id, amount, currency, reason, status, created_at, processed_at
              FROM refunds WHERE order_id = ANY(%(ids)s)"""


def _money(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: (str(v) if k in names else v) for k, v in row.items()}


def hand_page(raw: Any, customer: str | None, after: tuple[Any, str] | None) -> list[Any]:
    """The reference: the page's orders, then their items and refunds, as plain dicts."""
    where, params = ["true"], {"limit": PAGE + 1}
    if customer is not None:
        where.append("user_id = %(customer)s")
        params["customer"] = customer
    if after is not None:
        where.append("(created_at, id) < (%(at)s, %(id)s)")
        params.update(at=after[0], id=after[1])
    with raw.cursor() as cur:
        cur.execute(_ORDERS.format(where=" AND ".join(where)), params)
        names = [c.name for c in cur.description]
        orders = [dict(zip(names, row, strict=True)) for row in cur.fetchall()][:PAGE]
        ids = [o["id"] for o in orders]
        cur.execute(_ITEMS, {"ids": ids})
        inames = [c.name for c in cur.description]
        items = [dict(zip(inames, row, strict=True)) for row in cur.fetchall()]
        cur.execute(_REFUNDS, {"ids": ids})
        rnames = [c.name for c in cur.description]
        refunds = [dict(zip(rnames, row, strict=True)) for row in cur.fetchall()]
    by_order: dict[str, dict[str, Any]] = {
        o["id"]: {
            **_money(o, "subtotal", "discount_amount", "tax_amount", "total_amount"),
            "items": [],
            "refunds": [],
        }
        for o in orders
    }
    for item in items:
        by_order[item["order_id"]]["items"].append(_money(item, "unit_price", "total_price"))
    for refund in refunds:
        by_order[refund["order_id"]]["refunds"].append(_money(refund, "amount"))
    return list(by_order.values())


def _timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def _cursor_at(session: Session, actor: Actor, page: int) -> tuple[str | None, Any]:
    """paykit's cursor for ``page`` (1-based) and the reference's keyset position."""
    cursor: str | None = None
    last = None
    for _ in range(page - 1):
        result = paykit.list_orders(session, actor=actor, limit=PAGE, cursor=cursor)
        cursor = result.next_cursor
        last = (result.items[-1].created_at, result.items[-1].id)
    return cursor, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    schema = f"bench_read_{uuid.uuid4().hex[:8]}"
    admin = paykit.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        paykit.migrate(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            for statement in _FILL:
                conn.execute(
                    sa.text(statement), {"orders": args.orders, "customers": args.customers}
                )
        print(
            f"generated {args.orders:,} orders, {args.products:,} products and "
            f"{args.categories:,} categories in {time.perf_counter() - started:.1f} s"
        )
        staff = Actor("u0", UserRole.SUPPORT)
        customer = Actor("u7", UserRole.CUSTOMER)
        own = args.orders // args.customers
        last_page = max(1, -(-own // PAGE))
        with Session(engine) as session:
            raw = session.connection().connection.driver_connection
            rows = []
            for label, actor, who, page in (
                ("staff history", staff, None, 1),
                ("staff history", staff, None, 1000),
                ("customer history", customer, "u7", 1),
                ("customer history", customer, "u7", last_page),
            ):
                cursor, after = _cursor_at(session, actor, page)
                ours = _timed(
                    lambda a=actor, c=cursor: paykit.list_orders(
                        session, actor=a, limit=PAGE, cursor=c
                    ),
                    args.repeat,
                )
                theirs = _timed(lambda w=who, p=after: hand_page(raw, w, p), args.repeat)
                rows.append((label, page, ours, theirs))
                session.rollback()
            for page in (1, 1000):
                cursor, after = _catalog_cursor_at(session, page)
                ours = _timed(
                    lambda c=cursor: paykit.list_products(session, limit=PAGE, cursor=c),
                    args.repeat,
                )
                theirs = _timed(lambda p=after: hand_catalog(raw, p), args.repeat)
                rows.append(("catalog listing", page, ours, theirs))
                session.rollback()
        print(
            f"\n{'listing':<18}{'page':>6}{'paykit p50/p99 ms':>22}{'SQL p50/p99 ms':>20}{'ratio':>8}"
        )
        for label, page, ours, theirs in rows:
            print(
                f"{label:<18}{page:>6}{ours[0]:>12.2f} /{ours[1]:>7.2f}"
                f"{theirs[0]:>11.2f} /{theirs[1]:>6.2f}{ours[0] / theirs[0]:>8.2f}x"
            )
        for label in ("staff history", "customer history", "catalog listing"):
            first, deep = [r for r in rows if r[0] == label]
            print(
                f"{label}: page {deep[1]} / page 1 = {deep[2][0] / first[2][0]:.2f}x (paykit), "
                f"{deep[3][0] / first[3][0]:.2f}x (SQL)"
            )
    finally:
        engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
