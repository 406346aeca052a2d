"""paykit.aio: a checkout, a refund and a webhook through an AsyncSession, on SQLite
(aiosqlite) and PostgreSQL (psycopg's async connection), with notifications."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from tests import factories as f
from tests.conftest import DatabaseFactory
from tests.stripe_server import make_event, render_payment, sign

import paykit
from paykit import aio
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway
from paykit.notifications import OrderPaid, RecordingNotifier, RefundIssued
from paykit.webhooks import handle_webhook

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
T0 = datetime(2026, 3, 1, tzinfo=UTC)
SECRET = "whsec_async"


def test_async_url_picks_an_async_driver() -> None:
    assert aio.async_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert aio.async_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert aio.async_url("postgresql://u@h/d").drivername == "postgresql+psycopg"


async def _flow(url: str, kwargs: dict[str, object]) -> None:
    engine = aio.create_async_engine(url, **kwargs)
    try:
        await aio.migrate(engine)
        assert await _at_head(engine)
        await _checkout_refund_webhook(engine)
    finally:
        await engine.dispose()


async def _at_head(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        current = await conn.run_sync(paykit.current_revision)
    return current == paykit.head_revision()


async def _checkout_refund_webhook(engine: AsyncEngine) -> None:
    clock = FrozenClock(T0)
    gateway = FakeGateway(clock=clock)
    recorder = RecordingNotifier()
    async with AsyncSession(engine, expire_on_commit=False) as session:
        aio.attach_notifier(session, recorder)
        async with session.begin():
            customer = await session.run_sync(f.user)
            support = await session.run_sync(f.user, role=m.UserRole.SUPPORT)
            product = await session.run_sync(f.product, base_price=Decimal("40.00"))
            price = await session.run_sync(f.price, product)
        # checkout: reserve, commit, charge
        async with session.begin():
            placed = await aio.run(
                session,
                paykit.place_order,
                customer_id=customer.id,
                billing_address=ADDRESS,
                items=[{"price_id": price.id, "quantity": 1}],
                payment_method_id="pm_card_visa",
                gateway=gateway,
                clock=clock,
            )
        async with session.begin():
            paid = await aio.run(
                session, paykit.pay_order, order_id=placed.order.id, gateway=gateway, clock=clock
            )
            assert recorder.events == []  # not before the commit
        assert paid.order.status is m.OrderStatus.COMPLETED
        assert [e.order_id for e in recorder.of_type(OrderPaid)] == [paid.order.id]
        # a refund
        async with session.begin():
            refund = await aio.run(
                session,
                paykit.issue_refund,
                order_id=paid.order.id,
                amount=Decimal("10.00"),
                reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
                actor_id=support.id,
                gateway=gateway,
                clock=clock,
            )
        assert refund.status is m.RefundStatus.SUCCEEDED
        assert [e.amount for e in recorder.of_type(RefundIssued)] == [Decimal("10.00")]
        # a webhook: a second order paid in the browser, told by Stripe
        async with session.begin():
            second = await aio.run(
                session,
                paykit.place_order,
                customer_id=customer.id,
                billing_address=ADDRESS,
                items=[{"price_id": price.id, "quantity": 1}],
                gateway=gateway,
                clock=clock,
            )
        intent = second.order.stripe_payment_intent_id
        assert intent is not None
        confirmed = gateway.confirm_payment(
            intent, payment_method_id="pm_card_visa", idempotency_key="browser"
        )
        event = make_event(
            "payment_intent.succeeded", render_payment(confirmed), created=int(T0.timestamp())
        )
        body = json.dumps(event).encode()
        async with session.begin():
            response = await aio.run(
                session,
                handle_webhook,
                body,
                sign(body, SECRET, timestamp=int(T0.timestamp())),
                secrets=SECRET,
                gateway=gateway,
                clock=clock,
            )
        assert response.status_code == 200
        assert response.body["status"] == "processed"
        status = await session.scalar(
            sa.select(m.Order.status).where(m.Order.id == second.order.id)
        )
        assert status is m.OrderStatus.COMPLETED
        assert [e.order_id for e in recorder.of_type(OrderPaid)] == [
            paid.order.id,
            second.order.id,
        ]


def test_checkout_refund_and_webhook_through_an_async_session(
    db_factory: DatabaseFactory,
) -> None:
    url, kwargs = db_factory.url_and_kwargs()
    asyncio.run(_flow(url, kwargs))


def test_a_rolled_back_async_transaction_sends_nothing(db_factory: DatabaseFactory) -> None:
    url, kwargs = db_factory.url_and_kwargs()

    async def go() -> list[object]:
        engine = aio.create_async_engine(url, **kwargs)
        recorder = RecordingNotifier()
        try:
            await aio.migrate(engine)
            clock = FrozenClock(T0)
            gateway = FakeGateway(clock=clock)
            async with AsyncSession(engine, expire_on_commit=False) as session:
                aio.attach_notifier(session, recorder)
                await session.begin()
                customer = await session.run_sync(f.user)
                product = await session.run_sync(f.product, base_price=Decimal("5.00"))
                price = await session.run_sync(f.price, product)
                placed = await aio.run(
                    session,
                    paykit.place_order,
                    customer_id=customer.id,
                    billing_address=ADDRESS,
                    items=[{"price_id": price.id, "quantity": 1}],
                    payment_method_id="pm_card_visa",
                    gateway=gateway,
                    clock=clock,
                )
                await aio.run(
                    session,
                    paykit.pay_order,
                    order_id=placed.order.id,
                    gateway=gateway,
                    clock=clock,
                )
                await session.rollback()
                count = await session.scalar(sa.select(sa.func.count()).select_from(m.Order))
                assert count == 0
        finally:
            await engine.dispose()
        return list(recorder.events)

    assert asyncio.run(go()) == []


def test_the_async_sqlite_engine_has_paykit_settings(tmp_path: object) -> None:
    async def go() -> tuple[object, object, object]:
        engine = aio.create_async_engine(f"sqlite:///{tmp_path}/settings.db")
        try:
            async with engine.connect() as conn:
                keys = await conn.scalar(sa.text("PRAGMA foreign_keys"))
                journal = await conn.scalar(sa.text("PRAGMA journal_mode"))
                timeout = await conn.scalar(sa.text("PRAGMA busy_timeout"))
        finally:
            await engine.dispose()
        return keys, journal, timeout

    assert asyncio.run(go()) == (1, "wal", 30_000)
