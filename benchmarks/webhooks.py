"""Webhook throughput: Stripe events verified, stored in the inbox and applied, per second.

    python benchmarks/webhooks.py [--subscriptions K] [--rounds R] [--shared-session]
                                  [--workers N]

``--workers N`` measures the worker path instead: every delivery ingested with
``defer=True`` (verify and store, one thread), then the inbox applied by N
threads running ``paykit.stripe.worker.work_inbox``; the same final-state
check follows.

One worker, PostgreSQL, one session and one transaction (commit) per
delivery, as the endpoint in docs/stripe.md runs it (``--shared-session``
reuses one session for all deliveries, as earlier versions of this benchmark
did): ``paykit.webhooks.handle_webhook`` checks the signature
with stripe-python, inserts the inbox row, applies the event
(``customer.subscription.*`` through ``sync_subscription``, ``invoice.*``
through ``sync_invoice``) and records the outcome. The event mix is realistic
for a subscription business: per subscription one ``created``, a few
``updated`` (quantity changes), an ``invoice.created``/``finalized``/``paid``
triple, and 10 % of deliveries repeated (Stripe's at-least-once delivery).
The gateway is a FakeGateway without latency, so the figure is paykit's
cost, not the network's. The target is 300 events/s.

After each round the final state is checked (every subscription at its last
quantity, every invoice paid, every inbox row processed), so a fast run that
skipped work fails instead of counting. Each round is printed with the load
average around it: on a shared machine, other work skews the figure.

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
the run works in a schema of its own and drops it afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.stripe.worker import work_inbox
from paykit.testing import sign_webhook
from paykit.webhooks import handle_webhook

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SECRET = "whsec_bench"
T0 = datetime(2026, 6, 1, tzinfo=UTC)


def _signature(payload: bytes, timestamp: int) -> str:
    return sign_webhook(payload, SECRET, timestamp)


def _invoice(sub_id: str, customer: str, n: int, status: str, created: int) -> dict[str, Any]:
    return {
        "id": f"in_bench_{n:06d}",
        "object": "invoice",
        "customer": customer,
        "subscription": None,
        "parent": {"subscription_details": {"subscription": sub_id}},
        "currency": "usd",
        "number": None if status == "draft" else f"BENCH-{n:06d}",
        "status": status,
        "subtotal": 2000,
        "total": 2000,
        "total_taxes": [],
        "amount_paid": 2000 if status == "paid" else 0,
        "amount_due": 2000,
        "period_start": created,
        "period_end": created + 30 * 86400,
        "due_date": None,
        "status_transitions": {"paid_at": created if status == "paid" else None},
    }


def _event(kind: str, obj: dict[str, Any], created: int) -> dict[str, Any]:
    return {
        "id": f"evt_{uuid.uuid4().hex}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": obj},
    }


def build(engine: sa.Engine, subscriptions: int) -> tuple[FakeGateway, FrozenClock, list[bytes]]:
    """Users, a price and a Stripe-side story per subscription; returns the signed bodies."""
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    price_id = gateway.add_price(unit_amount=2000, currency="usd", price_id="price_bench")
    with Session(engine) as session, session.begin():
        product = m.Product(
            name="Bench",
            description="bench",
            slug="bench",
            type=m.ProductType.SUBSCRIPTION,
            base_price=Decimal("20.00"),
        )
        session.add(product)
        session.flush()
        session.add(
            m.Price(
                product_id=product.id,
                stripe_price_id=price_id,
                unit_amount=Decimal("20.00"),
                type=m.PriceType.RECURRING,
            )
        )
        bodies: list[dict[str, Any]] = []
        base = int(T0.timestamp())
        for n in range(subscriptions):
            customer = gateway.create_customer(email=f"b{n}@example.com", idempotency_key=f"c{n}")
            session.add(m.User(email=f"b{n}@example.com", stripe_customer_id=customer.id))
            gateway.attach_payment_method(
                "pm_card_visa", customer_id=customer.id, idempotency_key=f"p{n}"
            )
            sub = gateway.create_subscription(
                customer_id=customer.id, price_id=price_id, idempotency_key=f"s{n}"
            )
            story = [_event("customer.subscription.created", dict(sub.raw), base)]
            for step in range(1, 4):
                state = gateway.update_subscription(
                    sub.id, quantity=step + 1, idempotency_key=f"u{n}-{step}"
                )
                story.append(_event("customer.subscription.updated", dict(state.raw), base + step))
            for offset, (kind, status) in enumerate(
                (
                    ("invoice.created", "draft"),
                    ("invoice.finalized", "open"),
                    ("invoice.paid", "paid"),
                )
            ):
                created = base + 5 + offset
                story.append(
                    _event(kind, _invoice(sub.id, customer.id, n, status, created), created)
                )
            bodies.extend(story)
    clock.advance(timedelta(seconds=10))
    rng = random.Random(5)
    repeats = rng.sample(bodies, len(bodies) // 10)
    deliveries = bodies + repeats
    # Subscriptions interleave; each one's events stay roughly in order, as Stripe sends them.
    rng.shuffle(deliveries)
    return gateway, clock, [json.dumps(event).encode() for event in deliveries]


def run(
    engine: sa.Engine,
    gateway: FakeGateway,
    clock: FrozenClock,
    bodies: list[bytes],
    *,
    shared_session: bool = False,
) -> float:
    now = int(clock.now().timestamp())
    signed = [(body, _signature(body, now)) for body in bodies]
    statuses: dict[int, int] = {}
    started = time.perf_counter()
    if shared_session:
        with Session(engine, expire_on_commit=False) as session:
            for body, header in signed:
                response = handle_webhook(
                    session, body, header, secrets=[SECRET], gateway=gateway, clock=clock
                )
                session.commit()
                statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    else:
        for body, header in signed:
            # What an endpoint does per request (docs/stripe.md): a session, commit, close.
            with Session(engine) as session, session.begin():
                response = handle_webhook(
                    session, body, header, secrets=[SECRET], gateway=gateway, clock=clock
                )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    elapsed = time.perf_counter() - started
    if set(statuses) != {200}:
        raise SystemExit(f"unexpected answers: {statuses}")
    return len(bodies) / elapsed


def run_workers(
    engine: sa.Engine,
    gateway: FakeGateway,
    clock: FrozenClock,
    bodies: list[bytes],
    workers: int,
) -> tuple[float, float]:
    """Ingest every delivery with ``defer=True`` (one thread), then apply the inbox
    with ``workers`` threads running ``work_inbox``; (ingest events/s, apply events/s)."""
    import threading

    now = int(clock.now().timestamp())
    signed = [(body, _signature(body, now)) for body in bodies]
    started = time.perf_counter()
    for body, header in signed:
        with Session(engine) as session, session.begin():
            response = handle_webhook(
                session, body, header, secrets=[SECRET], gateway=gateway, clock=clock, defer=True
            )
        if response.status_code != 200:
            raise SystemExit(f"ingest answered {response.status_code}")
    ingest = len(bodies) / (time.perf_counter() - started)
    with engine.connect() as conn:
        pending = int(conn.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent)) or 0)

    def work() -> None:
        while True:
            with Session(engine) as session, session.begin():
                result = work_inbox(session, gateway=gateway, clock=clock, batch_size=20)
            if result.idle:
                with engine.connect() as conn:
                    left = conn.scalar(
                        sa.select(sa.func.count())
                        .select_from(m.WebhookEvent)
                        .where(m.WebhookEvent.status.in_(("pending", "failed")))
                    )
                if not left:
                    return
                time.sleep(0.002)  # another worker holds the next event of an object

    started = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ingest, pending / (time.perf_counter() - started)


def check(engine: sa.Engine, subscriptions: int, events: int) -> None:
    """Every delivery's effect is there: the last state of each story, each event once."""
    with engine.connect() as conn:
        subs = conn.execute(
            sa.select(m.Subscription.quantity, sa.func.count()).group_by(m.Subscription.quantity)
        ).all()
        invoices = conn.execute(
            sa.select(m.Invoice.status, sa.func.count()).group_by(m.Invoice.status)
        ).all()
        inbox = conn.execute(
            sa.select(
                m.WebhookEvent.status, sa.func.count(), sa.func.max(m.WebhookEvent.attempts)
            ).group_by(m.WebhookEvent.status)
        ).all()
    problems = []
    if [tuple(r) for r in subs] != [(4, subscriptions)]:
        problems.append(f"subscriptions by quantity {[tuple(r) for r in subs]}")
    if [tuple(r) for r in invoices] != [(m.InvoiceStatus.PAID, subscriptions)]:
        problems.append(f"invoices by status {[tuple(r) for r in invoices]}")
    if [tuple(r) for r in inbox] != [("processed", events, 1)]:
        problems.append(f"inbox by status {[tuple(r) for r in inbox]}")
    if problems:
        raise SystemExit("wrong final state: " + "; ".join(problems))


def _reference_round(
    admin: sa.Engine, schema: str, args: argparse.Namespace, refs: list[float]
) -> str:
    """The same workload (a fresh schema, the same story) through the reference."""
    import _webhook_reference as reference
    from psycopg.conninfo import make_conninfo

    ref_schema = f"{schema}_ref"
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {ref_schema} CASCADE")
        conn.exec_driver_sql(f"CREATE SCHEMA {ref_schema}")
    engine = paykit.create_engine(PG_URL, connect_args={"options": f"-csearch_path={ref_schema}"})
    try:
        paykit.migrate(engine)
        _, clock, bodies = build(engine, args.subscriptions)
        now = int(clock.now().timestamp())
        signed = [(body, _signature(body, now)) for body in bodies]
        dsn = make_conninfo(
            PG_URL.replace("postgresql+psycopg", "postgresql"),
            options=f"-csearch_path={ref_schema}",
        )
        if args.workers:
            ingest_s, apply_s = reference.workers(dsn, signed, SECRET, now, args.workers)
            with engine.connect() as conn:
                stored = int(
                    conn.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent)) or 0
                )
            refs.append(stored / apply_s)
            text = (
                f"reference ingest {len(bodies) / ingest_s:.0f} deliveries/s, "
                f"apply {refs[-1]:.0f} events/s"
            )
        else:
            elapsed = reference.inline(dsn, signed, SECRET, now)
            refs.append(len(bodies) / elapsed)
            text = f"reference {refs[-1]:.0f} events/s"
        with engine.connect() as conn:
            stored = int(conn.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent)) or 0)
        check(engine, args.subscriptions, stored)  # the reference must reach the same state
        return text
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {ref_schema} CASCADE")


def _load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--shared-session", action="store_true", help="one session for all deliveries"
    )
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also run the hand-written psycopg reference on the same workload, side by side",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="ingest with defer=True, then apply with N work_inbox threads (0: inline)",
    )
    args = parser.parse_args()
    schema = f"pk_bench_{uuid.uuid4().hex[:10]}"
    admin = paykit.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    try:
        rates: list[float] = []
        refs: list[float] = []
        for _ in range(args.rounds):
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
                conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            engine = paykit.create_engine(
                PG_URL, connect_args={"options": f"-csearch_path={schema}"}
            )
            paykit.migrate(engine)
            gateway, clock, bodies = build(engine, args.subscriptions)
            before = _load()
            if args.workers:
                ingest, applied = run_workers(engine, gateway, clock, bodies, args.workers)
                rates.append(applied)
                line = (
                    f"round {len(rates)}: paykit ingest {ingest:.0f} deliveries/s, "
                    f"{args.workers} worker(s) apply {applied:.0f} events/s"
                )
            else:
                rates.append(
                    run(engine, gateway, clock, bodies, shared_session=args.shared_session)
                )
                line = f"round {len(rates)}: paykit {rates[-1]:.0f} events/s"
            if args.reference:
                line += "; " + _reference_round(admin, schema, args, refs)
            print(f"{line} (load {before} -> {_load()})")
            with engine.connect() as conn:
                stored = conn.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent))
                subs = conn.scalar(sa.select(sa.func.count()).select_from(m.Subscription))
            check(engine, args.subscriptions, int(stored or 0))
            engine.dispose()
        session_mode = "one shared session" if args.shared_session else "a session per delivery"
        if args.workers:
            session_mode = f"deferred ingest, then {args.workers} work_inbox thread(s)"
        print(
            f"webhooks on PostgreSQL, {session_mode}: {len(bodies)} deliveries "
            f"({stored} distinct events, {subs} subscriptions) per round"
        )
        print(
            f"events/s (verify + inbox + apply + commit): median {statistics.median(rates):.0f}, "
            f"rounds {', '.join(f'{r:.0f}' for r in rates)}  (target >= 300)"
        )
        if refs:
            print(
                f"hand-written psycopg reference: median {statistics.median(refs):.0f} events/s; "
                f"paykit / reference = {statistics.median(rates) / statistics.median(refs):.2f}x"
            )
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


if __name__ == "__main__":
    main()
