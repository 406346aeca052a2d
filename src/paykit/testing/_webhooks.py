"""Stripe-shaped test data: example objects, events, and signed webhook deliveries.

The objects come from Stripe's published example fixtures (``stripe_fixtures/``
in this package; see the README there for the source and licence). This module
imports nothing from paykit's database layer or the stripe SDK.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from types import MappingProxyType
from typing import Any, Final

__all__ = [
    "STRIPE_API_VERSION",
    "STRIPE_EVENT_OBJECTS",
    "STRIPE_FIXTURE_NAMES",
    "sign_webhook",
    "signed_webhook",
    "stripe_event",
    "stripe_object",
]

STRIPE_API_VERSION: Final = "2026-10-28.endive"
"""The ``api_version`` :func:`stripe_event` writes into events unless told otherwise."""

STRIPE_FIXTURE_NAMES: Final = frozenset(
    {
        "charge",
        "checkout.session",
        "customer",
        "event",
        "invoice",
        "payment_intent",
        "payment_method",
        "price",
        "product",
        "refund",
        "setup_intent",
        "subscription",
    }
)
"""The Stripe example objects shipped with paykit, by resource name."""

STRIPE_EVENT_OBJECTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "payment_intent.succeeded": "payment_intent",
        "payment_intent.payment_failed": "payment_intent",
        "payment_intent.canceled": "payment_intent",
        "charge.refunded": "charge",
        "refund.created": "refund",
        "refund.updated": "refund",
        "refund.failed": "refund",
        "customer.subscription.created": "subscription",
        "customer.subscription.updated": "subscription",
        "customer.subscription.deleted": "subscription",
        "customer.subscription.paused": "subscription",
        "customer.subscription.resumed": "subscription",
        "customer.subscription.trial_will_end": "subscription",
        "invoice.created": "invoice",
        "invoice.finalized": "invoice",
        "invoice.updated": "invoice",
        "invoice.paid": "invoice",
        "invoice.payment_succeeded": "invoice",
        "invoice.payment_failed": "invoice",
        "invoice.voided": "invoice",
        "invoice.marked_uncollectible": "invoice",
        "invoice.upcoming": "invoice",
        "payment_method.attached": "payment_method",
        "payment_method.detached": "payment_method",
        "customer.updated": "customer",
        "setup_intent.succeeded": "setup_intent",
        "payment_method.updated": "payment_method",
        "payment_method.automatically_updated": "payment_method",
        "checkout.session.completed": "checkout.session",
    }
)
"""Every event type paykit's webhook handlers apply, with the resource its
``data.object`` is (the same set as ``paykit.webhooks.HANDLED_EVENT_TYPES``)."""

# A live subscription: no cancellation asked for, none done.
_NO_CANCELLATION: Final[Mapping[str, Any]] = {
    "cancel_at": None,
    "cancel_at_period_end": False,
    "canceled_at": None,
    "ended_at": None,
}
_PAID_INVOICE: Final[Mapping[str, Any]] = {
    "status": "paid",
    "amount_paid": 1000,
    "amount_remaining": 0,
    "parent": None,
}

# The fields Stripe's example objects hold as placeholders (a draft invoice, a
# payment intent with an error) set to what a real event of each type carries.
# Applied under the caller's ``data``, so a test can still override any of them.
# An invoice's ``parent`` placeholder names a subscription called "subscription":
# it is cleared, so an invoice belongs to the subscription the test links.
_EVENT_STATE: Final[Mapping[str, Mapping[str, Any]]] = {
    "payment_intent.succeeded": {
        "status": "succeeded",
        "last_payment_error": None,
        "canceled_at": None,
        "payment_method": "pm_1Pgc75B7WZ01zgkWlHVgdEGJ",
    },
    "payment_intent.payment_failed": {
        "status": "requires_payment_method",
        "canceled_at": None,
        "last_payment_error": {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        },
    },
    "payment_intent.canceled": {"status": "canceled", "last_payment_error": None},
    "charge.refunded": {"refunded": True, "amount_refunded": 100, "captured": True},
    "refund.created": {"status": "succeeded"},
    "refund.updated": {"status": "succeeded"},
    "refund.failed": {"status": "failed", "failure_reason": "declined"},
    "customer.subscription.created": {"status": "active", **_NO_CANCELLATION},
    "customer.subscription.updated": {"status": "active", **_NO_CANCELLATION},
    "customer.subscription.deleted": {"status": "canceled", "cancel_at_period_end": False},
    "customer.subscription.paused": {"status": "paused", **_NO_CANCELLATION},
    "customer.subscription.resumed": {"status": "active", **_NO_CANCELLATION},
    "customer.subscription.trial_will_end": {"status": "trialing", **_NO_CANCELLATION},
    "invoice.created": {"status": "draft", "parent": None},
    "invoice.finalized": {"status": "open", "parent": None},
    "invoice.updated": {"status": "open", "parent": None},
    "invoice.paid": _PAID_INVOICE,
    "invoice.payment_succeeded": _PAID_INVOICE,
    "invoice.payment_failed": {
        "status": "open",
        "attempted": True,
        "attempt_count": 1,
        "parent": None,
    },
    "invoice.voided": {"status": "void", "parent": None},
    "invoice.marked_uncollectible": {"status": "uncollectible", "parent": None},
    # An upcoming invoice is a preview: Stripe sends it without an id.
    "invoice.upcoming": {"id": None, "status": "draft", "parent": None},
    "payment_method.attached": {"customer": "cus_QXg1o8vcGmoR32"},
    "payment_method.detached": {"customer": None},
    "setup_intent.succeeded": {"status": "succeeded", "last_setup_error": None},
    "checkout.session.completed": {"status": "complete"},
}


@functools.cache
def _fixture_text(name: str) -> str:
    # The files are immutable package data; caching the text (not a parsed
    # object) means every caller still gets its own fresh copy.
    return resources.files(__package__).joinpath("stripe_fixtures", f"{name}.json").read_text()


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``overrides`` laid over ``base``: nested mappings merge, anything else replaces."""
    for key, value in overrides.items():
        current = base.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            base[key] = _merge(current, value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def stripe_object(name: str, /, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of Stripe's example ``name`` object, with ``overrides`` laid over it.

    ``name`` is a resource name from :data:`STRIPE_FIXTURE_NAMES` (``"invoice"``,
    ``"payment_intent"``, ...). An override whose value is a mapping merges into
    the nested object of the same name (``metadata={"order_id": "ord_1"}`` keeps
    the other metadata keys); any other value, lists included, replaces it. The
    example values are Stripe's schema-shaped placeholders: override the fields
    your test reads. Raises ``KeyError`` for a name paykit does not ship.
    """
    if name not in STRIPE_FIXTURE_NAMES:
        known = ", ".join(sorted(STRIPE_FIXTURE_NAMES))
        raise KeyError(f"no Stripe example object {name!r}; shipped: {known}")
    obj: dict[str, Any] = json.loads(_fixture_text(name))
    return _merge(obj, overrides)


def _unix(value: int | datetime | None) -> int:
    if value is None:
        return int(time.time())
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("a naive datetime is ambiguous; pass an aware one (UTC)")
        return int(value.timestamp())
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"expected a Unix timestamp (int) or an aware datetime, not {value!r}")
    return value


def stripe_event(
    event_type: str,
    data: Mapping[str, Any] | None = None,
    *,
    # "object" and "id" shadow builtins on purpose: they are Stripe's field names.
    object: Mapping[str, Any] | None = None,
    id: str | None = None,
    created: int | datetime | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
    api_version: str | None = STRIPE_API_VERSION,
    livemode: bool = False,
) -> dict[str, Any]:
    """A Stripe event of type ``event_type``, as a webhook delivers it (a plain ``dict``).

    The event's ``data.object`` starts as ``object`` if given (for example a
    ``GatewaySubscription.raw``, carried as is), else as a fresh copy of
    Stripe's example object for the event's resource, with the fields that say
    what happened set to match ``event_type`` (``invoice.paid`` is a paid
    invoice, ``customer.subscription.deleted`` a canceled subscription, ...).
    ``data`` is then laid over it as in :func:`stripe_object`: the fields your
    test cares about, such as ``{"id": "pi_123", "metadata": {...}}``.

    ``id`` defaults to a fresh ``evt_test_...`` id and ``created`` to now (an
    ``int`` Unix timestamp or an aware ``datetime``). ``previous_attributes``
    becomes ``data.previous_attributes``, as in Stripe's ``*.updated`` events.

    Any type in :data:`STRIPE_EVENT_OBJECTS` (the ones paykit handles) builds
    from the example object; for another type, pass ``object``, or a
    ``ValueError`` says so.
    """
    if object is None:
        resource = STRIPE_EVENT_OBJECTS.get(event_type)
        if resource is None:
            raise ValueError(
                f"no example object for event type {event_type!r}: pass object=..., "
                "or use one of paykit.testing.STRIPE_EVENT_OBJECTS"
            )
        body = stripe_object(resource)
        _merge(body, _EVENT_STATE.get(event_type, {}))
    else:
        body = copy.deepcopy(dict(object))
    if data is not None:
        _merge(body, data)
    event = stripe_object("event")
    event.update(
        id=id if id is not None else f"evt_test_{uuid.uuid4().hex[:24]}",
        type=event_type,
        created=_unix(created),
        api_version=api_version,
        livemode=livemode,
        data={"object": body},
    )
    if previous_attributes is not None:
        event["data"]["previous_attributes"] = copy.deepcopy(dict(previous_attributes))
    return event


def sign_webhook(payload: bytes | str, secret: str, timestamp: int | datetime | None = None) -> str:
    """The ``Stripe-Signature`` header value Stripe sends with ``payload``.

    ``t=<timestamp>,v1=<hex HMAC-SHA256 of "<timestamp>.<payload>" keyed with
    secret>``, exactly as Stripe computes it, so both paykit's
    :func:`paykit.webhooks.verify_event` and stripe-python's
    ``WebhookSignature.verify_header`` accept it. ``payload`` is the exact
    request body (bytes are taken as UTF-8): sign the bytes you then send, not
    a re-serialized copy. ``timestamp`` defaults to now; pass your test
    clock's time (``FrozenClock.now()``) when the verifier uses that clock.
    """
    if isinstance(payload, bytes | bytearray):
        text = bytes(payload).decode("utf-8")
    elif isinstance(payload, str):
        text = payload
    else:
        raise TypeError(f"payload must be the request body as bytes or str, not {payload!r}")
    if not isinstance(secret, str) or not secret:
        raise ValueError("secret must be the endpoint's signing secret (whsec_...)")
    stamp = _unix(timestamp)
    digest = hmac.new(secret.encode("utf-8"), f"{stamp}.{text}".encode(), hashlib.sha256)
    return f"t={stamp},v1={digest.hexdigest()}"


def signed_webhook(
    event: Mapping[str, Any], secret: str, timestamp: int | datetime | None = None
) -> tuple[bytes, str]:
    """``event`` serialized as Stripe sends it, and its ``Stripe-Signature`` header.

    Returns ``(body, header)``, ready for ``paykit.webhooks.handle_webhook(session,
    body, header, ...)`` or for a POST to your own webhook route.
    """
    body = json.dumps(event, separators=(",", ":")).encode("utf-8")
    return body, sign_webhook(body, secret, timestamp)
