"""The behaviour every ``PaymentGateway`` must show, as a reusable pytest base class.

To run it against your own implementation, subclass :class:`GatewayContract`
in one of your ``test_*.py`` modules and provide two fixtures::

    import pytest
    from paykit.gateways import PaymentGateway
    from paykit.testing import GatewayContract

    class TestMyGatewayContract(GatewayContract):
        @pytest.fixture
        def gateway(self) -> PaymentGateway:
            return MyGateway(...)            # a fresh, empty account per test

        @pytest.fixture
        def recurring_price_id(self, gateway) -> str:
            return ...                       # a monthly USD price of 2000 minor units

pytest collects the inherited ``test_*`` methods under your class, so every
check runs against your gateway. The suite only uses the Protocol: paykit runs
it unchanged against ``FakeGateway`` and against ``StripeGateway`` talking to
a local server that answers like Stripe. It pays with Stripe's test
payment-method ids (``pm_card_visa``, ``pm_card_chargeDeclined``, ...; see
:data:`SUCCEEDING_CARDS` and :data:`DECLINING_CARDS`), so a gateway for
another processor maps those ids onto its own test cards.

This module needs pytest (the ``test`` extra: ``pip install 'paykit[test]'``);
the rest of :mod:`paykit.testing` does not. ``docs/testing.md`` has the details.
"""

from __future__ import annotations

from paykit.testing.contract._base import (
    DECLINING_CARDS,
    SUCCEEDING_CARDS,
    new_key,
)
from paykit.testing.contract.billing import BillingContract
from paykit.testing.contract.methods import MethodsContract
from paykit.testing.contract.payments import PaymentsContract
from paykit.testing.contract.refunds import RefundsContract
from paykit.testing.contract.renewal_billing import RenewalBillingContract
from paykit.testing.contract.subscription_billing import SubscriptionBillingContract
from paykit.testing.contract.subscriptions import SubscriptionsContract

__all__ = ["DECLINING_CARDS", "SUCCEEDING_CARDS", "GatewayContract", "new_key"]


class GatewayContract(
    PaymentsContract,
    RefundsContract,
    MethodsContract,
    SubscriptionsContract,
    BillingContract,
    SubscriptionBillingContract,
    RenewalBillingContract,
):
    """Tests for any ``PaymentGateway``.

    Subclass it in a ``test_*.py`` module under a name pytest collects
    (``Test...``) and provide two fixtures: ``gateway``, a fresh gateway
    (an empty account) per test, and ``recurring_price_id``, the id of a
    monthly USD price of 2000 minor units on that gateway. The helpers of
    :class:`~paykit.testing.contract._base.ContractBase` (``customer``,
    ``paid``, ``card``, ``pay``, ``unpaid``, ``attach``, ``subscribe``) are
    there for your own extra tests in the subclass. The checks live by concern in
    ``paykit.testing.contract``. The billing checks (``contract.billing``) run
    when the gateway implements ``BillingMethodsGateway``; its invoice checks
    also need a ``make_open_invoice`` fixture.
    """
