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

each beside a hand-written psycopg reference doing the same work on the same
connection: one statement with the reader's stored-role check, the keyset
page and its children as JSON (items and refunds; active prices and review
counts), the rows turned into plain dicts with the amounts as strings (what a
JSON API needs; paykit's call builds its pydantic output models). paykit and
the reference run in interleaved rounds. It prints the ratios paykit /
reference and page 1,000 / page 1 (the targets of issue 12: both within 1.5x).

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
the schema is dropped afterwards unless ``--keep`` is given; ``--schema NAME``
measures a kept schema again without generating it.
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
    SELECT p.*,
           (SELECT coalesce(json_agg(json_build_array(
                       r.id, r.nickname, r.unit_amount::text, r.currency, r.type, r.recurring)
                   ORDER BY r.unit_amount, r.id), '[]'::json)
            FROM prices r WHERE r.product_id = p.id AND r.active) AS prices,
           (SELECT count(*) FROM product_reviews v
            WHERE v.product_id = p.id AND v.hidden_at IS NULL) AS review_count
    FROM (SELECT id, name, slug, short_description, type, status, base_price, currency,
                 featured, tags, images, billing_interval, trial_days, created_at,
                 published_at
          FROM products
          WHERE status = 'PUBLISHED' {after}
          ORDER BY featured DESC, created_at DESC, id DESC
          LIMIT %(limit)s) p
    ORDER BY p.featured DESC, p.created_at DESC, p.id DESC"""
_PRICE_KEYS = ("id", "nickname", "unit_amount", "currency", "type", "recurring")


def hand_catalog(raw: Any, after: tuple[bool, Any, str] | None) -> list[Any]:
    """The reference catalog page, one statement as paykit's: products, active prices,
    visible review counts, as plain dicts with the amounts as strings."""
    params: dict[str, Any] = {"limit": PAGE + 1}
    clause = ""
    if after is not None:
        clause = "AND (featured, created_at, id) < (%(f)s, %(at)s, %(id)s)"
        params.update(f=after[0], at=after[1], id=after[2])
    with raw.cursor() as cur:
        cur.execute(_PRODUCTS.format(after=clause), params)
        names = [c.name for c in cur.description]
        rows = cur.fetchall()[:PAGE]
    page = []
    for row in rows:
        product = _money(dict(zip(names, row, strict=True)), "base_price")
        product["prices"] = [dict(zip(_PRICE_KEYS, p, strict=True)) for p in product["prices"]]
        page.append(product)
    return page


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
    SELECT r.role, p.*
    FROM (SELECT role FROM users
          WHERE id = %(reader)s AND status = 'ACTIVE' AND deleted_at IS NULL) r
    LEFT JOIN (
        SELECT o.id, o.order_number, o.user_id, o.status, o.currency, o.subtotal,
               o.discount_amount, o.tax_amount, o.total_amount, o.payment_status,
               o.payment_method, o.stripe_payment_intent_id, o.refunded_amount, o.notes,
               o.internal_notes, o.created_at, o.completed_at, o.cancelled_at,
               (SELECT coalesce(json_agg(json_build_array(
                           i.id, i.product_id, i.price_id, i.quantity, i.unit_price::text,
                           i.total_price::text, i.download_count, i.access_expires_at)
                       ORDER BY i.id), '[]'::json)
                FROM order_items i WHERE i.order_id = o.id) AS items,
               (SELECT coalesce(json_agg(json_build_array(
                           f.id, f.amount::text, f.currency, f.reason, f.status, f.created_at,
                           f.processed_at)
                       ORDER BY f.created_at, f.id), '[]'::json)
                FROM refunds f WHERE f.order_id = o.id) AS refunds
        FROM orders o
        WHERE {where}
        ORDER BY o.created_at DESC, o.id DESC
        LIMIT %(limit)s
    ) p ON true
    ORDER BY p.created_at DESC, p.id DESC"""
_ITEM_KEYS = (
    "id",
    "product_id",
    "price_id",
    "quantity",
    "unit_price",
    "total_price",
    "download_count",
    "access_expires_at",
)
_REFUND_KEYS = ("id", "amount", "currency", "reason", "status", "created_at", "processed_at")


def _money(row: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: (str(v) if k in names else v) for k, v in row.items()}


def hand_page(
    raw: Any, reader: Actor, customer: str | None, after: tuple[Any, str] | None
) -> list[Any]:
    """The reference: one statement, as paykit's, with the rows turned into plain dicts.

    The same work as ``list_orders``: the reader's stored role is checked (an
    inactive reader or another role is refused), internal notes only reach a
    role that may read them, the page's items and refunds come along.
    """
    where, params = ["true"], {"limit": PAGE + 1, "reader": reader.user_id}
    if customer is not None:
        where.append("o.user_id = %(customer)s")
        params["customer"] = customer
    if after is not None:
        where.append("(o.created_at, o.id) < (%(at)s, %(id)s)")
        params.update(at=after[0], id=after[1])
    with raw.cursor() as cur:
        cur.execute(_ORDERS.format(where=" AND ".join(where)), params)
        names = [c.name for c in cur.description]
        rows = cur.fetchall()
    if not rows or rows[0][0] != reader.role.value:
        raise PermissionError(reader.user_id)
    notes = reader.role is not UserRole.CUSTOMER
    page = []
    for row in rows[:PAGE]:
        order = dict(zip(names[1:], row[1:], strict=True))
        if order["id"] is None:
            continue
        if not notes:
            order["internal_notes"] = None
        order = _money(
            order, "subtotal", "discount_amount", "tax_amount", "total_amount", "refunded_amount"
        )
        order["items"] = [dict(zip(_ITEM_KEYS, i, strict=True)) for i in order["items"]]
        order["refunds"] = [dict(zip(_REFUND_KEYS, r, strict=True)) for r in order["refunds"]]
        page.append(order)
    return page


def _interleaved(
    pairs: list[tuple[Callable[[], Any], Callable[[], Any]]], repeat: int
) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """p50 and p99 (ms) of each pair's two calls, run in interleaved rounds.

    Every round times each call once, alternating paykit and reference, so a
    burst of load on the shared machine hits both sides alike.
    """
    samples: list[tuple[list[float], list[float]]] = [([], []) for _ in pairs]
    for _ in range(repeat):
        for (ours, theirs), (mine, ref) in zip(pairs, samples, strict=True):
            for fn, into in ((ours, mine), (theirs, ref)):
                started = time.perf_counter()
                fn()
                into.append((time.perf_counter() - started) * 1000)
    return [(_stats(mine), _stats(ref)) for mine, ref in samples]


def _stats(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
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


def _generate(engine: sa.Engine, args: argparse.Namespace) -> None:
    started = time.perf_counter()
    sizes = {
        "orders": args.orders,
        "customers": args.customers,
        "products": args.products,
        "categories": args.categories,
    }
    with engine.begin() as conn:
        for statement in _FILL + _CATALOG:
            names = [k for k in sizes if f":{k}" in statement]
            conn.execute(sa.text(statement), {k: sizes[k] for k in names})
    print(
        f"generated {args.orders:,} orders, {args.products:,} products and "
        f"{args.categories:,} categories in {time.perf_counter() - started:.1f} s"
    )


def _measure(engine: sa.Engine, args: argparse.Namespace) -> list[Any]:
    staff = Actor("u0", UserRole.SUPPORT)
    customer = Actor("u7", UserRole.CUSTOMER)
    own = args.orders // args.customers
    last_page = max(1, -(-own // PAGE))
    with Session(engine) as session:
        raw = session.connection().connection.driver_connection
        labels: list[tuple[str, int]] = []
        pairs: list[tuple[Callable[[], Any], Callable[[], Any]]] = []
        for label, actor, who, page in (
            ("staff history", staff, None, 1),
            ("staff history", staff, None, 1000),
            ("customer history", customer, "u7", 1),
            ("customer history", customer, "u7", last_page),
        ):
            cursor, after = _cursor_at(session, actor, page)
            labels.append((label, page))
            pairs.append(
                (
                    lambda a=actor, c=cursor: paykit.list_orders(
                        session, actor=a, limit=PAGE, cursor=c
                    ),
                    lambda a=actor, w=who, p=after: hand_page(raw, a, w, p),
                )
            )
        for page in (1, 1000):
            cursor, after = _catalog_cursor_at(session, page)
            labels.append(("catalog listing", page))
            pairs.append(
                (
                    lambda c=cursor: paykit.list_products(session, limit=PAGE, cursor=c),
                    lambda p=after: hand_catalog(raw, p),
                )
            )
        for ours, theirs in pairs:  # warm both sides (caches, plans) before timing
            for _ in range(5):
                ours(), theirs()
        timings = _interleaved(pairs, args.repeat)
        session.rollback()
    return [
        (label, page, ours, theirs)
        for (label, page), (ours, theirs) in zip(labels, timings, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--categories", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--keep", action="store_true", help="keep the generated schema")
    parser.add_argument("--schema", help="measure a schema kept by an earlier --keep run")
    args = parser.parse_args()
    schema = args.schema or f"bench_read_{uuid.uuid4().hex[:8]}"
    admin = paykit.create_engine(PG_URL)
    if args.schema is None:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    keep = args.keep or args.schema is not None
    try:
        if args.schema is None:  # a kept schema is migrated already
            paykit.migrate(engine)
            _generate(engine, args)
        rows = _measure(engine, args)
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
        if keep:
            print(f"schema kept: {schema} (measure again with --schema {schema})")
        else:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
