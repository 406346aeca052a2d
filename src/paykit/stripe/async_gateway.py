"""``AsyncStripeGateway``: ``StripeGateway`` whose requests use the stripe SDK's async client.

paykit's services are synchronous; :func:`paykit.aio.run` runs one on an
``AsyncSession`` in SQLAlchemy's greenlet, where each database statement is
awaited on the event loop. This gateway does the same for Stripe: a request
made inside such a greenlet goes through ``StripeClient.raw_request_async``
(the SDK's async HTTP client, httpx or aiohttp) and is awaited on the loop, so
the loop serves other requests while Stripe answers::

    gateway = AsyncStripeGateway(api_key="sk_test_...")
    async with AsyncSession(engine) as session, session.begin():
        await aio.run(session, paykit.pay_order, order_id=order_id, gateway=gateway)
    customer = await gateway.run(gateway.create_customer, email=..., idempotency_key=...)

A call made anywhere else (plain synchronous code, a worker thread) is the
SDK's synchronous request, exactly as :class:`~paykit.stripe.StripeGateway`:
one gateway serves both. Needs an async HTTP library for the SDK:
``pip install 'paykit[async]'`` (httpx).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar

import sqlalchemy.util
import stripe
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.concurrency import in_greenlet

from paykit.stripe.client import StripeApi
from paykit.stripe.gateway import STRIPE_API_VERSION, StripeGateway

__all__ = ["AsyncStripeGateway"]

_P = ParamSpec("_P")
_T = TypeVar("_T")

#: Await inside SQLAlchemy's greenlet. SQLAlchemy 2.1 named it ``await_`` (the
#: old ``await_only`` is deprecated for 2.2); 2.0, paykit's floor, has only the old name.
_await: Callable[[Awaitable[Any]], Any] = (
    getattr(sqlalchemy.util, "await_", None) or sqlalchemy.util.await_only
)


class AsyncStripeApi(StripeApi):
    """:class:`StripeApi` that awaits ``raw_request_async`` when it runs in a greenlet."""

    def _send(self, method: str, path: str, options: dict[str, Any]) -> stripe.StripeResponse:
        """On the event loop inside a greenlet, else the synchronous request."""
        if not in_greenlet():  # SQLAlchemy's greenlet: run_sync, greenlet_spawn
            return super()._send(method, path, options)
        response: stripe.StripeResponse = _await(
            self._client.raw_request_async(method, path, **options)
        )
        return response


class AsyncStripeGateway(StripeGateway):
    """A :class:`~paykit.stripe.StripeGateway` for asyncio hosts (see the module docs).

    The arguments are :class:`StripeGateway`'s. ``http_client``, if given, must
    be able to make async requests (``stripe.HTTPXClient(allow_sync_methods=True)``
    serves both kinds); by default the SDK's sync client is used for sync calls
    and its async fallback (httpx, else aiohttp) for awaited ones.
    """

    _api_class = AsyncStripeApi

    def __repr__(self) -> str:
        # Never the key.
        return f"AsyncStripeGateway(api_version={STRIPE_API_VERSION!r})"

    async def run(self, method: Callable[_P, _T], /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Await one of this gateway's methods, its request made on the event loop.

        ``await gateway.run(gateway.retrieve_subscription, "sub_...")``.
        """

        def call() -> _T:
            return method(*args, **kwargs)

        result: _T = await greenlet_spawn(call)
        return result
