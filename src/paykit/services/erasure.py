"""Erasure: a deleted user's personal data, removed from every copy paykit keeps.

:func:`paykit.services.users.delete_user` erases the user row itself and calls
:func:`erase_copies` for the copies: saved payment methods (their billing
details are the card holder's name, e-mail, phone and address) are deleted,
and the stored webhook payloads that concern the user are redacted in place.

A payload concerns the user when its text names their gateway customer id,
their e-mail address, one of their payment methods or one of their orders'
payments. In such a payload every value under a personal key
(:data:`PERSONAL_KEYS`, and ``name`` on customer objects) becomes ``None``,
and every other string containing one of the user's personal values becomes
:data:`REDACTED`. Ids, amounts, statuses and times stay, so reconciliation
and replays still work. The scan reads the webhook inbox once per deletion.

What stays, by design, is listed in :data:`RETAINED_AFTER_ERASURE`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.models import Order, PaymentMethod, User, WebhookEvent
from paykit.security.rls import system_scope

__all__ = [
    "PERSONAL_KEYS",
    "REDACTED",
    "RETAINED_AFTER_ERASURE",
    "ErasureResult",
    "erase_copies",
    "personal_values",
    "redact",
]

#: What a redacted string becomes.
REDACTED = "[redacted]"
#: Keys whose values are personal data wherever they appear in a gateway payload.
PERSONAL_KEYS = frozenset(
    {
        "email",
        "phone",
        "address",
        "shipping",
        "billing_details",
        "receipt_email",
        "customer_email",
        "customer_name",
        "customer_phone",
        "customer_address",
        "customer_shipping",
        "customer_tax_ids",
        "tax_id",
    }
)
#: Columns that keep a deleted user's data, and why (docs/security.md).
RETAINED_AFTER_ERASURE: Mapping[tuple[str, str], str] = {
    ("orders", "billing_address"): "bookkeeping and tax law: an invoice names its buyer",
    ("orders", "shipping_address"): "bookkeeping: where goods that were paid for went",
}
# Shorter values (country and state codes) identify no one and match everywhere.
_MIN_VALUE_LENGTH = 4
_ADDRESS_PARTS = ("line1", "line2", "postal_code", "name")


@dataclass(frozen=True, slots=True)
class ErasureResult:
    """What :func:`erase_copies` removed."""

    payment_methods_deleted: int
    webhook_events_redacted: int


def _address_values(address: object) -> list[str]:
    if not isinstance(address, Mapping):
        return []
    return [str(address[k]) for k in _ADDRESS_PARTS if address.get(k)]


def personal_values(user: User, methods: Iterable[PaymentMethod] = ()) -> frozenset[str]:
    """The user's personal strings (names, e-mail, phone, tax id, address lines),
    lower-cased, from the user row and the billing details of ``methods``."""
    values: list[str] = [
        str(v)
        for v in (user.email, user.name, user.first_name, user.last_name, user.phone, user.tax_id)
        if v
    ]
    values += _address_values(user.billing_address)
    for method in methods:
        details = method.billing_details if isinstance(method.billing_details, Mapping) else {}
        values += [str(details[k]) for k in ("name", "email", "phone") if details.get(k)]
        values += _address_values(details.get("address"))
    return frozenset(v.lower() for v in values if len(v) >= _MIN_VALUE_LENGTH)


def _matcher(values: frozenset[str]) -> re.Pattern[str] | None:
    if not values:
        return None
    # Whole words only: "zelda" must not redact the id "pm_zelda".
    alternatives = "|".join(re.escape(v) for v in sorted(values, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def redact(value: Any, values: frozenset[str]) -> Any:
    """``value`` with personal keys set to ``None`` and strings holding ``values`` redacted.

    Ids (the ``id`` key) are kept whatever they contain: they are what
    reconciliation and replays need.
    """
    return _redact(value, _matcher(values))


def _redact(value: Any, matcher: re.Pattern[str] | None) -> Any:
    if isinstance(value, Mapping):
        customer = value.get("object") == "customer"
        return {
            key: None
            if item is not None and (key in PERSONAL_KEYS or (key == "name" and customer))
            else item
            if key == "id"
            else _redact(item, matcher)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redact(item, matcher) for item in value]
    if isinstance(value, str) and matcher is not None and matcher.search(value):
        return REDACTED
    return value


def _needles(session: Session, user: User, methods: Iterable[PaymentMethod]) -> list[str]:
    intents = session.scalars(
        sa.select(Order.stripe_payment_intent_id).where(
            Order.user_id == user.id, Order.stripe_payment_intent_id.is_not(None)
        )
    )
    found = [user.stripe_customer_id, user.email, *(m.stripe_payment_method_id for m in methods)]
    return [n.lower() for n in (*found, *intents) if n]


def erase_copies(session: Session, user: User) -> ErasureResult:
    """Delete the user's payment methods and redact the webhook payloads about them.

    Call before the user row itself is erased (the personal values and the
    e-mail address are what the payloads are searched for). Runs with SYSTEM
    visibility under row-level security; flushes, never commits.
    """
    with system_scope(session):
        methods = list(
            session.scalars(sa.select(PaymentMethod).where(PaymentMethod.user_id == user.id))
        )
        matcher = _matcher(personal_values(user, methods))
        needles = _needles(session, user, methods)
        text = sa.func.lower(sa.cast(WebhookEvent.payload, sa.Text()))
        redacted = 0
        if needles:
            events = session.execute(
                sa.select(WebhookEvent.id, WebhookEvent.payload, WebhookEvent.last_error).where(
                    sa.or_(*(text.contains(n, autoescape=True) for n in needles))
                )
            ).all()
            for event_id, payload, last_error in events:
                clean = _redact(payload, matcher)
                error = _redact(last_error, matcher)
                if clean != payload or error != last_error:
                    session.execute(
                        sa.update(WebhookEvent)
                        .where(WebhookEvent.id == event_id)
                        .values(payload=clean, last_error=error)
                    )
                    redacted += 1
        for method in methods:
            session.delete(method)
        session.flush()
    return ErasureResult(len(methods), redacted)
