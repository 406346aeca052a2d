"""MRR at scale: ``paykit.mrr`` against a hand-written SQL reference on the same data.

    python benchmarks/analytics.py [--subscriptions N] [--customers C] [--repeat R] [--keep]

Generates set-based (``INSERT ... SELECT generate_series``) in a throwaway
PostgreSQL schema C customers (default 50,000) and N subscriptions (default
100,000) over four prices (USD and EUR, monthly and yearly), each
subscription with a year (2025) of history in ``subscription_mrr_history``:
a row every month (a renewal, an upgrade or a quantity change), a trial
first for every 7th, a past-due month for every 11th, and a cancellation for
every 5th (every 15th of those comes back two months later), then
``ANALYZE``. About 1.2 million history rows.

Measures, R times each (default 20), p50 and p99 in milliseconds, MRR in USD
at three instants (end of March, end of June, end of the year):

* **paykit**: ``paykit.mrr(session, at=..., currency="USD")``;
* **reference**: one hand-written psycopg query, ``DISTINCT ON
  (subscription_id) ... ORDER BY subscription_id, effective_at DESC``, summed;

checks both give the same Decimal, and prints the ratio paykit / reference
(the target: within 1.5x). Then times ``paykit.mrr_movements`` over one
month and over the whole year (no reference; reported as measured).

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
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

# Prices: (id, currency, unit amount, interval); monthly amounts are what
# record_mrr_change would store (yearly / 12, rounded half-up to 4 places).
_FILL = [
    """INSERT INTO users (id, email, name, role, status, created_at, updated_at)
       SELECT 'u' || g, 'bench' || g || '@example.com', 'User ' || g, 'CUSTOMER', 'ACTIVE',
              now(), now()
       FROM generate_series(1, :customers) g""",
    """INSERT INTO products (id, name, description, slug, status, type, base_price, tags,
                             created_at, updated_at)
       VALUES ('p1', 'P', 'd', 'bench-p1', 'PUBLISHED', 'SUBSCRIPTION', 10, '{}', now(), now())""",
    """INSERT INTO prices (id, product_id, stripe_price_id, unit_amount, currency, recurring,
                           type, created_at, updated_at)
       VALUES ('pr0', 'p1', 'price_b0', 29.00, 'USD', '{"interval": "month"}', 'RECURRING',
               now(), now()),
              ('pr1', 'p1', 'price_b1', 99.00, 'USD', '{"interval": "month"}', 'RECURRING',
               now(), now()),
              ('pr2', 'p1', 'price_b2', 290.00, 'USD', '{"interval": "year"}', 'RECURRING',
               now(), now()),
              ('pr3', 'p1', 'price_b3', 19.99, 'EUR', '{"interval": "month"}', 'RECURRING',
               now(), now())""",
    """INSERT INTO subscriptions (id, user_id, product_id, price_id, stripe_subscription_id,
                                 status, current_period_start, current_period_end, currency,
                                 unit_amount, quantity, created_at, updated_at)
       SELECT 's' || g, 'u' || (1 + mod(g, :customers)), 'p1', 'pr' || mod(g, 4),
              'sub_b' || g, 'ACTIVE', now(), now() + interval '30 days',
              CASE WHEN mod(g, 4) = 3 THEN 'EUR' ELSE 'USD' END, 10, 1, now(), now()
       FROM generate_series(1, :subscriptions) g""",
    # One row a month per subscription, starting at a spread-out instant in January.
    """INSERT INTO subscription_mrr_history (id, subscription_id, user_id, effective_at,
                                            currency, status, monthly_amount, mrr, created_at)
       SELECT 'h' || g || '_' || k, 's' || g, 'u' || (1 + mod(g, :customers)), at, currency,
              status, amount, CASE WHEN status IN ('ACTIVE', 'PAST_DUE') THEN amount ELSE 0 END,
              now()
       FROM (
         SELECT g, k,
                timestamptz '2025-01-01' + (mod(g * 7919, 31 * 86400)) * interval '1 second'
                  + k * interval '1 month' AS at,
                CASE WHEN mod(g, 4) = 3 THEN 'EUR' ELSE 'USD' END AS currency,
                CASE
                  WHEN mod(g, 7) = 0 AND k = 0 THEN 'TRIALING'
                  WHEN mod(g, 5) = 0 AND k BETWEEN 6 AND 7 THEN 'CANCELLED'
                  WHEN mod(g, 5) = 0 AND mod(g, 15) <> 0 AND k >= 6 THEN 'CANCELLED'
                  WHEN mod(g, 11) = 0 AND k = 3 THEN 'PAST_DUE'
                  ELSE 'ACTIVE'
                END AS status,
                round(CASE mod(g, 4)
                  WHEN 0 THEN 29.00 * (1 + mod(g + k / 4, 3))
                  WHEN 1 THEN 99.00 * (1 + mod(k / 6, 2))
                  WHEN 2 THEN 290.00 / 12
                  ELSE 19.99 * (1 + mod(g, 2))
                END, 4) AS amount
         FROM generate_series(1, :subscriptions) g, generate_series(0, 11) k
       ) rows""",
    "ANALYZE users, subscriptions, subscription_mrr_history",
]

REFERENCE = """
SELECT COALESCE(SUM(mrr), 0) FROM (
  SELECT DISTINCT ON (subscription_id) mrr
  FROM subscription_mrr_history
  WHERE currency = %(currency)s AND effective_at <= %(at)s
  ORDER BY subscription_id, effective_at DESC
) latest
"""


def timed(func: Callable[[], Any], repeat: int) -> tuple[float, float, Any]:
    """p50 and p99 in milliseconds, and the last result."""
    samples = []
    result = None
    for _ in range(repeat):
        began = time.perf_counter()
        result = func()
        samples.append((time.perf_counter() - began) * 1000)
    samples.sort()
    p99 = samples[min(len(samples) - 1, round(0.99 * (len(samples) - 1)))]
    return statistics.median(samples), p99, result


def _fill(engine: sa.Engine, subscriptions: int, customers: int) -> float:
    began = time.perf_counter()
    with engine.begin() as conn:
        for statement in _FILL:
            conn.execute(
                sa.text(statement), {"subscriptions": subscriptions, "customers": customers}
            )
    return time.perf_counter() - began


def _compare(session: Session, raw: Any, repeat: int) -> None:
    print(f"{'MRR in USD at':<28}{'paykit p50/p99':>18}{'reference p50/p99':>21}{'ratio':>8}")
    for at in (
        datetime(2025, 4, 1, tzinfo=UTC),
        datetime(2025, 7, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    ):
        ours = timed(lambda at=at: paykit.mrr(session, at=at, currency="USD"), repeat)

        def reference(at: datetime = at) -> Decimal:
            with raw.cursor() as cur:
                cur.execute(REFERENCE, {"currency": "USD", "at": at})
                value: Decimal = cur.fetchone()[0]
                return value

        theirs = timed(reference, repeat)
        assert ours[2] == theirs[2], (ours[2], theirs[2])
        print(
            f"{at.isoformat():<28}{ours[0]:>9.1f}/{ours[1]:<8.1f}{theirs[0]:>11.1f}/"
            f"{theirs[1]:<9.1f}{ours[0] / theirs[0]:>7.2f}x   (MRR {ours[2]})"
        )


def _movements(session: Session) -> None:
    for start, end in (
        (date(2025, 6, 1), date(2025, 6, 30)),
        (date(2025, 1, 1), date(2025, 12, 31)),
    ):
        began = time.perf_counter()
        moved = paykit.mrr_movements(session, start=start, end=end, currency="USD")
        took = time.perf_counter() - began
        assert moved.balanced
        print(
            f"mrr_movements {start}..{end}: {took:.2f} s  start {moved.start_mrr} + new "
            f"{moved.new} + react {moved.reactivation} + exp {moved.expansion} - contr "
            f"{moved.contraction} - churn {moved.churned} = end {moved.end_mrr}"
        )


def main() -> None:
    """Generate the data set, compare, report; drop the schema unless ``--keep``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    schema = f"bench_mrr_{uuid.uuid4().hex[:8]}"
    admin = paykit.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={schema}"})
    try:
        paykit.migrate(engine)
        took = _fill(engine, args.subscriptions, args.customers)
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT count(*) FROM subscription_mrr_history")).scalar()
        print(
            f"schema {schema}: {args.subscriptions} subscriptions, {rows} history rows "
            f"(generated in {took:.1f} s)"
        )
        with Session(engine) as session:
            raw = session.connection().connection.dbapi_connection
            _compare(session, raw, args.repeat)
            _movements(session)
    finally:
        engine.dispose()
        if not args.keep:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
