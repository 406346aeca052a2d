"""Findings of the public-surface sweep, one test each, on SQLite and PostgreSQL.

Each refused call raises a registered ``PaykitError`` and leaves the database as
it was; the sweep itself is ``tests/property/test_public_surface.py``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit.gateways import FakeGateway

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


def test_two_default_fake_gateways_never_issue_the_same_ids(session: Session) -> None:
    customer = f.user(session)
    price = f.price(session, f.product(session, base_price=Decimal("5.00")))
    results = [
        paykit.place_order(
            session,
            customer_id=customer.id,
            items=[{"price_id": price.id}],
            billing_address=ADDRESS,
            payment_method_id="pm_card_visa",
            gateway=FakeGateway(),
        )
        for _ in range(2)
    ]
    orders = [r.order for r in results]
    assert orders[0].stripe_payment_intent_id != orders[1].stripe_payment_intent_id
    first, second = FakeGateway(), FakeGateway()
    assert first.create_customer(email="a@example.com", idempotency_key="k").id != (
        second.create_customer(email="a@example.com", idempotency_key="k").id
    )


def test_an_explicit_namespace_keeps_ids_deterministic() -> None:
    gateway = FakeGateway(namespace="shop")
    assert gateway.create_customer(email="a@example.com", idempotency_key="k").id == (
        "cus_shop_000001"
    )


@pytest.mark.parametrize("namespace", ["", "a b", "x" * 65, "ü", 7])
def test_a_bad_namespace_is_a_validation_error(namespace: object) -> None:
    with pytest.raises(paykit.errors.ValidationError):
        FakeGateway(namespace=namespace)  # type: ignore[arg-type]
