"""paykit.testing: its exports, sign_webhook, the event builders and the fast hasher."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest
import stripe

import paykit.testing
from paykit.clock import FrozenClock as ClockFrozenClock
from paykit.errors import InvalidSignature
from paykit.gateways import FakeGateway as GatewaysFakeGateway
from paykit.gateways import subscription_from_stripe
from paykit.gateways.stripe import payment_from_stripe, refund_from_stripe
from paykit.security import PasswordHasher
from paykit.security.passwords import DEFAULT_BCRYPT_ROUNDS
from paykit.testing import (
    FAST_PASSWORD_HASHER,
    STRIPE_EVENT_OBJECTS,
    STRIPE_FIXTURE_NAMES,
    FakeGateway,
    FrozenClock,
    sign_webhook,
    signed_webhook,
    stripe_event,
    stripe_object,
)
from paykit.webhooks import HANDLED_EVENT_TYPES, verify_event

SECRET = "whsec_test_secret"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NOW = int(T0.timestamp())

# --------------------------------------------------------------------- exports


def test_exports_are_locked() -> None:
    assert sorted(paykit.testing.__all__) == [
        "FAST_PASSWORD_HASHER",
        "FakeGateway",
        "FrozenClock",
        "GatewayContract",
        "STRIPE_API_VERSION",
        "STRIPE_EVENT_OBJECTS",
        "STRIPE_FIXTURE_NAMES",
        "sign_webhook",
        "signed_webhook",
        "stripe_event",
        "stripe_object",
    ]
    for name in paykit.testing.__all__:
        assert getattr(paykit.testing, name) is not None


def test_fake_gateway_and_frozen_clock_are_the_librarys_own() -> None:
    assert FakeGateway is GatewaysFakeGateway
    assert FrozenClock is ClockFrozenClock


def test_gateway_contract_and_its_module_are_importable() -> None:
    from paykit.testing import GatewayContract, gateway_contract

    assert GatewayContract is gateway_contract.GatewayContract
    assert not GatewayContract.__name__.startswith("Test")  # never collected on its own
    with pytest.raises(AttributeError):
        _ = paykit.testing.NoSuchName  # type: ignore[attr-defined]


def test_import_works_without_pytest() -> None:
    # pytest blocked as if not installed: the package imports; only the contract
    # needs it, and says how to get it.
    code = """
import sys
sys.modules["pytest"] = None
import paykit.testing
from paykit.testing import FakeGateway, FrozenClock, sign_webhook, stripe_event
assert "paykit.testing.gateway_contract" not in sys.modules
try:
    paykit.testing.GatewayContract
except ImportError as exc:
    print("refused:", exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "refused:" in result.stdout
    assert "paykit[test]" in result.stdout


# --------------------------------------------------------------------- sign_webhook


def test_signature_is_stripes_hmac_of_timestamp_dot_payload() -> None:
    body = '{"id":"evt_1","object":"event"}'
    expected = hmac.new(SECRET.encode(), f"{NOW}.{body}".encode(), hashlib.sha256).hexdigest()
    assert sign_webhook(body, SECRET, NOW) == f"t={NOW},v1={expected}"
    assert sign_webhook(body.encode(), SECRET, NOW) == f"t={NOW},v1={expected}"
    assert sign_webhook(body, SECRET, T0) == f"t={NOW},v1={expected}"


def test_paykits_verifier_accepts_the_signature() -> None:
    event = stripe_event("invoice.paid", created=NOW)
    body, header = signed_webhook(event, SECRET, NOW)
    assert verify_event(body, header, secrets=SECRET, clock=ClockFrozenClock(T0)) == event
    with pytest.raises(InvalidSignature):
        verify_event(body, header, secrets="whsec_other", clock=ClockFrozenClock(T0))
    with pytest.raises(InvalidSignature):
        verify_event(body + b" ", header, secrets=SECRET, clock=ClockFrozenClock(T0))


def test_stripes_own_verifier_accepts_the_signature() -> None:
    payload = json.dumps(stripe_event("payment_intent.succeeded"))
    header = sign_webhook(payload, SECRET)  # now: within Stripe's default tolerance
    assert stripe.WebhookSignature.verify_header(payload, header, SECRET, tolerance=300)
    old = sign_webhook(payload, SECRET, int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, old, SECRET, tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload, header, "whsec_other", tolerance=300)


@pytest.mark.parametrize(
    "payload", ["", "{}", '{"name": "Zoë 日本 \\u2028"}', "x" * 100_000, "line\nbreak\r\n"]
)
@pytest.mark.parametrize("secret", ["whsec_a", "whsec_ünïcode", " whsec padded "])
def test_stripes_verifier_agrees_on_any_text(payload: str, secret: str) -> None:
    header = sign_webhook(payload, secret, NOW)
    assert stripe.WebhookSignature.verify_header(payload, header, secret)
    generate = getattr(stripe.WebhookSignature, "generate_signature_header", None)
    if generate is not None:  # stripe >= 15.5
        assert generate(payload, secret, timestamp=NOW) == header


def test_stripes_construct_event_reads_a_signed_event() -> None:
    body, header = signed_webhook(stripe_event("customer.updated", id="evt_x"), SECRET)
    event = stripe.Webhook.construct_event(body, header, SECRET)
    assert event["id"] == "evt_x"
    assert event["type"] == "customer.updated"


@pytest.mark.parametrize(
    ("payload", "secret", "timestamp", "error"),
    [
        (123, SECRET, None, TypeError),
        ("{}", "", None, ValueError),
        ("{}", SECRET, datetime(2026, 1, 1), ValueError),  # naive
        ("{}", SECRET, "1700000000", TypeError),
        ("{}", SECRET, True, TypeError),
    ],
)
def test_sign_webhook_refuses_bad_arguments(
    payload: object, secret: str, timestamp: object, error: type[Exception]
) -> None:
    with pytest.raises(error):
        sign_webhook(payload, secret, timestamp)  # type: ignore[arg-type]


# --------------------------------------------------------------------- event builders


def test_the_builders_cover_exactly_the_events_paykit_handles() -> None:
    assert set(STRIPE_EVENT_OBJECTS) == HANDLED_EVENT_TYPES
    assert set(STRIPE_EVENT_OBJECTS.values()) <= STRIPE_FIXTURE_NAMES


@pytest.mark.parametrize("event_type", sorted(STRIPE_EVENT_OBJECTS))
def test_every_handled_event_builds_and_passes_paykits_checks(event_type: str) -> None:
    event = stripe_event(event_type, created=T0)
    assert event["object"] == "event"
    assert event["type"] == event_type
    assert event["created"] == NOW
    assert event["id"].startswith("evt_")
    obj = event["data"]["object"]
    resource = STRIPE_EVENT_OBJECTS[event_type]
    assert obj["object"] == resource
    body, header = signed_webhook(event, SECRET, NOW)
    assert verify_event(body, header, secrets=SECRET, clock=ClockFrozenClock(T0)) == event
    # The object reads the way paykit's handlers read it.
    if resource == "payment_intent":
        payment = payment_from_stripe(obj)
        expected = {
            "payment_intent.succeeded": "succeeded",
            "payment_intent.payment_failed": "requires_payment_method",
            "payment_intent.canceled": "canceled",
        }[event_type]
        assert payment.status == expected
        assert (payment.decline_code is not None) == (event_type.endswith("payment_failed"))
    elif resource == "refund":
        refund = refund_from_stripe(obj)
        assert refund.status == ("failed" if event_type == "refund.failed" else "succeeded")
    elif resource == "subscription":
        sub = subscription_from_stripe(obj)
        assert sub.id == obj["id"]
        assert sub.status == obj["status"]


@pytest.mark.parametrize(
    ("event_type", "field", "value"),
    [
        ("invoice.created", "status", "draft"),
        ("invoice.finalized", "status", "open"),
        ("invoice.paid", "status", "paid"),
        ("invoice.payment_failed", "status", "open"),
        ("invoice.voided", "status", "void"),
        ("invoice.marked_uncollectible", "status", "uncollectible"),
        ("customer.subscription.deleted", "status", "canceled"),
        ("customer.subscription.paused", "status", "paused"),
        ("customer.subscription.trial_will_end", "status", "trialing"),
        ("charge.refunded", "refunded", True),
        ("payment_method.detached", "customer", None),
    ],
)
def test_the_object_says_what_the_event_says(event_type: str, field: str, value: object) -> None:
    assert stripe_event(event_type)["data"]["object"][field] == value


def test_data_is_merged_over_the_example_object() -> None:
    event = stripe_event(
        "payment_intent.succeeded",
        {"id": "pi_123", "amount": 2500, "metadata": {"order_id": "ord_1"}, "status": "processing"},
        id="evt_abc",
        created=NOW,
        previous_attributes={"status": "requires_confirmation"},
    )
    obj = event["data"]["object"]
    example = stripe_object("payment_intent")
    assert (obj["id"], obj["amount"], obj["status"]) == ("pi_123", 2500, "processing")
    assert obj["metadata"] == {**example["metadata"], "order_id": "ord_1"}
    assert obj["client_secret"] == example["client_secret"]  # untouched fields stay
    assert event["id"] == "evt_abc"
    assert event["data"]["previous_attributes"] == {"status": "requires_confirmation"}


def test_nested_mappings_merge_and_lists_replace() -> None:
    example = stripe_object("invoice")
    built = stripe_object("invoice", status_transitions={"paid_at": NOW}, lines={"data": []})
    assert built["status_transitions"] == {**example["status_transitions"], "paid_at": NOW}
    assert built["lines"]["data"] == []
    assert built["lines"]["object"] == example["lines"]["object"]


def test_an_object_is_carried_as_is() -> None:
    clock = FrozenClock(T0)
    fake = FakeGateway(clock=clock)
    price = fake.add_price(unit_amount=2000, currency="usd", interval="month")
    customer = fake.create_customer(email="a@example.com", idempotency_key="c")
    fake.attach_payment_method("pm_card_visa", customer_id=customer.id, idempotency_key="m")
    sub = fake.create_subscription(customer_id=customer.id, price_id=price, idempotency_key="s")
    event = stripe_event(
        "customer.subscription.updated", object=sub.raw, data={"cancel_at_period_end": True}
    )
    assert event["data"]["object"] == {**sub.raw, "cancel_at_period_end": True}
    assert subscription_from_stripe(event["data"]["object"]).cancel_at_period_end is True
    # Any type builds from an object of one's own.
    other = stripe_event("plan.created", object=stripe_object("price"))
    assert other["type"] == "plan.created"


def test_every_call_returns_a_fresh_copy() -> None:
    first = stripe_event("invoice.paid")
    first["data"]["object"]["lines"]["data"].clear()
    first["data"]["object"]["metadata"]["x"] = "y"
    again = stripe_event("invoice.paid")
    assert again["data"]["object"]["lines"]["data"]
    assert "x" not in again["data"]["object"]["metadata"]
    assert again["id"] != first["id"]


def test_created_defaults_to_now_and_takes_a_datetime() -> None:
    before = int(time.time())
    assert before <= stripe_event("invoice.paid")["created"] <= int(time.time())
    later = T0 + timedelta(minutes=5)
    assert stripe_event("invoice.paid", created=later)["created"] == NOW + 300


def test_the_example_objects_ship_as_package_data_with_their_licence() -> None:
    data = resources.files("paykit.testing").joinpath("stripe_fixtures")
    shipped = {p.name.removesuffix(".json") for p in data.iterdir() if p.name.endswith(".json")}
    assert shipped == STRIPE_FIXTURE_NAMES
    readme = data.joinpath("README.md").read_text()
    assert "The MIT License" in readme
    assert "Copyright (c) 2011- Stripe, Inc." in readme
    for name in STRIPE_FIXTURE_NAMES:
        assert stripe_object(name)["object"] == name


def test_unknown_event_type_or_resource_is_refused() -> None:
    with pytest.raises(ValueError, match="object="):
        stripe_event("plan.created")
    with pytest.raises(KeyError):
        stripe_object("balance_transaction")


# --------------------------------------------------------------------- fast hasher


def test_fast_hasher_is_real_bcrypt_at_the_minimum_cost() -> None:
    hashed = FAST_PASSWORD_HASHER.hash("correct horse battery")
    assert FAST_PASSWORD_HASHER.rounds == 4
    assert "$2b$04$" in hashed
    assert FAST_PASSWORD_HASHER.verify("correct horse battery", hashed)
    assert not FAST_PASSWORD_HASHER.verify("wrong horse battery", hashed)
    production = PasswordHasher()
    assert production.rounds == DEFAULT_BCRYPT_ROUNDS == 12  # the default is untouched
    assert production.verify("correct horse battery", hashed)
    assert production.needs_rehash(hashed)
