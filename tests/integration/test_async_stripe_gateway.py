"""AsyncStripeGateway against the local Stripe test server: requests awaited on the loop.

The server answers a slowed-down request (its account sleeps 0.3 s inside the
call); while an awaited gateway call waits for it, another task on the same
event loop keeps running. The plain ``StripeGateway`` in the same place blocks
the loop, which is what the async gateway exists to avoid. Also: a checkout
through ``paykit.aio`` on an ``AsyncSession``, errors mapped as in the sync
gateway, and plain synchronous calls still working.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from tests import factories as f
from tests.conftest import DatabaseFactory
from tests.stripe_server import StripeServer, serve

import paykit
from paykit import aio
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import PaymentDeclined
from paykit.stripe import AsyncStripeGateway, StripeGateway

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
T0 = datetime(2026, 3, 1, tzinfo=UTC)
DELAY = 0.3
_T = TypeVar("_T")


@pytest.fixture
def server() -> Iterator[StripeServer]:
    yield from serve(FrozenClock(T0))


def _slow(server: StripeServer, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """The server's account takes ``DELAY`` seconds to answer ``name``."""
    original = getattr(server.fake, name)

    @functools.wraps(original)
    def slowed(*args: Any, **kwargs: Any) -> Any:
        time.sleep(DELAY)
        return original(*args, **kwargs)

    monkeypatch.setattr(server.fake, name, slowed)


def _gateway(server: StripeServer) -> AsyncStripeGateway:
    return AsyncStripeGateway(api_key="sk_test_async", api_base=server.url, max_network_retries=0)


async def _ticks_during(call: Awaitable[_T]) -> tuple[_T, int]:
    """``call``'s result and how often another task ran on the loop meanwhile."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)  # let the ticker start
    ticks = 0
    try:
        result = await call
    finally:
        done.set()
        await task
    return result, ticks


def test_an_awaited_call_leaves_the_loop_free(
    server: StripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow(server, monkeypatch, "create_customer")
    gateway = _gateway(server)
    blocking = StripeGateway(api_key="sk_test_sync", api_base=server.url, max_network_retries=0)

    async def go() -> tuple[Any, int, int]:
        customer, free = await _ticks_during(
            gateway.run(gateway.create_customer, email="a@example.com", idempotency_key="k1")
        )

        def sync_call() -> Any:
            return blocking.create_customer(email="b@example.com", idempotency_key="k2")

        _, blocked = await _ticks_during(
            asyncio.get_running_loop().run_in_executor(None, sync_call)
        )
        return customer, free, blocked

    customer, free, _ = asyncio.run(go())
    assert customer.id.startswith("cus_")
    assert customer.email == "a@example.com"
    assert free >= 10  # 0.3 s of 10 ms ticks, less scheduling slack
    [request, _] = server.posts()
    assert request.path == "/v1/customers"
    assert request.header("Idempotency-Key") == "k1"


def test_the_sync_gateway_blocks_the_loop_where_the_async_one_does_not(
    server: StripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The comparison that makes the test above mean something: the same call
    # through the plain gateway, inside the same greenlet, holds the loop.
    _slow(server, monkeypatch, "create_customer")
    blocking = StripeGateway(api_key="sk_test_sync", api_base=server.url, max_network_retries=0)
    gateway = _gateway(server)

    async def go() -> tuple[int, int]:
        _, held = await _ticks_during(
            gateway.run(blocking.create_customer, email="b@example.com", idempotency_key="k3")
        )
        _, free = await _ticks_during(
            gateway.run(gateway.create_customer, email="c@example.com", idempotency_key="k4")
        )
        return held, free

    held, free = asyncio.run(go())
    assert held <= 1
    assert free >= 10


def test_plain_sync_calls_still_work(server: StripeServer) -> None:
    gateway = _gateway(server)
    customer = gateway.create_customer(email="s@example.com", idempotency_key="k5")
    assert customer.id.startswith("cus_")
    assert "AsyncStripeGateway" in repr(gateway)
    assert "sk_test" not in repr(gateway)


def test_errors_are_paykits_on_the_async_path(server: StripeServer) -> None:
    gateway = _gateway(server)

    async def go() -> None:
        await gateway.run(
            gateway.create_payment,
            amount_minor=1000,
            currency="usd",
            customer_id=None,
            payment_method_id="pm_card_chargeDeclined",
            confirm=True,
            idempotency_key="k6",
        )

    with pytest.raises(PaymentDeclined):
        asyncio.run(go())


async def _checkout(
    url: str, kwargs: dict[str, object], gateway: AsyncStripeGateway
) -> tuple[m.OrderStatus, int]:
    engine = aio.create_async_engine(url, **kwargs)
    clock = FrozenClock(T0)
    try:
        await aio.migrate(engine)
        async with AsyncSession(engine, expire_on_commit=False) as session:
            async with session.begin():
                customer = await session.run_sync(f.user)
                product = await session.run_sync(f.product, base_price=Decimal("40.00"))
                price = await session.run_sync(f.price, product)
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
            paid: Callable[[], Awaitable[Any]] = functools.partial(
                aio.run,
                session,
                paykit.pay_order,
                order_id=placed.order.id,
                gateway=gateway,
                clock=clock,
            )
            async with session.begin():
                result, ticks = await _ticks_during(paid())
        return result.order.status, ticks
    finally:
        await engine.dispose()


def test_a_checkout_through_paykit_aio_awaits_stripe(
    db_factory: DatabaseFactory, server: StripeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    _slow(server, monkeypatch, "confirm_payment")
    url, kwargs = db_factory.url_and_kwargs()
    status, ticks = asyncio.run(_checkout(url, kwargs, _gateway(server)))
    assert status is m.OrderStatus.COMPLETED
    assert ticks >= 10  # the loop ran while Stripe confirmed the payment
    paths = [r.path for r in server.posts()]
    assert "/v1/payment_intents" in paths
    assert any(p.endswith("/confirm") for p in paths)
