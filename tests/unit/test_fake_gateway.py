"""FakeGateway behaviour beyond the contract: ledger, steering ids, threads, latency, clock."""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import pytest

from paykit.clock import FrozenClock
from paykit.errors import (
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways import (
    STRIPE_REFUND_REASONS,
    FakeGateway,
    GatewayPayment,
    GatewayRefundStatus,
    GatewaySubscriptionStatus,
    PaymentGateway,
    PaymentIntentStatus,
    subscription_from_stripe,
)

T = TypeVar("T")
START = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(START)


@pytest.fixture
def fake(clock: FrozenClock) -> FakeGateway:
    return FakeGateway(clock=clock, namespace="fake")


@pytest.fixture
def customer_id(fake: FakeGateway) -> str:
    return fake.create_customer(email="ada@example.com", idempotency_key="cus-1").id


def charge(
    fake: FakeGateway,
    method: str = "pm_card_visa",
    *,
    key: str = "pay-1",
    amount: int = 1000,
    customer_id: str | None = None,
) -> GatewayPayment:
    """Create and confirm a USD payment."""
    return fake.create_payment(
        amount_minor=amount,
        currency="usd",
        customer_id=customer_id,
        payment_method_id=method,
        confirm=True,
        idempotency_key=key,
    )


def in_parallel(calls: Sequence[Callable[[], T]]) -> list[T | BaseException]:
    """Run the calls on one thread each, released together by a barrier."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], T]) -> T | BaseException:
        barrier.wait()
        try:
            return call()
        except Exception as error:
            return error

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


# ---------------------------------------------------------------------- basics


def test_is_a_payment_gateway(fake: FakeGateway) -> None:
    assert isinstance(fake, PaymentGateway)


def test_ids_are_deterministic_and_per_instance(customer_id: str) -> None:
    first, second = FakeGateway(namespace="fake"), FakeGateway(namespace="fake")
    for gateway in (first, second):
        assert charge(gateway, key="a").id == "pi_fake_000001"
        assert charge(gateway, key="b").id == "pi_fake_000002"
        assert gateway.create_customer(email="x@example.com", idempotency_key="c").id == (
            "cus_fake_000001"
        )
    # The fixture's gateway is a third, independent instance.
    assert customer_id == "cus_fake_000001"


def test_negative_latency_is_refused() -> None:
    with pytest.raises(ValidationError, match="latency"):
        FakeGateway(latency=-0.1)


def test_results_are_frozen(fake: FakeGateway) -> None:
    payment = fake.create_payment(
        amount_minor=100,
        currency="usd",
        customer_id=None,
        metadata={"a": "1"},
        idempotency_key="k",
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        payment.amount_minor = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        payment.metadata["a"] = "2"  # type: ignore[index]


def test_caller_cannot_change_stored_metadata(fake: FakeGateway) -> None:
    metadata = {"order_id": "1"}
    payment = fake.create_payment(
        amount_minor=100, currency="usd", customer_id=None, metadata=metadata, idempotency_key="k"
    )
    metadata["order_id"] = "2"
    assert fake.retrieve_payment(payment.id).metadata == {"order_id": "1"}


@pytest.mark.parametrize("bad", [{"k": 1}, {1: "v"}, {"k" * 41: "v"}, {"k": "v" * 501}])
def test_bad_metadata_is_a_validation_error(fake: FakeGateway, bad: dict[Any, Any]) -> None:
    with pytest.raises(ValidationError):
        fake.create_payment(
            amount_minor=100, currency="usd", customer_id=None, metadata=bad, idempotency_key="k"
        )


def test_result_types_coerce_plain_strings() -> None:
    payment = GatewayPayment(id="pi_1", status="succeeded", amount_minor=1, currency="usd")  # type: ignore[arg-type]
    assert payment.status is PaymentIntentStatus.SUCCEEDED
    assert payment.currency == "USD"
    with pytest.raises(ValueError, match="paid"):
        GatewayPayment(id="pi_1", status="paid", amount_minor=1, currency="usd")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- steering ids


@pytest.mark.parametrize(
    ("method", "decline_code"),
    [
        ("pm_card_chargeDeclined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        ("pm_card_chargeDeclinedLostCard", "lost_card"),
        ("pm_card_chargeDeclinedStolenCard", "stolen_card"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error"),
        ("pm_card_chargeDeclinedFraudulent", "fraudulent"),
        ("pm_card_chargeDeclinedVelocityLimitExceeded", "card_velocity_exceeded"),
    ],
)
def test_declining_ids(fake: FakeGateway, method: str, decline_code: str) -> None:
    with pytest.raises(PaymentDeclined) as info:
        charge(fake, method)
    assert info.value.decline_code == decline_code
    assert info.value.details == {
        "payment_id": "pi_fake_000001",
        "payment_method_id": method,
        "decline_code": decline_code,
    }
    assert info.value.http_status == 402
    assert fake.charges == []
    stored = fake.payments["pi_fake_000001"]
    assert stored.status is PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
    assert stored.decline_code == decline_code


@pytest.mark.parametrize(
    "method",
    ["pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_discover", "pm_card_anything"],
)
def test_other_card_ids_succeed(fake: FakeGateway, method: str) -> None:
    payment = charge(fake, method)
    assert payment.status is PaymentIntentStatus.SUCCEEDED
    assert fake.charges == [payment]


@pytest.mark.parametrize(
    "method", ["pm_card_authenticationRequired", "pm_card_threeDSecure2Required"]
)
def test_authentication_ids_require_action_and_do_not_charge(
    fake: FakeGateway, method: str
) -> None:
    payment = charge(fake, method)
    assert payment.status is PaymentIntentStatus.REQUIRES_ACTION
    assert fake.charges == []


def test_authenticate_completes_a_requires_action_payment(fake: FakeGateway) -> None:
    payment = charge(fake, "pm_card_authenticationRequired")
    done = fake.authenticate(payment.id)
    assert done.status is PaymentIntentStatus.SUCCEEDED
    assert fake.charges == [done]
    with pytest.raises(GatewayError):
        fake.authenticate(payment.id)


def test_failed_authentication_needs_a_new_method(fake: FakeGateway) -> None:
    payment = charge(fake, "pm_card_authenticationRequired")
    failed = fake.authenticate(payment.id, succeed=False)
    assert failed.status is PaymentIntentStatus.REQUIRES_PAYMENT_METHOD
    assert failed.decline_code == "payment_intent_authentication_failure"
    assert failed.payment_method_id is None
    assert fake.charges == []


def test_network_error_on_create_records_nothing(fake: FakeGateway) -> None:
    with pytest.raises(GatewayUnavailable) as info:
        charge(fake, "pm_fake_network_error", key="k")
    assert info.value.code == "gateway_unavailable"
    assert info.value.retryable is True
    assert info.value.http_status == 503
    assert fake.payments == {}
    assert fake.charges == []
    assert [name for name, _ in fake.calls] == ["create_payment"]
    # Nothing was saved under the key, so it is free for the retry.
    payment = charge(fake, "pm_card_visa", key="k")
    assert payment.id == "pi_fake_000001"
    assert len(fake.charges) == 1


def test_network_error_on_confirm_leaves_payment_unchanged(fake: FakeGateway) -> None:
    payment = fake.create_payment(
        amount_minor=1000, currency="usd", customer_id=None, idempotency_key="create"
    )
    with pytest.raises(GatewayUnavailable):
        fake.confirm_payment(
            payment.id, payment_method_id="pm_fake_network_error", idempotency_key="confirm"
        )
    assert fake.retrieve_payment(payment.id) == payment
    assert fake.charges == []


def test_timeout_charges_then_retry_with_same_key_returns_the_charge(fake: FakeGateway) -> None:
    with pytest.raises(GatewayUnavailable) as info:
        charge(fake, "pm_fake_timeout", key="k")
    assert info.value.code == "gateway_timeout"
    assert info.value.retryable is True
    # The ambiguous case: the gateway did charge.
    assert [p.id for p in fake.charges] == ["pi_fake_000001"]
    retried = charge(fake, "pm_fake_timeout", key="k")
    assert retried.id == "pi_fake_000001"
    assert retried.status is PaymentIntentStatus.SUCCEEDED
    assert len(fake.charges) == 1


def test_timeout_retry_with_a_new_key_charges_twice(fake: FakeGateway) -> None:
    # Why services must reuse the key: a fresh one is a fresh charge.
    with pytest.raises(GatewayUnavailable):
        charge(fake, "pm_fake_timeout", key="k1")
    with pytest.raises(GatewayUnavailable):
        charge(fake, "pm_fake_timeout", key="k2")
    assert len(fake.charges) == 2


def test_timeout_on_confirm_then_retry(fake: FakeGateway) -> None:
    payment = fake.create_payment(
        amount_minor=1000, currency="usd", customer_id=None, idempotency_key="create"
    )
    with pytest.raises(GatewayUnavailable):
        fake.confirm_payment(payment.id, payment_method_id="pm_fake_timeout", idempotency_key="c")
    assert fake.retrieve_payment(payment.id).status is PaymentIntentStatus.SUCCEEDED
    retried = fake.confirm_payment(
        payment.id, payment_method_id="pm_fake_timeout", idempotency_key="c"
    )
    assert retried.status is PaymentIntentStatus.SUCCEEDED
    assert len(fake.charges) == 1
    # A new key meets a payment that already succeeded.
    with pytest.raises(GatewayError) as info:
        fake.confirm_payment(payment.id, payment_method_id="pm_card_visa", idempotency_key="c2")
    assert info.value.code == "payment_intent_unexpected_state"


def test_attached_steering_ids_keep_their_behaviour(fake: FakeGateway, customer_id: str) -> None:
    method = fake.attach_payment_method(
        "pm_fake_network_error", customer_id=customer_id, idempotency_key="attach"
    )
    with pytest.raises(GatewayUnavailable):
        charge(fake, method.id, customer_id=customer_id)


# ---------------------------------------------------------------------- idempotency


def test_replay_returns_the_identical_object_and_one_charge(fake: FakeGateway) -> None:
    first = charge(fake, key="k")
    again = charge(fake, key="k")
    assert again is first
    assert len(fake.charges) == 1
    assert len(fake.payments) == 1
    assert [name for name, _ in fake.calls] == ["create_payment", "create_payment"]


def test_replay_returns_the_first_response_not_the_current_state(fake: FakeGateway) -> None:
    created = fake.create_payment(
        amount_minor=1000, currency="usd", customer_id=None, idempotency_key="k"
    )
    fake.cancel_payment(created.id, idempotency_key="cancel")
    replayed = fake.create_payment(
        amount_minor=1000, currency="usd", customer_id=None, idempotency_key="k"
    )
    assert replayed.status is PaymentIntentStatus.REQUIRES_PAYMENT_METHOD


def test_currency_case_is_not_a_different_parameter(fake: FakeGateway) -> None:
    first = fake.create_payment(
        amount_minor=100, currency="usd", customer_id=None, idempotency_key="k"
    )
    assert (
        fake.create_payment(amount_minor=100, currency="USD", customer_id=None, idempotency_key="k")
        is first
    )


def test_replayed_errors_are_fresh_exceptions(fake: FakeGateway) -> None:
    with pytest.raises(PaymentDeclined) as first:
        charge(fake, "pm_card_chargeDeclined", key="k")
    with pytest.raises(PaymentDeclined) as again:
        charge(fake, "pm_card_chargeDeclined", key="k")
    assert again.value is not first.value
    assert again.value.details == first.value.details
    assert len(fake.payments) == 1


def test_validation_errors_do_not_consume_the_key(fake: FakeGateway) -> None:
    with pytest.raises(ValidationError):
        charge(fake, key="k", amount=0)
    assert charge(fake, key="k", amount=500).amount_minor == 500


def test_not_found_is_replayed_like_stripe(fake: FakeGateway) -> None:
    with pytest.raises(NotFound):
        charge(fake, key="k", customer_id="cus_fake_000001")
    fake.create_customer(email="ada@example.com", idempotency_key="cus")
    with pytest.raises(NotFound):
        charge(fake, key="k", customer_id="cus_fake_000001")


def test_conflict_details_name_both_operations(fake: FakeGateway) -> None:
    charge(fake, key="k")
    with pytest.raises(IdempotencyConflict) as info:
        fake.create_customer(email="ada@example.com", idempotency_key="k")
    assert info.value.details == {
        "idempotency_key": "k",
        "operation": "create_customer",
        "first_operation": "create_payment",
    }


def test_cross_endpoint_reuse_on_subscription_calls(fake: FakeGateway, customer_id: str) -> None:
    price = fake.add_price(unit_amount=2000)
    fake.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="a")
    sub = fake.create_subscription(customer_id=customer_id, price_id=price, idempotency_key="s")
    with pytest.raises(IdempotencyConflict):
        fake.cancel_subscription(sub.id, at_period_end=True, idempotency_key="s")
    with pytest.raises(IdempotencyConflict):
        fake.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="s")


# ---------------------------------------------------------------------- ledger


def test_calls_record_every_call_in_order(fake: FakeGateway) -> None:
    payment = charge(fake, key="k")
    fake.retrieve_payment(payment.id)
    with pytest.raises(ValidationError):
        charge(fake, key="bad", amount=-1)
    fake.add_price(unit_amount=100)  # a test helper: not a gateway call
    assert fake.calls == [
        (
            "create_payment",
            {
                "amount_minor": 1000,
                "currency": "usd",
                "customer_id": None,
                "payment_method_id": "pm_card_visa",
                "confirm": True,
                "metadata": None,
                "idempotency_key": "k",
            },
        ),
        ("retrieve_payment", {"payment_id": "pi_fake_000001"}),
        (
            "create_payment",
            {
                "amount_minor": -1,
                "currency": "usd",
                "customer_id": None,
                "payment_method_id": "pm_card_visa",
                "confirm": True,
                "metadata": None,
                "idempotency_key": "bad",
            },
        ),
    ]


def test_ledger_snapshots_are_copies(fake: FakeGateway) -> None:
    charge(fake)
    fake.charges.clear()
    fake.payments.clear()
    fake.calls.clear()
    assert len(fake.charges) == 1
    assert len(fake.payments) == 1
    assert len(fake.calls) == 1


def test_charges_hold_only_succeeded_payments_in_order(fake: FakeGateway) -> None:
    charge(fake, key="a")
    with pytest.raises(PaymentDeclined):
        charge(fake, "pm_card_chargeDeclined", key="b")
    charge(fake, "pm_card_authenticationRequired", key="c")
    charge(fake, "pm_card_mastercard", key="d")
    assert [p.id for p in fake.charges] == ["pi_fake_000001", "pi_fake_000004"]
    fake.authenticate("pi_fake_000003")
    assert [p.id for p in fake.charges] == ["pi_fake_000001", "pi_fake_000004", "pi_fake_000003"]


# ---------------------------------------------------------------------- payment rules


def test_update_amount_of_requires_action_needs_confirmation_again(fake: FakeGateway) -> None:
    payment = charge(fake, "pm_card_authenticationRequired")
    updated = fake.update_payment_amount(payment.id, amount_minor=2000, idempotency_key="u")
    assert updated.status is PaymentIntentStatus.REQUIRES_CONFIRMATION
    assert updated.amount_minor == 2000


@pytest.mark.parametrize("amount", [0, -5, True, 1.5])
def test_update_amount_validates(fake: FakeGateway, amount: Any) -> None:
    payment = fake.create_payment(
        amount_minor=100, currency="usd", customer_id=None, idempotency_key="k"
    )
    with pytest.raises(ValidationError):
        fake.update_payment_amount(payment.id, amount_minor=amount, idempotency_key="u")
    assert fake.retrieve_payment(payment.id).amount_minor == 100


def test_update_amount_replay_and_conflict(fake: FakeGateway) -> None:
    payment = fake.create_payment(
        amount_minor=100, currency="usd", customer_id=None, idempotency_key="k"
    )
    first = fake.update_payment_amount(payment.id, amount_minor=200, idempotency_key="u")
    assert fake.update_payment_amount(payment.id, amount_minor=200, idempotency_key="u") is first
    with pytest.raises(IdempotencyConflict):
        fake.update_payment_amount(payment.id, amount_minor=300, idempotency_key="u")
    assert fake.retrieve_payment(payment.id).amount_minor == 200


# ---------------------------------------------------------------------- refunds


def test_refund_ledger_and_amount_refunded(fake: FakeGateway) -> None:
    payment = charge(fake)
    refund = fake.create_refund(
        payment_id=payment.id, amount_minor=400, reason="duplicate", idempotency_key="r"
    )
    assert refund.id == "re_fake_000001"
    assert fake.refunds == [refund]
    assert fake.amount_refunded(payment.id) == 400


@pytest.mark.parametrize("reason", [*sorted(STRIPE_REFUND_REASONS), None])
def test_stripe_refund_reasons_are_accepted(fake: FakeGateway, reason: str | None) -> None:
    payment = charge(fake)
    refund = fake.create_refund(
        payment_id=payment.id, amount_minor=1, reason=reason, idempotency_key="r"
    )
    assert refund.reason == reason


def test_fail_next_refund(fake: FakeGateway) -> None:
    payment = charge(fake)
    fake.fail_next_refund("expired_or_canceled_card")
    failed = fake.create_refund(
        payment_id=payment.id, amount_minor=1000, reason=None, idempotency_key="r1"
    )
    assert failed.status is GatewayRefundStatus.FAILED
    assert failed.failure_reason == "expired_or_canceled_card"
    # A failed refund returned nothing, so the whole amount is still refundable.
    assert fake.amount_refunded(payment.id) == 0
    ok = fake.create_refund(
        payment_id=payment.id, amount_minor=1000, reason=None, idempotency_key="r2"
    )
    assert ok.status is GatewayRefundStatus.SUCCEEDED


def test_refund_steering_is_used_once_and_not_by_replays(fake: FakeGateway) -> None:
    payment = charge(fake)
    first = fake.create_refund(
        payment_id=payment.id, amount_minor=100, reason=None, idempotency_key="r1"
    )
    fake.fail_next_refund()
    replay = fake.create_refund(
        payment_id=payment.id, amount_minor=100, reason=None, idempotency_key="r1"
    )
    assert replay is first
    assert (
        fake.create_refund(
            payment_id=payment.id, amount_minor=100, reason=None, idempotency_key="r2"
        ).status
        is GatewayRefundStatus.FAILED
    )
    assert (
        fake.create_refund(
            payment_id=payment.id, amount_minor=100, reason=None, idempotency_key="r3"
        ).status
        is GatewayRefundStatus.SUCCEEDED
    )


def test_pending_refund_counts_until_it_fails(fake: FakeGateway) -> None:
    payment = charge(fake)
    fake.hold_next_refund()
    pending = fake.create_refund(
        payment_id=payment.id, amount_minor=700, reason=None, idempotency_key="r1"
    )
    assert pending.status is GatewayRefundStatus.PENDING
    with pytest.raises(GatewayError) as info:
        fake.create_refund(
            payment_id=payment.id, amount_minor=400, reason=None, idempotency_key="r2"
        )
    assert info.value.code == "refund_exceeds_payment"
    failed = fake.settle_refund(pending.id, succeeded=False, failure_reason="lost_or_stolen_card")
    assert failed.status is GatewayRefundStatus.FAILED
    assert fake.retrieve_refund(pending.id) == failed
    assert fake.amount_refunded(payment.id) == 0
    with pytest.raises(GatewayError):
        fake.settle_refund(pending.id)


def test_settle_pending_refund_to_succeeded(fake: FakeGateway) -> None:
    payment = charge(fake)
    fake.hold_next_refund()
    pending = fake.create_refund(
        payment_id=payment.id, amount_minor=700, reason=None, idempotency_key="r1"
    )
    assert fake.settle_refund(pending.id).status is GatewayRefundStatus.SUCCEEDED
    assert fake.amount_refunded(payment.id) == 700


# ---------------------------------------------------------------------- threads


@pytest.fixture
def eager_switching() -> Any:
    # Switch threads every microsecond instead of every 5 ms, so a missing
    # lock shows up as a race here rather than once in a thousand runs.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(previous)


@pytest.mark.usefixtures("eager_switching")
def test_parallel_same_key_charges_once() -> None:
    fake = FakeGateway(latency=0.05, namespace="fake")
    results = in_parallel([lambda: charge(fake, key="same")] * 8)
    assert all(isinstance(result, GatewayPayment) for result in results)
    assert {result.id for result in results if isinstance(result, GatewayPayment)} == {
        "pi_fake_000001"
    }
    assert len(fake.charges) == 1
    assert len(fake.payments) == 1


@pytest.mark.usefixtures("eager_switching")
def test_parallel_distinct_keys_charge_each_once() -> None:
    fake = FakeGateway(latency=0.05, namespace="fake")
    calls = [partial(charge, fake, key=f"key-{i}") for i in range(8)]
    results = in_parallel(calls)
    ids = {result.id for result in results if isinstance(result, GatewayPayment)}
    assert ids == {f"pi_fake_{n:06d}" for n in range(1, 9)}
    assert len(fake.charges) == 8


@pytest.mark.usefixtures("eager_switching")
def test_parallel_refunds_never_exceed_the_payment() -> None:
    fake = FakeGateway(latency=0.02, namespace="fake")
    payment = charge(fake, amount=1000)
    calls = [
        partial(
            fake.create_refund,
            payment_id=payment.id,
            amount_minor=300,
            reason=None,
            idempotency_key=f"r{i}",
        )
        for i in range(8)
    ]
    results = in_parallel(calls)
    refused = [r for r in results if isinstance(r, GatewayError)]
    assert len(refused) == 5
    assert {r.code for r in refused} == {"refund_exceeds_payment"}
    assert sum(r.amount_minor for r in fake.refunds) == 900
    assert fake.amount_refunded(payment.id) == 900


@pytest.mark.usefixtures("eager_switching")
def test_parallel_same_key_with_timeout_charges_once() -> None:
    fake = FakeGateway(latency=0.02, namespace="fake")
    results = in_parallel([lambda: charge(fake, "pm_fake_timeout", key="same")] * 8)
    timeouts = [r for r in results if isinstance(r, GatewayUnavailable)]
    replays = [r for r in results if isinstance(r, GatewayPayment)]
    assert len(timeouts) == 1
    assert len(replays) == 7
    assert len(fake.charges) == 1


# ---------------------------------------------------------------------- latency


def test_latency_is_slept_on_every_call() -> None:
    fake = FakeGateway(latency=0.1, namespace="fake")
    started = time.monotonic()
    payment = charge(fake)
    fake.retrieve_payment(payment.id)
    assert time.monotonic() - started >= 0.2


def test_latency_does_not_serialize_parallel_callers() -> None:
    fake = FakeGateway(latency=0.2, namespace="fake")
    calls = [partial(charge, fake, key=f"key-{i}") for i in range(8)]
    started = time.monotonic()
    results = in_parallel(calls)
    elapsed = time.monotonic() - started
    assert all(isinstance(result, GatewayPayment) for result in results)
    assert 0.2 <= elapsed < 1.0  # serialized would be 1.6 s


# ---------------------------------------------------------------------- subscriptions


@pytest.fixture
def card(fake: FakeGateway, customer_id: str) -> str:
    return fake.attach_payment_method(
        "pm_card_visa", customer_id=customer_id, idempotency_key="attach"
    ).id


@pytest.fixture
def monthly(fake: FakeGateway) -> str:
    return fake.add_price(unit_amount=2000, currency="usd", interval="month")


def ts(value: datetime) -> int:
    """A datetime as the Unix timestamp Stripe-shaped objects carry."""
    return int(value.timestamp())


def test_monthly_periods_follow_the_anchor_day(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, card: str, monthly: str
) -> None:
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    assert sub.current_period_start == START
    assert sub.current_period_end == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    clock.set(datetime(2025, 3, 1, tzinfo=UTC))
    renewed = fake.retrieve_subscription(sub.id)
    assert renewed.status is GatewaySubscriptionStatus.ACTIVE
    assert renewed.current_period_start == datetime(2025, 2, 28, 12, 0, tzinfo=UTC)
    assert renewed.current_period_end == datetime(2025, 3, 31, 12, 0, tzinfo=UTC)
    clock.set(datetime(2025, 7, 1, tzinfo=UTC))
    assert fake.retrieve_subscription(sub.id).current_period_end == datetime(
        2025, 7, 31, 12, 0, tzinfo=UTC
    )


def test_period_end_exactly_now_renews(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, card: str, monthly: str
) -> None:
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    clock.set(sub.current_period_end)
    assert fake.retrieve_subscription(sub.id).current_period_start == sub.current_period_end


def test_cancel_at_period_end_takes_effect_at_period_end(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, card: str, monthly: str
) -> None:
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    clock.advance(days=3)
    pending = fake.cancel_subscription(sub.id, at_period_end=True, idempotency_key="c")
    assert pending.canceled_at == START + timedelta(days=3)
    clock.set(sub.current_period_end - timedelta(seconds=1))
    assert fake.retrieve_subscription(sub.id).status is GatewaySubscriptionStatus.ACTIVE
    clock.set(sub.current_period_end + timedelta(days=40))
    ended = fake.retrieve_subscription(sub.id)
    assert ended.status is GatewaySubscriptionStatus.CANCELED
    assert ended.raw["ended_at"] == ts(sub.current_period_end)
    assert ended.current_period_end == sub.current_period_end


def test_trial_ends_into_an_active_period(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, monthly: str
) -> None:
    fake.attach_payment_method("pm_card_visa", customer_id=customer_id, idempotency_key="pm")
    sub = fake.create_subscription(
        customer_id=customer_id, price_id=monthly, trial_days=7, idempotency_key="s"
    )
    trial_end = START + timedelta(days=7)
    assert sub.status is GatewaySubscriptionStatus.TRIALING
    assert (sub.current_period_start, sub.current_period_end) == (START, trial_end)
    assert sub.raw["billing_cycle_anchor"] == ts(trial_end)
    clock.set(trial_end)
    active = fake.retrieve_subscription(sub.id)
    assert active.status is GatewaySubscriptionStatus.ACTIVE
    assert active.current_period_start == trial_end
    assert active.current_period_end == datetime(2025, 3, 7, 12, 0, tzinfo=UTC)


def test_incomplete_expires_after_23_hours(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, monthly: str
) -> None:
    sub = fake.create_subscription(
        customer_id=customer_id,
        price_id=monthly,
        payment_method_id="pm_card_chargeDeclined",
        idempotency_key="s",
    )
    assert sub.status is GatewaySubscriptionStatus.INCOMPLETE
    clock.advance(hours=22, minutes=59)
    assert fake.retrieve_subscription(sub.id).status is GatewaySubscriptionStatus.INCOMPLETE
    clock.advance(minutes=1)
    assert fake.retrieve_subscription(sub.id).status is GatewaySubscriptionStatus.INCOMPLETE_EXPIRED


def test_set_status_and_resume_paused(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, card: str, monthly: str
) -> None:
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    assert fake.set_subscription_status(sub.id, "past_due").status == "past_due"
    fake.set_subscription_status(sub.id, GatewaySubscriptionStatus.PAUSED)
    clock.advance(days=90)
    # A paused subscription does not renew.
    assert fake.retrieve_subscription(sub.id).current_period_end == sub.current_period_end
    resumed = fake.resume_subscription(sub.id, idempotency_key="r")
    assert resumed.status is GatewaySubscriptionStatus.ACTIVE
    assert resumed.current_period_start == START + timedelta(days=90)


def test_price_with_other_interval_restarts_the_period(
    fake: FakeGateway, clock: FrozenClock, customer_id: str, card: str, monthly: str
) -> None:
    yearly = fake.add_price(unit_amount=20000, interval="year")
    same_interval = fake.add_price(unit_amount=3000, interval="month")
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    clock.advance(days=10)
    kept = fake.update_subscription(sub.id, price_id=same_interval, idempotency_key="u1")
    assert kept.current_period_end == sub.current_period_end
    assert kept.unit_amount_minor == 3000
    moved = fake.update_subscription(sub.id, price_id=yearly, idempotency_key="u2")
    assert moved.current_period_start == START + timedelta(days=10)
    assert moved.current_period_end == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)


def test_price_in_another_currency_is_refused(
    fake: FakeGateway, customer_id: str, card: str, monthly: str
) -> None:
    euro = fake.add_price(unit_amount=2000, currency="eur")
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    with pytest.raises(GatewayError) as info:
        fake.update_subscription(sub.id, price_id=euro, idempotency_key="u")
    assert info.value.code == "currency_mismatch"


def test_one_time_price_cannot_be_subscribed(
    fake: FakeGateway, customer_id: str, card: str
) -> None:
    once = fake.add_price(unit_amount=500, interval=None)
    with pytest.raises(GatewayError) as info:
        fake.create_subscription(customer_id=customer_id, price_id=once, idempotency_key="s")
    assert info.value.code == "price_not_recurring"


def test_coupon_is_recorded_as_a_discount(
    fake: FakeGateway, customer_id: str, card: str, monthly: str
) -> None:
    coupon = fake.add_coupon(coupon_id="LAUNCH", percent_off=20.0, duration="forever")
    sub = fake.create_subscription(
        customer_id=customer_id, price_id=monthly, coupon=coupon, idempotency_key="s"
    )
    assert [d["source"]["coupon"] for d in sub.raw["discounts"]] == ["LAUNCH"]
    with pytest.raises(NotFound):
        fake.create_subscription(
            customer_id=customer_id, price_id=monthly, coupon="NOPE", idempotency_key="s2"
        )


def test_subscription_raw_is_a_copy(
    fake: FakeGateway, customer_id: str, card: str, monthly: str
) -> None:
    sub = fake.create_subscription(customer_id=customer_id, price_id=monthly, idempotency_key="s")
    sub.raw["items"]["data"][0]["quantity"] = 99
    assert fake.retrieve_subscription(sub.id).quantity == 1
    assert fake.subscriptions[sub.id].quantity == 1


@pytest.mark.parametrize("quantity", [0, -1, True])
def test_bad_quantity_is_a_validation_error(
    fake: FakeGateway, customer_id: str, card: str, monthly: str, quantity: Any
) -> None:
    with pytest.raises(ValidationError):
        fake.create_subscription(
            customer_id=customer_id, price_id=monthly, quantity=quantity, idempotency_key="s"
        )


def test_subscription_from_stripe_reads_legacy_and_expanded_shapes() -> None:
    raw = {
        "id": "sub_1",
        "object": "subscription",
        "customer": {"id": "cus_1", "object": "customer"},
        "status": "past_due",
        "currency": "usd",
        "cancel_at_period_end": True,
        "canceled_at": 1_700_000_100,
        "current_period_start": 1_700_000_000,
        "current_period_end": 1_702_592_000,
        "trial_start": None,
        "trial_end": None,
        "items": {
            "data": [
                {
                    "quantity": 3,
                    "price": {
                        "id": "price_1",
                        "unit_amount": 999,
                        "currency": "usd",
                        "product": {"id": "prod_1"},
                    },
                }
            ]
        },
    }
    sub = subscription_from_stripe(raw)
    assert sub.customer_id == "cus_1"
    assert sub.product_id == "prod_1"
    assert sub.status is GatewaySubscriptionStatus.PAST_DUE
    assert sub.quantity == 3
    assert sub.unit_amount_minor == 999
    assert sub.currency == "USD"
    assert sub.current_period_start == datetime.fromtimestamp(1_700_000_000, tz=UTC)
    assert sub.canceled_at == datetime.fromtimestamp(1_700_000_100, tz=UTC)
    assert sub.cancel_at_period_end is True
    with pytest.raises(ValueError, match="no items"):
        subscription_from_stripe({**raw, "items": {"data": []}})
