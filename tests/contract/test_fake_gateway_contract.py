"""The gateway contract suite, run against ``FakeGateway``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from paykit.testing import FakeGateway, FrozenClock, GatewayContract


class TestFakeGatewayContract(GatewayContract):
    @pytest.fixture
    def gateway(self) -> FakeGateway:
        return FakeGateway(clock=FrozenClock())

    @pytest.fixture
    def recurring_price_id(self, gateway: FakeGateway) -> str:
        return gateway.add_price(unit_amount=2000, currency="usd", interval="month")

    @pytest.fixture
    def make_open_invoice(self, gateway: FakeGateway) -> Callable[[str, int], str]:
        def make(customer_id: str, amount: int) -> str:
            lines = [{"amount": amount, "description": "Pro plan"}]
            return gateway.add_invoice(customer_id=customer_id, lines=lines).invoice.id

        return make
