"""First deliveries about one object, on two connections at once.

One transaction inserts the row (inbox, subscription, invoice) and keeps its
transaction open; a second one, started meanwhile, finds no row and inserts
too. On PostgreSQL the second INSERT waits on the unique index until the first
commits and then does nothing (``ON CONFLICT DO NOTHING``): the second call must
carry on as an update (or a duplicate) under the ordering rules. The test
checks that it really waited. On SQLite ``BEGIN IMMEDIATE`` serializes the two
transactions, so the same test checks the outcome only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from tests import factories as f
from tests.stripe_server import fixture, make_event, sign

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.services.subscriptions import ensure_gateway_customer, sync_invoice, sync_subscription
from paykit.webhooks import handle_webhook

T0 = datetime(2026, 3, 1, tzinfo=UTC)
BASE = int(T0.timestamp())
SECRET = "whsec_parallel"


@dataclass
class World:
    engine: Engine
    clock: FrozenClock
    gateway: FakeGateway
    customer_id: str
    stripe_price_id: str


@pytest.fixture
def world(db_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    engine = db_factory.migrated()
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    stripe_price_id = gateway.add_price(unit_amount=2000, currency="usd", price_id="price_pro")
    with Session(engine) as session, session.begin():
        user = f.user(session)
        customer_id = ensure_gateway_customer(session, user, gateway, clock=clock)
        product = f.product(session, type=m.ProductType.SUBSCRIPTION, base_price=Decimal("20.00"))
        f.price(session, product, stripe_price_id=stripe_price_id, type=m.PriceType.RECURRING)
    gateway.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm")
    yield World(engine, clock, gateway, customer_id, stripe_price_id)
    with Session(engine) as session:
        report = paykit.check(session)
    assert report.ok, report.format()  # what the racing deliveries left passes paykit check


def race(engine: Engine, first: Callable[[Session], Any], second: Callable[[Session], Any]) -> Any:
    """Run ``first`` and hold its transaction open while ``second`` starts on another
    connection; commit ``first`` once ``second`` waits on it. Returns ``second``'s result."""
    postgres = engine.dialect.name == "postgresql"
    pids: list[int] = []

    def run_second() -> Any:
        with Session(engine, expire_on_commit=False) as session, session.begin():
            if postgres:
                pids.append(int(session.scalar(sa.text("SELECT pg_backend_pid()")) or 0))
            return second(session)

    # The first transaction is committed by hand, once the second waits on it; an
    # assertion failure closes the session, which rolls back and frees the second.
    with ThreadPoolExecutor(1) as pool, Session(engine, expire_on_commit=False) as session:
        first(session)
        future = pool.submit(run_second)
        if postgres:
            assert _waits_on_a_lock(engine, pids), "the second INSERT never waited"
        else:
            time.sleep(0.2)  # BEGIN IMMEDIATE: the second waits for the commit
        session.commit()
        return future.result(timeout=30)


def _waits_on_a_lock(engine: Engine, pids: list[int]) -> bool:
    deadline = time.monotonic() + 10
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            if pids:
                waiting = conn.scalar(
                    sa.text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :pid"),
                    {"pid": pids[0]},
                )
                if waiting == "Lock":
                    return True
            conn.rollback()  # a fresh snapshot of pg_stat_activity
            time.sleep(0.01)
    return False


def subscription_events(w: World) -> tuple[dict[str, Any], dict[str, Any]]:
    sub = w.gateway.create_subscription(
        customer_id=w.customer_id, price_id=w.stripe_price_id, idempotency_key="s"
    )
    created = make_event("customer.subscription.created", sub.raw, created=BASE)
    w.clock.advance(seconds=10)
    changed = w.gateway.update_subscription(sub.id, quantity=2, idempotency_key="u")
    updated = make_event("customer.subscription.updated", changed.raw, created=BASE + 10)
    return created, updated


def stored(w: World, model: Any) -> Any:
    with Session(w.engine) as session:
        return session.scalars(sa.select(model)).one()


def audits(w: World, action: str) -> int:
    with Session(w.engine) as session:
        return int(
            session.scalar(
                sa.select(sa.func.count())
                .select_from(m.AuditLog)
                .where(m.AuditLog.action == action)
            )
            or 0
        )


def test_a_newer_state_inserted_second_becomes_an_update(world: World) -> None:
    w = world
    created, updated = subscription_events(w)
    race(
        w.engine,
        lambda s: sync_subscription(s, created, clock=w.clock, gateway=w.gateway),
        lambda s: sync_subscription(s, updated, clock=w.clock, gateway=w.gateway),
    )
    row = stored(w, m.Subscription)
    assert row.quantity == 2
    assert row.stripe_event_created_at == T0 + timedelta(seconds=10)
    assert audits(w, "subscription.synced") == 2


def test_an_older_state_inserted_second_changes_nothing(world: World) -> None:
    w = world
    created, updated = subscription_events(w)
    race(
        w.engine,
        lambda s: sync_subscription(s, updated, clock=w.clock, gateway=w.gateway),
        lambda s: sync_subscription(s, created, clock=w.clock, gateway=w.gateway),
    )
    row = stored(w, m.Subscription)
    assert row.quantity == 2
    assert row.stripe_event_created_at == T0 + timedelta(seconds=10)
    assert audits(w, "subscription.synced") == 1


def test_an_invoice_inserted_twice_ends_in_the_later_status(world: World) -> None:
    w = world
    created, _ = subscription_events(w)
    with Session(w.engine) as session, session.begin():
        sub_id = sync_subscription(session, created, clock=w.clock).stripe_subscription_id
    invoice = fixture("invoice")
    invoice.update(
        id="in_parallel",
        customer=w.customer_id,
        subscription=sub_id,
        parent=None,
        currency="usd",
        number=None,
        status="draft",
        total_taxes=[],
        period_start=BASE,
        period_end=BASE,
        status_transitions={"paid_at": None},
    )
    draft = make_event("invoice.created", invoice, created=BASE + 20)
    opened = make_event("invoice.finalized", {**invoice, "status": "open"}, created=BASE + 20)
    opened["data"]["object"]["number"] = "PAR-1"
    race(
        w.engine,
        lambda s: sync_invoice(s, draft, clock=w.clock),
        lambda s: sync_invoice(s, opened, clock=w.clock),
    )
    row = stored(w, m.Invoice)
    assert (row.status, row.number) == (m.InvoiceStatus.OPEN, "PAR-1")
    assert audits(w, "invoice.synced") == 2


def test_one_event_delivered_twice_at_once_is_applied_once(world: World) -> None:
    w = world
    created, _ = subscription_events(w)
    body = json.dumps(created).encode()
    header = sign(body, SECRET, timestamp=int(w.clock.now().timestamp()))

    def deliver(session: Session) -> Any:
        return handle_webhook(
            session, body, header, secrets=[SECRET], gateway=w.gateway, clock=w.clock
        )

    second = race(w.engine, deliver, deliver)
    assert (second.status_code, second.body["status"]) == (200, "duplicate")
    row = stored(w, m.WebhookEvent)
    assert (row.status, row.attempts) == ("processed", 1)
    assert stored(w, m.Subscription).quantity == 1
    assert audits(w, "subscription.synced") == 1
