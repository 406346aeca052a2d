"""Stripe webhook signatures: check the ``Stripe-Signature`` header and parse the event.

The rules are stripe-python's (``stripe.WebhookSignature``), rule for rule,
without importing the SDK; ``docs/stripe.md`` (*Signature rules*) explains
the one place paykit is stricter.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any, Final

from paykit.clock import Clock, resolve_clock
from paykit.errors import ConfigurationError, InvalidSignature, WebhookError
from paykit.stripe.objects import timestamp

__all__ = ["DEFAULT_TOLERANCE", "verify_event"]

DEFAULT_TOLERANCE: Final = 300
"""Seconds a signature's timestamp may be away from now (Stripe's own default)."""


# The signature rules are stripe-python's (``stripe.WebhookSignature``), rule for
# rule, so that the timestamp checked is by construction the one that was signed.
# tests/property/test_webhook_signature_props.py holds them to stripe's verifier.
_SCHEME: Final = "v1"
_SECRET_BLANKS: Final = " \t\r\n\f\v"  # what stripe-python strips to call a secret empty


def _parse_signature_header(header: str) -> tuple[int, list[str]]:
    """The signed timestamp and the ``v1`` signatures, parsed as stripe-python parses them.

    Items are split on ``,`` and on ``=`` without trimming, so `` t=...`` is not
    a timestamp; the first ``t`` wins; every ``v1`` is a candidate; other
    schemes are ignored; a ``t`` or ``v1`` item without ``=`` spoils the header.
    """
    items = [item.split("=", 2) for item in header.split(",")]
    # Every t item is indexed, as in stripe-python: a later bare "t" spoils the header.
    timestamp = int([item[1] for item in items if item[0] == "t"][0])  # noqa: RUF015
    return timestamp, [item[1] for item in items if item[0] == _SCHEME]


def _matches(expected: str, candidate: str) -> bool:
    try:
        return hmac.compare_digest(expected.encode("utf-8"), candidate.encode("utf-8"))
    except UnicodeEncodeError:
        return False


def _verify_signature(
    text: str, header: str | None, secrets: Sequence[str], tolerance: int | None, now: float
) -> None:
    """Raise ``InvalidSignature`` unless ``header`` signs ``text`` recently enough."""
    if not header:
        raise InvalidSignature("no Stripe-Signature header")
    try:
        timestamp, signatures = _parse_signature_header(header)
    except (ValueError, IndexError, TypeError, AttributeError):
        raise InvalidSignature("the Stripe-Signature header cannot be parsed") from None
    if not signatures:
        raise InvalidSignature(f"the Stripe-Signature header has no {_SCHEME} signature")
    try:
        signed = f"{timestamp:d}.{text}".encode()
    except UnicodeEncodeError:
        raise InvalidSignature("the payload is not valid text") from None
    expected = [hmac.new(s.encode("utf-8"), signed, hashlib.sha256).hexdigest() for s in secrets]
    if not any(_matches(e, candidate) for e in expected for candidate in signatures):
        raise InvalidSignature("the Stripe-Signature header does not match the payload")
    # stripe-python refuses only the past side; a timestamp far in the future is
    # refused too, so a host clock that lags shows up instead of silently
    # widening the replay window (docs/stripe.md).
    if tolerance is not None and not now - tolerance <= timestamp <= now + tolerance:
        raise InvalidSignature(
            "the signature's timestamp is outside the tolerance; a replayed request?",
            code="webhook_timestamp_out_of_tolerance",
            details={"tolerance": tolerance},
        )


def verify_event(
    payload: bytes | str,
    signature_header: str | None,
    *,
    secrets: Sequence[str] | str,
    tolerance: int | None = DEFAULT_TOLERANCE,
    clock: Clock | None = None,
) -> dict[str, Any]:
    """Check the ``Stripe-Signature`` of the raw body and return the parsed event.

    The header is parsed and the HMAC checked exactly as stripe-python's
    ``WebhookSignature.verify_header`` does it, against each secret in turn
    (several secrets: for rotation, old and new are both valid while Stripe
    signs with both); a bytes body is decoded as UTF-8 first. The signed
    timestamp is checked against the injected clock: more than ``tolerance``
    seconds away, in either direction, is refused (``None`` turns the check
    off; unlike stripe-python, ``0`` does not). Raises ``InvalidSignature``
    (``invalid_signature``, ``webhook_timestamp_out_of_tolerance`` or
    ``webhook_secret_missing``) or ``WebhookError`` (``webhook_payload_invalid``);
    a ``tolerance`` that is not ``None`` or an int >= 0 is a ``ConfigurationError``
    (``webhook_tolerance_invalid``).
    """
    try:
        candidates = [secrets] if isinstance(secrets, str) else list(secrets)
    except TypeError:
        candidates = []
    if not candidates or not all(
        isinstance(secret, str) and secret.strip(_SECRET_BLANKS) for secret in candidates
    ):
        raise InvalidSignature("no webhook secret configured", code="webhook_secret_missing")
    if tolerance is not None and (
        isinstance(tolerance, bool) or not isinstance(tolerance, int) or tolerance < 0
    ):
        raise ConfigurationError(
            f"tolerance must be None or a whole number of seconds >= 0, not {tolerance!r}",
            code="webhook_tolerance_invalid",
        )
    if isinstance(payload, bytes | bytearray):
        try:
            text = bytes(payload).decode("utf-8")
        except UnicodeDecodeError:
            raise WebhookError(
                "the webhook payload is not UTF-8 text", code="webhook_payload_invalid"
            ) from None
    elif isinstance(payload, str):
        text = payload
    else:
        raise WebhookError(
            f"the payload must be the raw body as bytes or str, not {type(payload).__name__}",
            code="webhook_payload_invalid",
        )
    now = resolve_clock(clock).now().timestamp()
    _verify_signature(text, signature_header, candidates, tolerance, now)
    try:
        event = json.loads(text)
        if not isinstance(event, dict):
            raise TypeError("not an object")
        for name in ("id", "type", "created"):
            if name not in event:
                raise KeyError(name)
        if not isinstance((event.get("data") or {}).get("object"), dict):
            raise KeyError("data.object")
        timestamp(event["created"])  # an int within datetime's range
    except (ValueError, TypeError, KeyError) as exc:
        raise WebhookError(
            f"the webhook payload is not a Stripe event ({exc})", code="webhook_payload_invalid"
        ) from None
    return event
