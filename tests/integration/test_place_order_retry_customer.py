"""A place_order retry (same idempotency key) after a gateway timeout, when the
customer got a gateway customer between the attempts (a subscription committed
meanwhile): found by benchmarks/soak.py, where the retry was refused with
``idempotency_conflict`` because the gateway payment's parameters changed."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit.errors import GatewayUnavailable
from paykit.gateways import FakeGateway, GatewayPayment

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}


class TimeoutOnce(FakeGateway):
    """The first create_payment happens, but the caller hears a timeout."""

    timed_out = False

    def create_payment(self, **kw: Any) -> GatewayPayment:  # type: ignore[override]
        payment = super().create_payment(**kw)
        if not self.timed_out:
            self.timed_out = True
            raise GatewayUnavailable("timed out", code="gateway_timeout")
        return payment


def test_retry_after_timeout_when_the_customer_got_a_gateway_customer(session: Session) -> None:
    gateway = TimeoutOnce()
    user = f.user(session)
    price = f.price(session, f.product(session))
    session.commit()
    items = [{"price_id": price.id, "quantity": 1}]

    def place() -> paykit.OrderResult:
        return paykit.place_order(
            session,
            customer_id=user.id,
            items=items,
            billing_address=ADDRESS,
            gateway=gateway,
            idempotency_key="checkout-1",
        )

    try:
        place()
    except GatewayUnavailable:
        session.rollback()
    else:
        raise AssertionError("the first attempt should have timed out")
    paykit.ensure_gateway_customer(session, user, gateway)  # e.g. a subscription, committed
    session.commit()
    result = place()
    assert result.order.stripe_payment_intent_id is not None
    payment = gateway.payments[result.order.stripe_payment_intent_id]
    assert payment.amount_minor == round(result.order.total_amount * 100)
