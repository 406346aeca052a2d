"""Stripe events and objects as services receive them: unwrap, check, read.

A host may hand ``sync_subscription`` or ``sync_invoice`` a Stripe object (a
dict or a ``stripe.StripeObject``) or a whole event payload; these readers
turn any of them into a neutral snapshot and the event's ``created`` time,
and turn a malformed one into a ``ValidationError`` instead of a crash.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from paykit.errors import PaykitError, ValidationError
from paykit.gateways.base import GatewayInvoice, GatewaySubscription
from paykit.stripe.billing import (
    invoice_from_stripe,
    invoice_subscription_id,
    subscription_from_stripe,
)
from paykit.stripe.objects import timestamp

__all__ = [
    "event_created",
    "event_object",
    "malformed",
    "read_invoice",
    "read_subscription",
    "unwrap",
]


def event_object(event: Mapping[str, Any]) -> dict[str, Any]:
    """The object an event carries (``data.object``)."""
    obj: dict[str, Any] = event["data"]["object"]
    return obj


def event_created(event: Mapping[str, Any]) -> datetime:
    """When Stripe created the event (it orders deliveries of one object)."""
    created = timestamp(event["created"])
    assert created is not None
    return created


def unwrap(obj: Any, expected: str) -> tuple[dict[str, Any], datetime | None]:
    """(the Stripe object, the event's created time or None) from any accepted input."""
    if not isinstance(obj, Mapping) and hasattr(obj, "to_dict"):
        # A stripe.StripeObject since stripe 15; before, it is a dict (and its
        # to_dict is deprecated), so it is read as the Mapping it is.
        obj = obj.to_dict()
    if not isinstance(obj, Mapping):
        raise ValidationError(f"expected a Stripe {expected} object or event payload")
    if obj.get("object") == "event":
        inner = (obj.get("data") or {}).get("object")
        if not isinstance(inner, Mapping) or inner.get("object") != expected:
            raise ValidationError(
                f"event {obj.get('id')} does not carry a {expected}",
                details={"event_id": obj.get("id"), "type": obj.get("type")},
            )
        return dict(inner), timestamp(obj.get("created"))
    if obj.get("object") not in (expected, None):
        raise ValidationError(
            f"expected a Stripe {expected}, got {obj.get('object')!r}",
            details={"object": obj.get("object")},
        )
    return dict(obj), None


@contextmanager
def malformed(expected: str) -> Iterator[None]:
    """A gateway object that is not the shape Stripe sends: a ValidationError, not a crash."""
    try:
        yield
    except PaykitError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        raise ValidationError(
            f"not a well-formed Stripe {expected} ({type(exc).__name__}: {exc})"[:300],
            code="invalid_argument",
        ) from None


def read_subscription(obj: Any) -> tuple[GatewaySubscription, datetime | None]:
    """A subscription snapshot and its event time from a Stripe subscription or event."""
    with malformed("subscription"):
        raw, created = unwrap(obj, "subscription")
        return subscription_from_stripe(raw), created


def read_invoice(obj: Any) -> tuple[GatewayInvoice | None, datetime | None]:
    """An invoice snapshot and its event time from a Stripe invoice or event.

    The snapshot is ``None`` for an invoice that bills no subscription; such an
    invoice is not read further, so a shape paykit never stores cannot fail.
    """
    with malformed("invoice"):
        raw, created = unwrap(obj, "invoice")
        if invoice_subscription_id(raw) is None:
            return None, created
        return invoice_from_stripe(raw), created
