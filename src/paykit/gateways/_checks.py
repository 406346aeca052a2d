"""Argument checks every gateway makes before it acts (Stripe's own limits).

Shared by FakeGateway and StripeGateway so that both refuse the same input
the same way, before any request leaves the process.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

from paykit.errors import ValidationError
from paykit.gateways.base import STRIPE_REFUND_REASONS
from paykit.money import MINIMUM_CHARGES, to_minor_units

__all__ = [
    "MAX_AMOUNT",
    "check_amount",
    "check_choice",
    "check_confirm_method",
    "check_count",
    "check_currency",
    "check_email",
    "check_key",
    "check_metadata",
    "check_minimum",
    "check_refund_reason",
]

#: Stripe's largest amount in minor units (eight digits).
MAX_AMOUNT: Final = 99_999_999


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip():
        raise ValidationError("idempotency_key must be a non-empty string")
    if len(key) > 255:
        raise ValidationError("idempotency_key is longer than 255 characters")
    return key


def check_amount(value: object, param: str = "amount_minor", *, minimum: int = 1) -> int:
    # bool is an int subclass; True as an amount is always a bug.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(
            f"{param} must be an integer number of minor units", details={"param": param}
        )
    if not minimum <= value <= MAX_AMOUNT:
        raise ValidationError(
            f"{param} must be between {minimum} and {MAX_AMOUNT}",
            details={"param": param, "value": value},
        )
    return value


def check_currency(value: object) -> str:
    if not isinstance(value, str) or len(value) != 3 or not value.isascii() or not value.isalpha():
        raise ValidationError(
            "currency must be a three-letter ISO 4217 code", details={"param": "currency"}
        )
    return value.upper()


def check_metadata(value: Mapping[str, str] | None) -> dict[str, str]:
    metadata = dict(value or {})
    if len(metadata) > 50:
        raise ValidationError("metadata has more than 50 keys", details={"param": "metadata"})
    for key, item in metadata.items():
        if not isinstance(key, str) or not isinstance(item, str):
            raise ValidationError(
                "metadata keys and values must be strings", details={"param": "metadata"}
            )
        if len(key) > 40 or len(item) > 500:
            raise ValidationError(
                "metadata keys are at most 40 characters and values at most 500",
                details={"param": "metadata", "key": key},
            )
    return metadata


def check_count(value: object, param: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(f"{param} must be a positive integer", details={"param": param})
    return value


def check_minimum(amount_minor: int, currency: str) -> None:
    """Refuse a charge below the currency's minimum, as Stripe does (``amount_too_small``)."""
    minimum = MINIMUM_CHARGES.get(currency.upper())
    if minimum is not None and amount_minor < to_minor_units(minimum, currency.upper()):
        raise ValidationError(
            f"Amount must be at least {minimum} {currency.lower()}",
            code="amount_too_small",
            details={"param": "amount", "minimum": str(minimum)},
        )


def check_choice(value: object, param: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else ``ValidationError`` (``invalid_argument``)."""
    allowed = tuple(choices)
    if not isinstance(value, str) or value not in allowed:
        raise ValidationError(
            f"{param} must be one of {', '.join(allowed)}",
            code="invalid_argument",
            details={"param": param},
        )
    return value


def check_email(email: object) -> str:
    """A customer's ``email``: anything with an ``@`` in it, as Stripe checks it."""
    if not isinstance(email, str) or "@" not in email:
        raise ValidationError("email must be an email address", details={"param": "email"})
    return email


def check_refund_reason(reason: str | None) -> str | None:
    """A refund's ``reason``: ``None`` or one of Stripe's reasons."""
    if reason is not None and reason not in STRIPE_REFUND_REASONS:
        raise ValidationError(
            f"reason must be one of {sorted(STRIPE_REFUND_REASONS)} or None",
            details={"param": "reason", "value": reason},
        )
    return reason


def check_confirm_method(confirm: bool, payment_method_id: str | None) -> None:
    """``confirm=True`` needs a payment method to charge (``parameter_missing``)."""
    if confirm and payment_method_id is None:
        raise ValidationError(
            "confirm=True needs a payment_method_id",
            code="parameter_missing",
            details={"param": "payment_method_id"},
        )
