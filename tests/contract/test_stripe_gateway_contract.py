"""The gateway contract suite, run against ``StripeGateway`` on a local Stripe-like server."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import stripe
from tests.stripe_server import StripeServer, serve

from paykit.clock import FrozenClock
from paykit.gateways.stripe import StripeGateway
from paykit.testing import GatewayContract


@pytest.fixture
def stripe_server() -> Iterator[StripeServer]:
    stripe.enable_telemetry = False
    yield from serve(FrozenClock())


class TestStripeGatewayContract(GatewayContract):
    @pytest.fixture
    def gateway(self, stripe_server: StripeServer) -> StripeGateway:
        return StripeGateway(
            api_key="sk_test_contract", api_base=stripe_server.url, max_network_retries=0
        )

    @pytest.fixture
    def recurring_price_id(self, stripe_server: StripeServer) -> str:
        return stripe_server.fake.add_price(unit_amount=2000, currency="usd", interval="month")

    @pytest.fixture
    def make_open_invoice(self, stripe_server: StripeServer) -> Callable[[str, int], str]:
        def make(customer_id: str, amount: int) -> str:
            lines = [{"amount": amount, "description": "Pro plan"}]
            return stripe_server.fake.add_invoice(customer_id=customer_id, lines=lines).invoice.id

        return make
