"""The gateway contract suite, run against ``FakeGateway``."""

from __future__ import annotations

import pytest

from paykit.testing import FakeGateway, FrozenClock, GatewayContract


class TestFakeGatewayContract(GatewayContract):
    @pytest.fixture
    def gateway(self) -> FakeGateway:
        return FakeGateway(clock=FrozenClock())

    @pytest.fixture
    def recurring_price_id(self, gateway: FakeGateway) -> str:
        return gateway.add_price(unit_amount=2000, currency="usd", interval="month")
