"""The contract's shared part: test cards, keys, fixtures and helpers."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar, cast

import pytest

from paykit.errors import GatewayError, PaykitError
from paykit.gateways import (
    GatewayCustomer,
    GatewayPayment,
    GatewayPaymentMethod,
    PaymentGateway,
)

__all__ = [
    "DECLINING_CARDS",
    "SUCCEEDING_CARDS",
    "ContractBase",
    "implementing",
    "new_key",
    "refused",
]

_P = TypeVar("_P")


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


@contextlib.contextmanager
def refused(
    code: str,
    error: type[PaykitError] | tuple[type[PaykitError], ...] = GatewayError,
) -> Iterator[pytest.ExceptionInfo[PaykitError]]:
    """The block must raise ``error`` (default ``GatewayError``) with the stable ``code``.

    Yields pytest's ``ExceptionInfo``, to check the error's details after the block.
    """
    with pytest.raises(error) as info:
        yield info
    assert info.value.code == code


def implementing(gateway: PaymentGateway, protocol: Callable[..., _P]) -> _P:
    """``gateway`` as the optional ``protocol`` (a runtime-checkable Protocol class);
    the test is skipped if the gateway does not implement it."""
    # Callable, not type[_P]: mypy refuses a Protocol class where type[_P] is expected.
    if not isinstance(gateway, cast(type, protocol)):
        pytest.skip(f"the gateway does not implement {protocol.__name__}")
    return cast(_P, gateway)


class ContractBase:
    """Tests for any ``PaymentGateway``.

    Subclass it in a ``test_*.py`` module under a name pytest collects
    (``Test...``) and provide two fixtures: ``gateway``, a fresh gateway
    (an empty account) per test, and ``recurring_price_id``, the id of a
    monthly USD price of 2000 minor units on that gateway. The helpers below
    (``customer``, ``paid``, ``card``, :meth:`pay`, :meth:`unpaid`,
    :meth:`attach`, :meth:`subscribe`) are there for your own extra tests in
    the subclass.
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

    def unpaid(
        self,
        gateway: PaymentGateway,
        customer_id: str | None,
        payment_method_id: str | None = None,
        *,
        amount: int = AMOUNT,
    ) -> GatewayPayment:
        """A USD payment not confirmed yet: ``requires_payment_method``, or with
        ``payment_method_id`` ``requires_confirmation``."""
        return gateway.create_payment(
            amount_minor=amount,
            currency="usd",
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            idempotency_key=new_key(),
        )

    def attach(
        self, gateway: PaymentGateway, customer_id: str, token: str = "pm_card_visa"
    ) -> GatewayPaymentMethod:
        """Attach the test card ``token`` to the customer (their default method from then on)."""
        return gateway.attach_payment_method(
            token, customer_id=customer_id, idempotency_key=new_key()
        )

    def subscribe(
        self,
        gateway: PaymentGateway,
        customer_id: str,
        price_id: str,
        *,
        trial_days: int | None = None,
        method_on_subscription: bool = False,
    ) -> str:
        """Attach a Visa, subscribe the customer to 3 of ``price_id``; the subscription's id.

        With ``method_on_subscription`` the card is also the subscription's own
        ``default_payment_method``; without, renewals charge the customer's default.
        """
        card = self.attach(gateway, customer_id)
        return gateway.create_subscription(
            customer_id=customer_id,
            price_id=price_id,
            quantity=3,
            trial_days=trial_days,
            payment_method_id=card.id if method_on_subscription else None,
            idempotency_key=new_key(),
        ).id
