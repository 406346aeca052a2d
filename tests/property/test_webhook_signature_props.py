"""paykit's Stripe-Signature check accepts exactly what stripe-python's verifier accepts.

Headers are generated from signed, wrongly signed, padded, duplicated and
malformed items in any order; the oracle is ``stripe.WebhookSignature.verify_header``
of the installed stripe, with its clock set to paykit's injected clock. The one
deliberate difference: paykit also refuses a timestamp more than ``tolerance``
seconds in the future (docs/stripe.md).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
import stripe
from hypothesis import example, given
from hypothesis import strategies as st
from tests.stripe_server import sign

from paykit.clock import FrozenClock
from paykit.errors import ConfigurationError, WebhookError
from paykit.webhooks import verify_event

SECRET = "whsec_current"
OTHER = "whsec_other"
T0 = datetime(2026, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)  # a quarter second past
NOW = int(T0.timestamp())
TOLERANCE = 300
EVENT = {"id": "evt_1", "type": "x.y", "created": NOW, "data": {"object": {"id": "o"}}}
BODY = json.dumps(EVENT)


def hmac_v1(secret: str, timestamp: int | str, body: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def stripe_accepts(payload: bytes | str, header: str, secrets: list[str], tolerance: int) -> bool:
    """stripe-python's verdict, at paykit's clock; bytes decoded as stripe >= 15.5 does."""
    text: Any = payload
    if isinstance(payload, bytes):
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            return False  # stripe-python raises UnicodeDecodeError: refused all the same
    frozen = SimpleNamespace(time=T0.timestamp)
    with mock.patch("stripe._webhook.time", frozen):
        for secret in secrets:
            try:
                stripe.WebhookSignature.verify_header(text, header, secret, tolerance)
            except stripe.SignatureVerificationError:
                continue
            except (UnicodeError, TypeError):
                continue
            return True
    return False


def paykit_verdict(
    payload: bytes | str, header: str, secrets: list[str], tolerance: int
) -> str | None:
    """``None`` if paykit accepts the signature, else the error code.

    ``webhook_payload_invalid`` after a good signature (a signed body that is not
    an event) counts as accepted; a body that is not UTF-8 is refused first.
    """
    try:
        verify_event(payload, header, secrets=secrets, tolerance=tolerance, clock=FrozenClock(T0))
    except WebhookError as exc:
        if exc.code == "webhook_payload_invalid" and not not_utf8(payload):
            return None
        return exc.code
    return None


def not_utf8(payload: bytes | str) -> bool:
    try:
        if isinstance(payload, bytes):
            payload.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def signed_timestamp(header: str) -> int | None:
    """The timestamp stripe-python reads from the header, if any."""
    try:
        timestamp, _ = stripe.WebhookSignature._get_timestamp_and_signatures(header, "v1")
    except Exception:
        return None
    return int(timestamp)


def check(
    payload: bytes | str, header: str, secrets: list[str], tolerance: int = TOLERANCE
) -> None:
    expected = stripe_accepts(payload, header, secrets, tolerance)
    verdict = paykit_verdict(payload, header, secrets, tolerance)
    if not_utf8(payload):  # stripe-python raises UnicodeDecodeError; paykit says why
        assert (expected, verdict) == (False, "webhook_payload_invalid")
        return
    stamp = signed_timestamp(header)
    if expected and stamp is not None and stamp > T0.timestamp() + tolerance:
        assert verdict == "webhook_timestamp_out_of_tolerance", header
    else:
        assert (verdict is None) == expected, (header, verdict)


timestamps = st.one_of(
    st.sampled_from(
        [NOW, NOW - TOLERANCE, NOW - TOLERANCE - 1, NOW + TOLERANCE, NOW + TOLERANCE + 1]
    ),
    st.integers(NOW - 2 * TOLERANCE, NOW + 2 * TOLERANCE),
    st.integers(-(10**12), 10**12),
)
bodies = st.one_of(
    st.just(BODY),
    st.text(max_size=40),
    st.text(max_size=40).map(lambda s: s.encode()),
    st.binary(max_size=40),
)


@st.composite
def header_items(draw: Callable[..., Any], body: str | None) -> list[str]:
    """Items of a Stripe-Signature header: good, bad, padded and malformed, in any order."""
    text = body if body is not None else "?"
    signed_at = draw(timestamps)
    other_at = draw(timestamps)
    pool = st.sampled_from(
        [
            f"t={signed_at}",
            f"t={other_at}",
            f" t={NOW}",
            f"t ={signed_at}",
            f"t= {signed_at}",
            f"t={signed_at} ",
            "t",
            "t=",
            "t=abc",
            f"v1={hmac_v1(SECRET, signed_at, text)}",
            f"v1={hmac_v1(SECRET, other_at, text)}",
            f"v1={hmac_v1(OTHER, signed_at, text)}",
            f" v1={hmac_v1(SECRET, signed_at, text)}",
            f"v1={hmac_v1(SECRET, signed_at, text)} ",
            f"v1={hmac_v1(SECRET, signed_at, text)}=x",
            f"V1={hmac_v1(SECRET, signed_at, text)}",
            f"v0={hmac_v1(SECRET, signed_at, text)}",
            f"v2={hmac_v1(SECRET, signed_at, text)}",
            "scheme=unknown",
            "v1",
            "v1=",
            "",
            "=",
        ]
    )
    items: list[str] = draw(st.lists(st.one_of(pool, st.text(max_size=12)), max_size=5))
    if draw(st.booleans()):
        # Half the headers carry a good t and v1 somewhere among the rest, so
        # acceptance is as common as refusal.
        at = draw(st.integers(0, len(items)))
        items.insert(at, f"t={signed_at}")
        items.insert(
            draw(st.integers(at + 1, len(items))), f"v1={hmac_v1(SECRET, signed_at, text)}"
        )
    return items


@given(data=st.data(), body=bodies, secrets=st.sampled_from([[SECRET], [OTHER, SECRET], [OTHER]]))
@example(data=None, body=BODY, secrets=[SECRET])
def test_paykit_accepts_exactly_what_stripe_accepts(
    data: st.DataObject | None, body: bytes | str, secrets: list[str]
) -> None:
    if isinstance(body, bytes):
        try:
            text: str | None = body.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    else:
        text = body
    if data is None:  # the example: one good header
        header = sign(body, SECRET, timestamp=NOW)
    else:
        header = ",".join(data.draw(header_items(text)))
    check(body, header, secrets)


@pytest.mark.parametrize("body", [BODY, BODY.encode()], ids=["str", "bytes"])
@pytest.mark.parametrize(
    ("header", "accepted"),
    [
        # The replay: a fresh padded item before the captured header's real t.
        pytest.param(
            f" t={NOW},t={NOW - 3600},v1={hmac_v1(SECRET, NOW - 3600, BODY)}",
            False,
            id="replay-padded-t",
        ),
        # Two t items: the first is the one signed and checked.
        pytest.param(
            f"t={NOW},t={NOW - 3600},v1={hmac_v1(SECRET, NOW, BODY)}", True, id="first-t-signed"
        ),
        pytest.param(
            f"t={NOW - 3600},t={NOW},v1={hmac_v1(SECRET, NOW, BODY)}",
            False,
            id="first-t-not-signed",
        ),
        # Several v1: any one matching is enough; unknown schemes are ignored.
        pytest.param(
            f"t={NOW},v1=deadbeef,v1={hmac_v1(SECRET, NOW, BODY)},v0=x,zz=1",
            True,
            id="several-v1-unknown-schemes",
        ),
        pytest.param(f"t={NOW},v0={hmac_v1(SECRET, NOW, BODY)}", False, id="v0-only"),
        # Padding is never trimmed.
        pytest.param(f"t={NOW}, v1={hmac_v1(SECRET, NOW, BODY)}", False, id="padded-v1"),
        pytest.param(f"t={NOW},v1={hmac_v1(SECRET, NOW, BODY)},t", False, id="bare-t-spoils"),
        # Tolerance edges at T0 + 0.25 s.
        pytest.param(
            f"t={NOW - TOLERANCE},v1={hmac_v1(SECRET, NOW - TOLERANCE, BODY)}",
            False,
            id="past-edge-refused",
        ),
        pytest.param(
            f"t={NOW - TOLERANCE + 1},v1={hmac_v1(SECRET, NOW - TOLERANCE + 1, BODY)}",
            True,
            id="past-edge-inside",
        ),
        pytest.param(
            f"t={NOW + TOLERANCE},v1={hmac_v1(SECRET, NOW + TOLERANCE, BODY)}",
            True,
            id="future-edge-inside",
        ),
    ],
)
def test_known_headers(body: bytes | str, header: str, accepted: bool) -> None:
    assert (paykit_verdict(body, header, [SECRET], TOLERANCE) is None) is accepted
    check(body, header, [SECRET])


def test_the_replay_of_a_captured_delivery_is_refused_for_its_timestamp() -> None:
    captured = sign(BODY, SECRET, timestamp=NOW - 3600)
    assert paykit_verdict(BODY, captured, [SECRET], TOLERANCE) == (
        "webhook_timestamp_out_of_tolerance"
    )
    assert paykit_verdict(BODY, f" t={NOW},{captured}", [SECRET], TOLERANCE) == (
        "webhook_timestamp_out_of_tolerance"
    )


def test_the_clock_is_the_injected_one() -> None:
    header = sign(BODY, SECRET, timestamp=NOW - 1000)
    clock = FrozenClock(T0 - timedelta(seconds=1000))
    verify_event(BODY, header, secrets=SECRET, clock=clock)
    with pytest.raises(WebhookError) as excinfo:
        verify_event(BODY, header, secrets=SECRET, clock=FrozenClock(T0))
    assert excinfo.value.code == "webhook_timestamp_out_of_tolerance"


def test_the_test_signer_signs_as_stripe_does() -> None:
    expected = stripe.WebhookSignature._compute_signature(f"{NOW}.{BODY}", SECRET)
    assert sign(BODY, SECRET, timestamp=NOW) == f"t={NOW},v1={expected}"
    assert sign(BODY.encode(), SECRET, timestamp=NOW) == f"t={NOW},v1={expected}"
    generate = getattr(stripe.WebhookSignature, "generate_signature_header", None)
    if generate is not None:  # stripe >= 15.5
        assert generate(BODY, SECRET, timestamp=NOW) == sign(BODY, SECRET, timestamp=NOW)


@pytest.mark.parametrize("tolerance", [-1, "300", 1.5, True])
def test_a_tolerance_that_is_not_whole_seconds_is_a_configuration_error(tolerance: Any) -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(ConfigurationError) as excinfo:
        verify_event(BODY, header, secrets=SECRET, tolerance=tolerance, clock=FrozenClock(T0))
    assert excinfo.value.code == "webhook_tolerance_invalid"


@pytest.mark.parametrize("secrets", [[], [""], ["  \t"], 5, [None]])
def test_no_usable_secret_is_refused(secrets: Any) -> None:
    header = sign(BODY, SECRET, timestamp=NOW)
    with pytest.raises(WebhookError) as excinfo:
        verify_event(BODY, header, secrets=secrets, clock=FrozenClock(T0))
    assert excinfo.value.code == "webhook_secret_missing"


@pytest.mark.parametrize(
    ("payload", "header"),
    [
        ({"id": "evt"}, None),
        (b"\xff\xfe", "t=1,v1=x"),
        (BODY, b"t=1,v1=x"),
        (BODY, 5),
    ],
)
def test_wrong_types_are_refused_with_a_code(payload: Any, header: Any) -> None:
    with pytest.raises(WebhookError) as excinfo:
        verify_event(payload, header, secrets=SECRET, clock=FrozenClock(T0))
    assert excinfo.value.code in {"webhook_payload_invalid", "invalid_signature"}
