"""``paykit check`` on a large PostgreSQL database: seconds per invariant and in total.

    python benchmarks/check.py [--orders N] [--rounds R] [--keep]

Generates, set-based (``INSERT ... SELECT generate_series``), a consistent
shop of N orders (default 1,000,000) in a throwaway schema: 20,000 customers,
100 products (half of them tracking stock), 10 discount codes, 1 or 2 items
per order, a discount on every fifth order, tax on the discounted amount;
80 % of the orders paid, 10 % pending, 5 % cancelled, 3 % declined, 1 % fully
and 1 % partly refunded (with their Refund rows), the discount usages of the
orders that keep theirs, one audit row per order and per refund plus an
``order.paid`` row for half the paid orders, and one webhook event per three
orders (mostly processed, some ignored, failed and pending). Then it runs
``paykit.check`` R times (default 3) in a REPEATABLE READ, read-only
transaction, as ``paykit check`` does, and prints each invariant's median
time and the total. The data set must pass: a finding fails the run, so the
figure is for a full check that found nothing to report.

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
the schema is dropped afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# Each order g: product p1 = g % 100 + 1 (quantity g % 3 + 1); odd g also buys
# p2 = (g + 37) % 100 + 1 once. A product p costs 10 + p. Every fifth order
# takes 10 % off; tax is 8 % of the discounted amount. g % 100 picks the state.
_ORDER_MATH = """
    WITH base AS (
        SELECT g,
               (10 + g % 100 + 1) * (g % 3 + 1)
               + CASE WHEN g % 2 = 1 THEN 10 + (g + 37) % 100 + 1 ELSE 0 END AS subtotal,
               g % 100 AS state
        FROM generate_series(1, :orders) AS g
    ), priced AS (
        SELECT g, state, subtotal::numeric(10, 2) AS subtotal,
               CASE WHEN g % 5 = 0 THEN round(subtotal * 0.10, 2) ELSE 0 END AS discount
        FROM base
    )
    SELECT g, state, subtotal, discount,
           round((subtotal - discount) * 0.08, 2) AS tax,
           subtotal - discount + round((subtotal - discount) * 0.08, 2) AS total
    FROM priced
"""

_STATEMENTS = [
    """INSERT INTO users (id, email, name, role, status, created_at, updated_at)
       SELECT 'u' || g, 'u' || g || '@example.com', 'User ' || g, 'CUSTOMER', 'ACTIVE',
              now(), now()
       FROM generate_series(1, 20000) AS g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price,
                             tags, track_inventory, stock_quantity, created_at, updated_at)
       SELECT 'p' || g, 'Product ' || g, 'generated', 'product-' || g, 'PUBLISHED',
              'ONE_TIME', 10 + g, '{}', g <= 50, CASE WHEN g <= 50 THEN 1000000 ELSE 0 END,
              now(), now()
       FROM generate_series(1, 100) AS g""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type, created_at,
                           updated_at)
       SELECT 'pr' || g, 'p' || g, 'price_' || g, 10 + g, 'ONE_TIME', now(), now()
       FROM generate_series(1, 100) AS g""",
    """INSERT INTO discounts (id, code, name, type, value, current_uses, created_at, updated_at)
       SELECT 'd' || g, 'CODE' || g, 'Code ' || g, 'PERCENTAGE', 10, 0, now(), now()
       FROM generate_series(1, 10) AS g""",
    f"""INSERT INTO orders (id, user_id, stripe_payment_intent_id, order_number, status,
                            subtotal, tax_amount, discount_amount, total_amount,
                            billing_address, payment_status, refunded_amount, completed_at,
                            cancelled_at, created_at, updated_at)
        SELECT 'o' || g, 'u' || (g % 20000 + 1), 'pi_' || g, 'PK-' || g,
               (CASE WHEN state < 80 OR state = 99 THEN 'COMPLETED'
                     WHEN state < 90 THEN 'PENDING'
                     WHEN state < 98 THEN 'CANCELLED'
                     ELSE 'REFUNDED' END)::order_status,
               subtotal, tax, discount, total, '{{"country": "US"}}',
               (CASE WHEN state < 80 OR state = 99 THEN 'SUCCEEDED'
                     WHEN state < 90 THEN 'PENDING'
                     WHEN state < 95 THEN 'CANCELLED'
                     WHEN state < 98 THEN 'FAILED'
                     ELSE 'REFUNDED' END)::payment_status,
               CASE WHEN state = 98 THEN total WHEN state = 99 THEN 1 ELSE 0 END,
               CASE WHEN state < 80 OR state >= 98 THEN now() END,
               CASE WHEN state >= 90 AND state < 98 THEN now() END,
               now(), now()
        FROM ({_ORDER_MATH}) AS o""",
    """INSERT INTO order_items (id, order_id, product_id, price_id, quantity, unit_price,
                                total_price, created_at)
       SELECT 'i' || g, 'o' || g, 'p' || (g % 100 + 1), 'pr' || (g % 100 + 1), g % 3 + 1,
              10 + g % 100 + 1, (10 + g % 100 + 1) * (g % 3 + 1), now()
       FROM generate_series(1, :orders) AS g
       UNION ALL
       SELECT 'j' || g, 'o' || g, 'p' || ((g + 37) % 100 + 1), 'pr' || ((g + 37) % 100 + 1), 1,
              10 + (g + 37) % 100 + 1, 10 + (g + 37) % 100 + 1, now()
       FROM generate_series(1, :orders) AS g WHERE g % 2 = 1""",
    # Cancelled and declined orders (states 90..97) gave their use back or never took one.
    f"""INSERT INTO discount_usages (id, discount_id, user_id, order_id, amount_saved,
                                     created_at)
        SELECT 'du' || g, 'd' || (g / 5 % 10 + 1), 'u' || (g % 20000 + 1), 'o' || g,
               discount, now()
        FROM ({_ORDER_MATH}) AS o
        WHERE g % 5 = 0 AND (state < 90 OR state >= 98)""",
    """UPDATE discounts SET current_uses = u.n
       FROM (SELECT discount_id, count(*) AS n FROM discount_usages GROUP BY discount_id) AS u
       WHERE u.discount_id = discounts.id""",
    f"""INSERT INTO refunds (id, order_id, stripe_refund_id, amount, reason, status,
                             processed_at, created_at, updated_at)
        SELECT 'r' || g, 'o' || g, 're_' || g,
               CASE WHEN state = 98 THEN total ELSE 1 END,
               'REQUESTED_BY_CUSTOMER', 'SUCCEEDED', now(), now(), now()
        FROM ({_ORDER_MATH}) AS o WHERE state >= 98""",
    """INSERT INTO audit_logs (id, user_id, action, resource, resource_id, created_at)
       SELECT 'a' || o.id, o.user_id,
              CASE WHEN o.payment_status = 'FAILED' THEN 'order.payment_declined'
                   ELSE 'order.created' END,
              'orders', o.id, now()
       FROM orders AS o
       UNION ALL
       SELECT 'b' || o.id, o.user_id, 'order.paid', 'orders', o.id, now()
       FROM orders AS o WHERE o.status = 'COMPLETED' AND right(o.id, 1) IN ('0', '2', '4')
       UNION ALL
       SELECT 'a' || r.id, NULL, 'refund.created', 'refunds', r.id, now() FROM refunds AS r""",
    """INSERT INTO paykit_webhook_events (id, event_id, type, object_id, event_created_at,
                                          payload, status, attempts, last_error, received_at,
                                          processed_at)
       SELECT 'w' || g, 'evt_' || g, 'payment_intent.succeeded', 'pi_' || (3 * g),
              now(), '{}',
              CASE WHEN g % 100 < 90 THEN 'processed' WHEN g % 100 < 97 THEN 'ignored'
                   WHEN g % 100 < 99 THEN 'failed' ELSE 'pending' END,
              CASE WHEN g % 100 < 99 THEN 1 ELSE 0 END,
              CASE WHEN g % 100 IN (97, 98) THEN 'InvalidState: generated' END,
              now(),
              CASE WHEN g % 100 < 97 THEN now() END
       FROM generate_series(1, :orders / 3) AS g""",
]


def generate(engine: sa.Engine, orders: int) -> float:
    started = time.perf_counter()
    with engine.begin() as conn:
        for statement in _STATEMENTS:
            conn.execute(sa.text(statement), {"orders": orders} if ":orders" in statement else {})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    return time.perf_counter() - started


def run_check(engine: sa.Engine) -> paykit.Report:
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with Session(bind=conn) as session:
            report = paykit.check(session)
        conn.rollback()
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    schema = f"pk_check_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        paykit.migrate(engine)
        seconds = generate(engine, args.orders)
        with engine.connect() as conn:
            counts = {
                table: conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one()
                for table in (
                    "orders",
                    "order_items",
                    "discount_usages",
                    "refunds",
                    "audit_logs",
                    "paykit_webhook_events",
                )
            }
        print(f"generated in {seconds:.1f} s: {json.dumps(counts)}")
        rounds = []
        for number in range(1, args.rounds + 1):
            started = time.perf_counter()
            report = run_check(engine)
            total = time.perf_counter() - started
            if not report.ok:
                raise SystemExit("the generated data set must pass:\n" + report.format())
            rounds.append((total, report.seconds))
            print(f"round {number}: paykit.check took {total:.2f} s")
        print(f"\n{'invariant':<24} median seconds over {len(rounds)} rounds")
        for name in rounds[0][1]:
            print(f"{name:<24} {statistics.median(r[1][name] for r in rounds):8.3f}")
        print(f"{'total':<24} {statistics.median(r[0] for r in rounds):8.3f}")
    finally:
        engine.dispose()
        if args.keep:
            print(f"schema kept: {schema}")
        else:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
