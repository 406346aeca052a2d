"""The contract's shared part: test cards, keys, fixtures and helpers."""

from __future__ import annotations

import uuid

import pytest

from paykit.gateways import (
    GatewayCustomer,
    GatewayPayment,
    PaymentGateway,
)

__all__ = ["DECLINING_CARDS", "SUCCEEDING_CARDS", "ContractBase", "new_key"]


DECLINING_CARDS = [
    ("pm_card_chargeDeclined", "generic_decline"),
    ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
]
"""Stripe test ids every gateway must decline, with the decline code."""

SUCCEEDING_CARDS = ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_visa_debit"]
"""Stripe test ids every gateway must charge successfully."""


def new_key(label: str = "key") -> str:
    """A fresh idempotency key; unique across runs so a shared server never replays."""
    return f"{label}-{uuid.uuid4().hex}"


class ContractBase:
    """Tests for any ``PaymentGateway``.

    Subclass it in a ``test_*.py`` module under a name pytest collects
    (``Test...``) and provide two fixtures: ``gateway``, a fresh gateway
    (an empty account) per test, and ``recurring_price_id``, the id of a
    monthly USD price of 2000 minor units on that gateway. The helpers below
    (``customer``, ``paid``, ``card``, :meth:`pay`, :meth:`unpaid`) are there
    for your own extra tests in the subclass.
    """

    AMOUNT = 1500

    # ------------------------------------------------------------------ helpers

    @pytest.fixture
    def customer(self, gateway: PaymentGateway) -> GatewayCustomer:
        """A fresh customer on the gateway under test."""
        return gateway.create_customer(
            email="ada@example.com", name="Ada Lovelace", idempotency_key=new_key()
        )

    @pytest.fixture
    def paid(self, gateway: PaymentGateway, customer: GatewayCustomer) -> GatewayPayment:
        """A succeeded payment of ``AMOUNT`` USD minor units."""
        return self.pay(gateway, customer.id, "pm_card_visa")

    def pay(
        self,
        gateway: PaymentGateway,
        customer_id: str | None,
        payment_method_id: str,
        *,
        amount: int = AMOUNT,
        key: str | None = None,
    ) -> GatewayPayment:
        """Create and confirm a USD payment in one call."""
        return gateway.create_payment(
            amount_minor=amount,
            currency="usd",
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            confirm=True,
            idempotency_key=key or new_key(),
        )

    def unpaid(self, gateway: PaymentGateway, customer_id: str | None) -> GatewayPayment:
        """A payment with no payment method yet (``requires_payment_method``)."""
        return gateway.create_payment(
            amount_minor=self.AMOUNT,
            currency="usd",
            customer_id=customer_id,
            idempotency_key=new_key(),
        )
