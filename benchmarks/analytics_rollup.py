"""The analytics rollup at scale: one day and a year's backfill, beside hand-written SQL.

    python benchmarks/analytics_rollup.py [--orders N] [--subscriptions S] [--repeat R] [--keep]

Generates set-based (``INSERT ... SELECT generate_series``) in a throwaway
PostgreSQL schema, over the UTC year 2025:

* C customers (default 200,000);
* N orders (default 1,000,000), evenly over the year: 85 % COMPLETED,
  5 % REFUNDED (paid, then refunded: a refund row a day later), 10 % PENDING or
  CANCELLED (not revenue); 80 % USD, 20 % EUR; every 25th COMPLETED order
  also has a partial refund;
* S subscriptions (default 100,000), started evenly over the year, monthly, one
  PAID invoice per month from their start to the end of the year (about
  650,000 invoices: the year of history the rollup reads), a fifth of them
  cancelled after three months, every 7th adding a seat after two; their
  ``subscription_mrr_history`` (about 134,000 rows) for the MRR metrics;

then ``ANALYZE``. Measures, with the clock frozen at 2026-01-15:

* **one day**: ``paykit.analytics.rollup(day=2025-07-15)``, R times (default 7),
  median and worst, each in its own transaction (committed: a re-run replaces the
  day, so every run does the same work);
* **a year's backfill**: ``paykit.analytics.backfill(2025-01-01 .. 2025-12-31)``,
  once, committed;

each beside a hand-written reference on the same connection: psycopg, the same
four grouped queries in plain SQL (orders, invoices, refunds by UTC day and
currency; new customers by their first payment), then the same DELETE and a
multi-row INSERT. Both write the same rows (checked; the reference leaves the
MRR rows, which it does not compute, as paykit wrote them). The MRR part of one
day is also timed alone. Prints seconds and the
ratio paykit / reference. Target (issue 14): one day <= 2 s.

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
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit import analytics
from paykit.analytics.rollup import mrr_rows as rollup_mrr_rows
from paykit.clock import FrozenClock

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CLOCK = FrozenClock(datetime(2026, 1, 15, 12, tzinfo=UTC))
DAY = date(2025, 7, 15)
YEAR = (date(2025, 1, 1), date(2025, 12, 31))

_FILL = [
    """INSERT INTO users (id, email, name, role, status, created_at, updated_at)
       SELECT 'u' || g, 'bench' || g || '@example.com', 'User ' || g, 'CUSTOMER', 'ACTIVE',
              timestamptz '2024-12-01', timestamptz '2024-12-01'
       FROM generate_series(1, :customers) g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price, tags,
                             created_at, updated_at)
       VALUES ('p1', 'P', 'd', 'bench-p1', 'PUBLISHED', 'SUBSCRIPTION', 29, '{}', now(), now())""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, type, recurring,
                           created_at, updated_at)
       VALUES ('pr1', 'p1', 'price_bench_1', 29, 'RECURRING',
               '{"interval": "month", "interval_count": 1}', now(), now())""",
    # Orders: g-th at 2025-01-01 + g * (a year / N); status and currency by g.
    """INSERT INTO orders (id, user_id, order_number, status, currency, subtotal,
                           discount_amount, total_amount, billing_address, payment_status,
                           refunded_amount, completed_at, cancelled_at, created_at, updated_at)
       SELECT 'o' || lpad(g::text, 8, '0'),
              'u' || (1 + mod(g::bigint * 7919, :customers)),
              'N' || g,
              (CASE WHEN mod(g, 20) < 17 THEN 'COMPLETED' WHEN mod(g, 20) = 17 THEN 'REFUNDED'
                    WHEN mod(g, 20) = 18 THEN 'PENDING' ELSE 'CANCELLED' END)::order_status,
              CASE WHEN mod(g, 5) = 0 THEN 'EUR' ELSE 'USD' END,
              10 + mod(g, 90) + 1, 1, 10 + mod(g, 90), '{}',
              (CASE WHEN mod(g, 20) < 17 THEN 'SUCCEEDED' WHEN mod(g, 20) = 17 THEN 'REFUNDED'
                    WHEN mod(g, 20) = 18 THEN 'PENDING' ELSE 'CANCELLED' END)::payment_status,
              CASE WHEN mod(g, 20) = 17 THEN 10 + mod(g, 90) ELSE 0 END,
              CASE WHEN mod(g, 20) <= 17 THEN t END,
              CASE WHEN mod(g, 20) = 19 THEN t END,
              t, t
       FROM (SELECT g, timestamptz '2025-01-01 00:00+00'
                       + (g - 1) * (interval '365 days' / :orders) AS t
             FROM generate_series(1, :orders) g) s""",
    """INSERT INTO refunds (id, order_id, stripe_refund_id, amount, currency, reason, status,
                            processed_at, created_at, updated_at)
       SELECT 'r' || o.id, o.id, 're_' || o.id,
              CASE WHEN o.status = 'REFUNDED' THEN o.total_amount ELSE 1 END,
              o.currency, 'REQUESTED_BY_CUSTOMER', 'SUCCEEDED',
              o.completed_at + interval '1 day', o.completed_at + interval '1 day',
              o.completed_at + interval '1 day'
       FROM orders o
       WHERE o.status = 'REFUNDED'
          OR (o.status = 'COMPLETED' AND mod(substr(o.id, 2)::int, 25) = 0)""",
    """UPDATE orders SET refunded_amount = 1
       WHERE status = 'COMPLETED' AND mod(substr(id, 2)::int, 25) = 0""",
    """INSERT INTO subscriptions (id, user_id, product_id, price_id, stripe_subscription_id,
                                 status, current_period_start, current_period_end, canceled_at,
                                 currency, unit_amount, quantity, created_at, updated_at)
       SELECT 's' || g, 'u' || g, 'p1', 'pr1', 'sub_' || g,
              (CASE WHEN mod(g, 5) = 0 THEN 'CANCELLED' ELSE 'ACTIVE' END)::subscription_status,
              t, t + interval '1 month',
              CASE WHEN mod(g, 5) = 0 THEN t + interval '3 months' END,
              CASE WHEN mod(g, 4) = 0 THEN 'EUR' ELSE 'USD' END, 29, 1 + mod(g, 3), t, t
       FROM (SELECT g, timestamptz '2025-01-01 00:00+00'
                       + (g - 1) * (interval '365 days' / :subscriptions) AS t
             FROM generate_series(1, :subscriptions) g) s""",
    """INSERT INTO invoices (id, subscription_id, stripe_invoice_id, number, status, currency,
                            subtotal, total, amount_paid, amount_due, period_start, period_end,
                            paid_at, created_at, updated_at)
       SELECT 'i' || s.id || '_' || k, s.id, 'in_' || s.id || '_' || k, 'INV-' || s.id || '-' || k,
              'PAID', s.currency, 29 * s.quantity, 29 * s.quantity, 29 * s.quantity, 0,
              s.created_at + k * interval '1 month', s.created_at + (k + 1) * interval '1 month',
              s.created_at + k * interval '1 month', s.created_at + k * interval '1 month',
              s.created_at + k * interval '1 month'
       FROM subscriptions s, generate_series(0, 11) k
       WHERE s.created_at + k * interval '1 month' < timestamptz '2026-01-01 00:00+00'
         AND (s.canceled_at IS NULL OR s.created_at + k * interval '1 month' < s.canceled_at)""",
    # Their MRR history (what the services record): ACTIVE from the start; every 7th
    # adds a seat after two months; the cancelled fifth drop to 0 after three.
    """INSERT INTO subscription_mrr_history (id, subscription_id, user_id, effective_at,
                                            currency, status, monthly_amount, mrr, created_at)
       SELECT 'h' || s.id || '_' || e.k, s.id, s.user_id, s.created_at + e.shift, s.currency,
              e.status, 29 * (s.quantity + e.extra),
              CASE WHEN e.status = 'ACTIVE' THEN 29 * (s.quantity + e.extra) ELSE 0 END,
              s.created_at
       FROM subscriptions s
       JOIN (VALUES (0, interval '0', 'ACTIVE', 0), (1, interval '2 months', 'ACTIVE', 1),
                    (2, interval '3 months', 'CANCELLED', 0)) e(k, shift, status, extra)
         ON e.k = 0
         OR (e.k = 1 AND mod(substr(s.id, 2)::int, 7) = 0)
         OR (e.k = 2 AND s.canceled_at IS NOT NULL)""",
    "ANALYZE users, orders, refunds, subscriptions, invoices, subscription_mrr_history",
]

# The hand-written reference: the same definitions, plain SQL through psycopg.
_REF_ORDERS = """
    SELECT (completed_at AT TIME ZONE 'UTC')::date, currency, sum(total_amount), count(*),
           sum(discount_amount)
    FROM orders
    WHERE status IN ('COMPLETED', 'REFUNDED') AND completed_at IS NOT NULL
      AND completed_at >= %(lo)s AND completed_at < %(hi)s
    GROUP BY 1, 2"""
_REF_INVOICES = """
    SELECT (paid_at AT TIME ZONE 'UTC')::date, currency, sum(amount_paid), count(*)
    FROM invoices WHERE status = 'PAID' AND paid_at >= %(lo)s AND paid_at < %(hi)s
    GROUP BY 1, 2"""
_REF_REFUNDS = """
    SELECT (processed_at AT TIME ZONE 'UTC')::date, currency, sum(amount)
    FROM refunds WHERE status = 'SUCCEEDED' AND processed_at >= %(lo)s AND processed_at < %(hi)s
    GROUP BY 1, 2"""
_REF_NEW = """
    WITH paid AS (
        SELECT user_id, completed_at AS at FROM orders
        WHERE status IN ('COMPLETED', 'REFUNDED') AND completed_at IS NOT NULL
          AND completed_at >= %(lo)s AND completed_at < %(hi)s
        UNION ALL
        SELECT s.user_id, i.paid_at FROM invoices i JOIN subscriptions s ON s.id = i.subscription_id
        WHERE i.status = 'PAID' AND i.paid_at >= %(lo)s AND i.paid_at < %(hi)s
    ), firsts AS (
        SELECT p.user_id, min(p.at) AS first FROM paid p
        WHERE NOT EXISTS (SELECT 1 FROM orders o WHERE o.user_id = p.user_id
                            AND o.status IN ('COMPLETED', 'REFUNDED')
                            AND o.completed_at < %(lo)s)
          AND NOT EXISTS (SELECT 1 FROM subscriptions s JOIN invoices i ON i.subscription_id = s.id
                          WHERE s.user_id = p.user_id AND i.status = 'PAID'
                            AND i.paid_at < %(lo)s)
        GROUP BY p.user_id
    )
    SELECT (first AT TIME ZONE 'UTC')::date, count(*) FROM firsts GROUP BY 1"""
_REF_DELETE = """
    DELETE FROM analytics WHERE date >= %(first)s AND date <= %(last)s
      AND (metric IN ('order_count', 'invoice_count', 'new_customers')
           OR split_part(metric, ':', 1) IN ('gross_revenue', 'refunds', 'net_revenue',
                                             'discount_cost', 'average_order_value'))"""


def _ref_rows(cur: Any, first: date, last: date) -> list[tuple[Any, ...]]:
    lo = datetime.combine(first, datetime.min.time(), tzinfo=UTC)
    hi = datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    args = {"lo": lo, "hi": hi}
    orders = {(d, c): (s, n, x) for d, c, s, n, x in cur.execute(_REF_ORDERS, args)}
    invoices = {(d, c): (s, n) for d, c, s, n in cur.execute(_REF_INVOICES, args)}
    refunds = {(d, c): s for d, c, s in cur.execute(_REF_REFUNDS, args)}
    new = dict(cur.execute(_REF_NEW, args).fetchall())
    rows: list[tuple[Any, ...]] = []
    day = first
    while day <= last:
        counts: dict[str, dict[str, int]] = {"order_count": {}, "invoice_count": {}}
        for cur_code in sorted(
            {c for d, c in orders.keys() | invoices.keys() | refunds.keys() if d == day}
        ):
            o_sum, o_n, disc = orders.get((day, cur_code), (Decimal(0), 0, Decimal(0)))
            i_sum, i_n = invoices.get((day, cur_code), (Decimal(0), 0))
            back = refunds.get((day, cur_code), Decimal(0))
            q = Decimal("0.01")
            gross = (o_sum + i_sum).quantize(q)
            rows += [
                (day, f"gross_revenue:{cur_code}", gross, "{}"),
                (day, f"refunds:{cur_code}", back.quantize(q), "{}"),
                (day, f"net_revenue:{cur_code}", (gross - back).quantize(q), "{}"),
                (day, f"discount_cost:{cur_code}", disc.quantize(q), "{}"),
            ]
            if o_n:
                rows.append(
                    (
                        day,
                        f"average_order_value:{cur_code}",
                        (o_sum / o_n).quantize(q, ROUND_HALF_UP),
                        "{}",
                    )
                )
                counts["order_count"][cur_code] = o_n
            if i_n:
                counts["invoice_count"][cur_code] = i_n
        for name, split in counts.items():
            meta = json.dumps({"by_currency": split})
            rows.append((day, name, Decimal(sum(split.values())), meta))
        rows.append((day, "new_customers", Decimal(new.get(day, 0)), "{}"))
        day += timedelta(days=1)
    return rows


def reference(engine: sa.Engine, first: date, last: date) -> int:
    """The hand-written rollup of ``[first, last]`` in chunks of 31 days; rows written."""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        total, chunk = 0, first
        while chunk <= last:
            end = min(chunk + timedelta(days=30), last)
            rows = _ref_rows(cur, chunk, end)
            cur.execute(_REF_DELETE, {"first": chunk, "last": end})
            cur.executemany(
                "INSERT INTO analytics (id, date, metric, value, metadata, created_at) "
                "VALUES (gen_random_uuid()::text, %s, %s, %s, %s::jsonb, now())",
                rows,
            )
            total += len(rows)
            chunk = end + timedelta(days=1)
        raw.commit()
        return total
    finally:
        raw.close()


def paykit_rollup(engine: sa.Engine, first: date, last: date) -> int:
    with Session(engine) as session, session.begin():
        if first == last:
            return analytics.rollup(session, day=first, clock=CLOCK).rows
        return analytics.backfill(session, start=first, end=last, clock=CLOCK).rows


def _mrr_only(engine: sa.Engine, day: date) -> int:
    """The MRR part of one day's rollup alone (computed, not written)."""
    with Session(engine) as session:
        return len(rollup_mrr_rows(session, day, day))


def _snapshot(engine: sa.Engine, first: date, last: date) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                "SELECT date, metric, value, metadata::text FROM analytics "
                "WHERE date BETWEEN %(a)s AND %(b)s ORDER BY 1, 2",
                {"a": first, "b": last},
            )
        ]


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _fill(engine: sa.Engine, args: argparse.Namespace) -> None:
    params = {
        "customers": args.customers,
        "orders": args.orders,
        "subscriptions": args.subscriptions,
    }
    for statement in _FILL:
        t0 = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                sa.text(statement), {k: v for k, v in params.items() if f":{k}" in statement}
            )
        print(
            f"  {statement.split()[0].lower()} {statement.split()[2]}: {time.perf_counter() - t0:.1f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    schema = f"bench_analytics_{uuid.uuid4().hex[:8]}"
    admin = paykit.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        paykit.migrate(engine)
        print(f"generating in schema {schema}:")
        t0 = time.perf_counter()
        _fill(engine, args)
        with engine.connect() as conn:
            counts = {
                t: conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar_one()
                for t in (
                    "orders",
                    "refunds",
                    "subscriptions",
                    "invoices",
                    "users",
                    "subscription_mrr_history",
                )
            }
        print(f"generated in {time.perf_counter() - t0:.1f} s: {counts}")
        day_p = _timed(lambda: paykit_rollup(engine, DAY, DAY), args.repeat)
        rows_p = _snapshot(engine, DAY, DAY)
        day_r = _timed(lambda: reference(engine, DAY, DAY), args.repeat)
        assert _snapshot(engine, DAY, DAY) == rows_p, "paykit and the reference differ (day)"
        year_p = _timed(lambda: paykit_rollup(engine, *YEAR), 1)[0]
        rows_year = _snapshot(engine, *YEAR)
        year_r = _timed(lambda: reference(engine, *YEAR), 1)[0]
        ref_year = _snapshot(engine, *YEAR)
        differ = sorted(set(ref_year) ^ set(rows_year))[:6]
        assert not differ, f"paykit and the reference differ (year): {differ}"
        day_m = _timed(lambda: _mrr_only(engine, DAY), args.repeat)
        mp, mr = statistics.median(day_p), statistics.median(day_r)
        print(f"\none day ({DAY}, {len(rows_p)} rows), {args.repeat} runs:")
        print(f"  paykit rollup     median {mp:.3f} s  worst {max(day_p):.3f} s")
        print(f"  hand-written SQL  median {mr:.3f} s  worst {max(day_r):.3f} s")
        print(f"  ratio {mp / mr:.2f}x; target one day <= 2 s: {'met' if mp <= 2 else 'NOT met'}")
        mrr_rows = sum(1 for r in rows_p if str(r[1]).startswith("mrr"))
        print(
            f"  of which the MRR rows ({mrr_rows}) alone: median {statistics.median(day_m):.3f} s"
        )
        print(f"a year's backfill ({YEAR[0]} .. {YEAR[1]}, {len(rows_year)} rows), once:")
        print(f"  paykit backfill   {year_p:.1f} s")
        print(f"  hand-written SQL  {year_r:.1f} s")
        print(f"  ratio {year_p / year_r:.2f}x")
    finally:
        engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
