"""StripeGateway on the wire: what it sends, and how Stripe's answers become paykit's errors.

Runs against the local server of ``tests/stripe_server.py``; no database, no network.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import stripe
from tests.stripe_server import StripeServer, serve

from paykit.clock import FrozenClock
from paykit.errors import (
    ConfigurationError,
    GatewayError,
    GatewayInvalidRequest,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways import PaymentIntentStatus
from paykit.gateways.stripe import STRIPE_API_VERSION, StripeGateway


@pytest.fixture
def server() -> Iterator[StripeServer]:
    stripe.enable_telemetry = False
    yield from serve(FrozenClock())


def gateway_for(server: StripeServer, retries: int = 0) -> StripeGateway:
    return StripeGateway(api_key="sk_test_wire", api_base=server.url, max_network_retries=retries)


@pytest.fixture
def gateway(server: StripeServer) -> StripeGateway:
    return gateway_for(server)


def test_create_payment_sends_form_key_and_version(
    server: StripeServer, gateway: StripeGateway
) -> None:
    customer = gateway.create_customer(email="ada@example.com", idempotency_key="cust-1")
    payment = gateway.create_payment(
        amount_minor=1999,
        currency="USD",
        customer_id=customer.id,
        payment_method_id="pm_card_visa",
        confirm=True,
        metadata={"order_id": "ord_1"},
        idempotency_key="order-1",
    )
    assert payment.status is PaymentIntentStatus.SUCCEEDED
    request = server.posts()[-1]
    assert request.path == "/v1/payment_intents"
    assert request.form == {
        "amount": "1999",
        "currency": "usd",
        "customer": customer.id,
        "payment_method": "pm_card_visa",
        "confirm": "true",
        "metadata": {"order_id": "ord_1"},
        "payment_method_types": ["card"],
    }
    assert request.header("Idempotency-Key") == "order-1"
    assert request.header("Stripe-Version") == STRIPE_API_VERSION
    assert request.header("Authorization") == "Bearer sk_test_wire"
    assert request.header("X-Stripe-Client-Telemetry") is None


def test_every_post_carries_the_callers_idempotency_key(
    server: StripeServer, gateway: StripeGateway
) -> None:
    price = server.fake.add_price(unit_amount=2000, currency="usd")
    customer = gateway.create_customer(email="a@example.com", idempotency_key="k1")
    method = gateway.attach_payment_method(
        "pm_card_visa", customer_id=customer.id, idempotency_key="k2"
    )
    sub = gateway.create_subscription(customer_id=customer.id, price_id=price, idempotency_key="k3")
    gateway.update_subscription(sub.id, quantity=2, idempotency_key="k4")
    gateway.cancel_subscription(sub.id, at_period_end=True, idempotency_key="k5")
    gateway.resume_subscription(sub.id, idempotency_key="k6")
    gateway.detach_payment_method(method.id, idempotency_key="k7")
    keys = [r.header("Idempotency-Key") for r in server.posts()]
    assert keys == ["k1", "k2", "k2:default", "k3", "k4", "k5", "k6", "k7"]
    subscription_post = server.posts()[3]
    assert subscription_post.form["items"] == [{"price": price, "quantity": "1"}]
    assert subscription_post.form["payment_behavior"] == "allow_incomplete"
    update = server.posts()[4]
    assert update.form["items"][0]["quantity"] == "2"
    assert update.form["items"][0]["id"].startswith("si_")


def test_subscription_coupon_and_trial_are_sent(
    server: StripeServer, gateway: StripeGateway
) -> None:
    price = server.fake.add_price(unit_amount=2000, currency="usd")
    server.fake.add_coupon(coupon_id="SAVE10", percent_off=10.0)
    customer = gateway.create_customer(email="a@example.com", idempotency_key="c")
    sub = gateway.create_subscription(
        customer_id=customer.id, price_id=price, trial_days=14, coupon="SAVE10", idempotency_key="s"
    )
    assert sub.status == "trialing"
    form = server.posts()[-1].form
    assert (form["trial_period_days"], form["discounts"]) == ("14", [{"coupon": "SAVE10"}])


def test_decline_becomes_payment_declined_with_the_payment_id(
    server: StripeServer, gateway: StripeGateway
) -> None:
    with pytest.raises(PaymentDeclined) as info:
        gateway.create_payment(
            amount_minor=500,
            currency="usd",
            customer_id=None,
            payment_method_id="pm_card_chargeDeclinedInsufficientFunds",
            confirm=True,
            idempotency_key="d1",
        )
    assert info.value.decline_code == "insufficient_funds"
    assert info.value.http_status == 402
    payment_id = info.value.details["payment_id"]
    assert payment_id.startswith("pi_")
    assert info.value.details["request_id"].startswith("req_")
    assert gateway.retrieve_payment(payment_id).decline_code == "insufficient_funds"


def test_rate_limit_is_retryable_gateway_unavailable(
    server: StripeServer, gateway: StripeGateway
) -> None:
    server.script(429, error_type="invalid_request_error", code="rate_limit", message="Too many")
    with pytest.raises(GatewayUnavailable) as info:
        gateway.create_customer(email="a@example.com", idempotency_key="r1")
    assert info.value.retryable is True
    assert info.value.code == "gateway_unavailable"
    assert info.value.request_id is not None
    assert server.fake.customers == {}


def test_server_error_means_outcome_unknown(server: StripeServer, gateway: StripeGateway) -> None:
    server.script(500, message="boom")
    with pytest.raises(GatewayUnavailable) as info:
        gateway.create_customer(email="a@example.com", idempotency_key="r2")
    assert info.value.code == "gateway_timeout"
    assert info.value.retryable is True


def test_sdk_retries_reuse_the_idempotency_key(server: StripeServer) -> None:
    gateway = gateway_for(server, retries=2)
    server.script(500, headers={"Stripe-Should-Retry": "true"})
    server.script(
        429,
        error_type="invalid_request_error",
        code="rate_limit",
        headers={"Stripe-Should-Retry": "true"},
    )
    customer = gateway.create_customer(email="a@example.com", idempotency_key="same")
    assert customer.id.startswith("cus_")
    posts = server.posts()
    assert len(posts) == 3
    assert {r.header("Idempotency-Key") for r in posts} == {"same"}


def test_a_dropped_connection_is_an_ambiguous_timeout(
    server: StripeServer, gateway: StripeGateway
) -> None:
    server.script(0)
    with pytest.raises(GatewayUnavailable) as info:
        gateway.create_customer(email="a@example.com", idempotency_key="t1")
    assert info.value.code == "gateway_timeout"


def test_a_refused_connection_is_gateway_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = StripeGateway(
        api_key="sk_test_x", api_base=f"http://127.0.0.1:{port}", max_network_retries=0
    )
    with pytest.raises(GatewayUnavailable) as info:
        gateway.retrieve_payment("pi_1")
    assert info.value.code == "gateway_unavailable"


def test_invalid_request_carries_stripes_request_id(
    server: StripeServer, gateway: StripeGateway
) -> None:
    server.script(
        400,
        error_type="invalid_request_error",
        code="parameter_unknown",
        message="Received unknown",
    )
    with pytest.raises(GatewayError) as info:
        gateway.create_customer(email="a@example.com", idempotency_key="i1")
    # Stripe's code is not in paykit's registry: the class and code say "refused
    # request", and Stripe's own code stays in the details.
    assert type(info.value) is GatewayInvalidRequest
    assert info.value.code == "gateway_invalid_request"
    assert info.value.details["stripe_code"] == "parameter_unknown"
    assert info.value.request_id is not None
    assert info.value.request_id.startswith("req_")
    assert info.value.details["request_id"] == info.value.request_id


def test_message_only_refusals_get_the_protocols_code(
    server: StripeServer, gateway: StripeGateway
) -> None:
    server.script(
        400,
        error_type="invalid_request_error",
        message="This customer has no attached payment source or default payment method.",
    )
    with pytest.raises(GatewayError) as info:
        gateway.create_subscription(customer_id="cus_1", price_id="price_1", idempotency_key="m")
    assert info.value.code == "missing_payment_method"


def test_not_found_names_the_resource(gateway: StripeGateway) -> None:
    with pytest.raises(NotFound) as info:
        gateway.retrieve_refund("re_missing")
    assert (info.value.details["resource"], info.value.details["id"]) == ("refund", "re_missing")


def test_idempotency_error_and_bad_key(server: StripeServer, gateway: StripeGateway) -> None:
    gateway.create_customer(email="a@example.com", idempotency_key="dup")
    with pytest.raises(IdempotencyConflict):
        gateway.create_customer(email="b@example.com", idempotency_key="dup")
    server.script(401, error_type="invalid_request_error", message="Invalid API Key provided")
    with pytest.raises(ConfigurationError):
        gateway.retrieve_payment("pi_1")


def test_validation_happens_before_any_request(
    server: StripeServer, gateway: StripeGateway
) -> None:
    with pytest.raises(ValidationError):
        gateway.create_refund(
            payment_id="pi_1", amount_minor=100, reason="other", idempotency_key="v"
        )
    with pytest.raises(ValidationError):
        gateway.create_payment(
            amount_minor=0, currency="usd", customer_id=None, idempotency_key="v"
        )
    assert server.requests == []


def test_construction_creates_no_request_and_hides_the_key(server: StripeServer) -> None:
    gateway = gateway_for(server)
    assert "sk_test" not in repr(gateway)
    assert server.requests == []
    with pytest.raises(ConfigurationError):
        StripeGateway(api_key="")
