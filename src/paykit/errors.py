"""Every error paykit raises on purpose.

Each error carries a stable string ``code`` (part of the public API: adapters
and host applications switch on it) and an ``http_status`` that a web adapter
can return as is. ``details`` holds structured, JSON-safe context.

The tree::

    PaykitError                         paykit_error              http 400
    ├── ValidationError                 validation_error          422
    ├── NotFound                        not_found                 404
    ├── Conflict                        conflict                  409
    │   ├── IdempotencyConflict         idempotency_conflict      409
    │   ├── EmailTaken                  email_taken               409
    │   └── InvalidState                invalid_state             409
    ├── PermissionDenied                permission_denied         403
    ├── AuthenticationError             authentication_failed     401
    │   ├── AccountDisabled             account_disabled          403
    │   └── InvalidToken                invalid_token             401
    ├── MoneyError                      money_error               422
    │   ├── UnsupportedCurrency         unsupported_currency      422
    │   ├── CurrencyMismatch            currency_mismatch         422
    │   └── InvalidAmount               invalid_amount            422
    ├── DiscountError                   discount_not_applicable   422
    │                                   (and the discount_* codes below)
    │   └── DiscountCurrencyMismatch    currency_mismatch         422  (also a CurrencyMismatch)
    ├── InsufficientStock               insufficient_stock        409
    ├── RefundError                     refund_error              422
    │   └── RefundExceedsPaid           refund_exceeds_paid       422
    ├── PaymentError                    payment_error             402
    │   └── PaymentDeclined             payment_declined          402
    ├── GatewayError                    gateway_error             502
    │   ├── GatewayUnavailable          gateway_unavailable       503
    │   ├── GatewayInvalidRequest       gateway_invalid_request   502  (also a ValidationError)
    │   └── GatewayCurrencyMismatch     currency_mismatch         422  (also a CurrencyMismatch)
    ├── WebhookError                    webhook_error             400
    │   └── InvalidSignature            invalid_signature         400
    ├── ConfigurationError              configuration_error       500
    ├── DecryptionError                 decryption_failed         500
    └── TooManyAttempts                 too_many_attempts         429

``DiscountError`` codes: ``discount_not_found``, ``discount_inactive``,
``discount_not_yet_valid``, ``discount_expired``, ``discount_exhausted``,
``discount_customer_limit``, ``discount_minimum_not_met``,
``discount_first_time_only``, ``discount_not_applicable`` and
``currency_mismatch``.

``AuthenticationError`` is deliberately vague: a wrong password, an unknown
email and a malformed email all give ``authentication_failed``; only a caller
who proved the password learns that the account is disabled
(``AccountDisabled``). ``InvalidToken`` covers unknown, expired, revoked and
already-used session, email-verification and password-reset tokens.

Every code paykit raises is in :data:`ERROR_CODES`, with the one class that
raises it (or a subclass of that class), so ``except`` on the registered class
catches every error with the code. The table itself is data in
:mod:`paykit._error_codes` (add a code there); a test scans the source to keep
it true, and ``docs/errors.md`` is generated from it (:func:`render_markdown`).
This module imports nothing beyond the standard library and that table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Final

from paykit import _error_codes
from paykit._error_codes import CODES

__all__ = [
    "ERROR_CODES",
    "AccountDisabled",
    "AuthenticationError",
    "ConfigurationError",
    "Conflict",
    "CurrencyMismatch",
    "DecryptionError",
    "DiscountCurrencyMismatch",
    "DiscountError",
    "EmailTaken",
    "ErrorCode",
    "GatewayCurrencyMismatch",
    "GatewayError",
    "GatewayInvalidRequest",
    "GatewayUnavailable",
    "IdempotencyConflict",
    "InsufficientStock",
    "InvalidAmount",
    "InvalidSignature",
    "InvalidState",
    "InvalidToken",
    "MoneyError",
    "NotFound",
    "PaykitError",
    "PaymentDeclined",
    "PaymentError",
    "PermissionDenied",
    "RefundError",
    "RefundExceedsPaid",
    "TooManyAttempts",
    "UnsupportedCurrency",
    "ValidationError",
    "WebhookError",
    "is_registered",
    "render_markdown",
]


class PaykitError(Exception):
    """Base of every error paykit raises on purpose.

    ``code`` is a stable machine-readable string, ``http_status`` the status a
    web adapter should answer with, ``details`` JSON-safe context.
    """

    default_code: ClassVar[str] = "paykit_error"
    http_status: ClassVar[int] = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code: str = code or self.default_code
        self.details: dict[str, Any] = dict(details or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe body for an HTTP error response."""
        return {"error": {"code": self.code, "message": self.message, **self.details}}


class ValidationError(PaykitError, ValueError):
    """Input failed validation (bad shape, wrong type, out-of-range value).

    Also a ``ValueError``, so code written against the standard library's
    convention (``except ValueError``) catches it too.
    """

    default_code = "validation_error"
    http_status = 422

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        merged = dict(details or {})
        if errors is not None:
            merged["errors"] = errors
        super().__init__(message, code=code, details=merged)
        self.errors: list[dict[str, Any]] = list(errors or [])


class NotFound(PaykitError):
    """A referenced row (user, product, order, ...) does not exist."""

    default_code = "not_found"
    http_status = 404


class Conflict(PaykitError):
    """The request conflicts with the current state of the data."""

    default_code = "conflict"
    http_status = 409


class IdempotencyConflict(Conflict):
    """An idempotency key was reused with different parameters."""

    default_code = "idempotency_conflict"


class EmailTaken(Conflict):
    """A user with this email address already exists."""

    default_code = "email_taken"


class InvalidState(Conflict):
    """The operation is not allowed in the object's current state."""

    default_code = "invalid_state"


class PermissionDenied(PaykitError):
    """The actor's role does not allow this operation."""

    default_code = "permission_denied"
    http_status = 403


class AuthenticationError(PaykitError):
    """Credentials or a session token were not accepted."""

    default_code = "authentication_failed"
    http_status = 401


class MoneyError(PaykitError):
    """An amount or currency cannot be handled exactly."""

    default_code = "money_error"
    http_status = 422


class UnsupportedCurrency(MoneyError):
    """An unknown currency, or one paykit's two-decimal schema cannot store."""

    default_code = "unsupported_currency"


class CurrencyMismatch(MoneyError):
    """Amounts in different currencies were combined."""

    default_code = "currency_mismatch"


class InvalidAmount(MoneyError):
    """An amount is not a valid money value (a float, NaN, negative, too precise)."""

    default_code = "invalid_amount"


class DiscountError(PaykitError):
    """A discount code was refused; ``code`` says why (see the module docstring)."""

    default_code = "discount_not_applicable"
    http_status = 422


class InsufficientStock(PaykitError):
    """A product that tracks inventory has fewer units than were asked for."""

    default_code = "insufficient_stock"
    http_status = 409


class RefundError(PaykitError):
    """A refund cannot be made."""

    default_code = "refund_error"
    http_status = 422


class RefundExceedsPaid(RefundError):
    """The refund asked for is more than is still refundable."""

    default_code = "refund_exceeds_paid"


class PaymentError(PaykitError):
    """A payment did not go through."""

    default_code = "payment_error"
    http_status = 402


class PaymentDeclined(PaymentError):
    """The payment method was declined; ``decline_code`` says why."""

    default_code = "payment_declined"

    def __init__(
        self,
        message: str,
        *,
        decline_code: str | None = None,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        merged.setdefault("decline_code", decline_code)
        super().__init__(message, code=code, details=merged)
        self.decline_code = decline_code


class GatewayError(PaykitError):
    """The payment gateway refused or failed a request."""

    default_code = "gateway_error"
    http_status = 502
    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        details: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        merged = dict(details or {})
        if request_id is not None:
            merged["request_id"] = request_id
        super().__init__(message, code=code, details=merged)
        self.request_id = request_id


class GatewayUnavailable(GatewayError):
    """The gateway could not be reached or is rate limiting; safe to retry."""

    default_code = "gateway_unavailable"
    http_status = 503
    retryable = True


class WebhookError(PaykitError):
    """A webhook delivery cannot be accepted."""

    default_code = "webhook_error"
    http_status = 400


class InvalidSignature(WebhookError):
    """A webhook's signature or timestamp did not verify."""

    default_code = "invalid_signature"


class ConfigurationError(PaykitError):
    """paykit is misconfigured (a missing key, an unusable database URL)."""

    default_code = "configuration_error"
    http_status = 500


class DiscountCurrencyMismatch(DiscountError, CurrencyMismatch):
    """A discount's amount is in another currency than the order it is applied to.

    Both a :class:`DiscountError` (a refused discount code) and a
    :class:`CurrencyMismatch`, so either ``except`` clause catches it.
    """

    default_code = "currency_mismatch"
    http_status = 422


class AccountDisabled(AuthenticationError):
    """The credentials were right, but the account is SUSPENDED or DELETED."""

    default_code = "account_disabled"
    http_status = 403


class InvalidToken(AuthenticationError):
    """A session, email-verification or password-reset token is unknown, expired or used."""

    default_code = "invalid_token"


class DecryptionError(PaykitError):
    """An encrypted value could not be decrypted: tampered, or under a key not configured."""

    default_code = "decryption_failed"
    http_status = 500


class TooManyAttempts(PaykitError):
    """Too many failed logins for this e-mail address or IP address; try again later.

    ``details["retry_after"]`` is the number of seconds until the next attempt
    is allowed (an adapter sends it as the ``Retry-After`` header). Unknown and
    known addresses are throttled alike, so the error reveals nothing about
    which accounts exist.
    """

    default_code = "too_many_attempts"
    http_status = 429


class GatewayInvalidRequest(GatewayError, ValidationError):
    """The gateway refused a request's parameters (Stripe's ``invalid_request_error``).

    Also a :class:`ValidationError`, so the codes it shares with paykit's own
    input checks (``price_not_recurring``) are caught by one ``except``.
    """

    default_code = "gateway_invalid_request"


class GatewayCurrencyMismatch(GatewayError, CurrencyMismatch):
    """The gateway refused to combine two currencies (a price and a subscription)."""

    default_code = "currency_mismatch"
    http_status = 422


@dataclass(frozen=True)
class ErrorCode:
    """One registered code: the class that raises it and what it means."""

    code: str
    error: type[PaykitError]
    description: str

    @property
    def http_status(self) -> int:
        """The status a web adapter answers with (the registered class's)."""
        return self.error.http_status


def _registry() -> Mapping[str, ErrorCode]:
    classes = {
        name: obj
        for name, obj in globals().items()
        if isinstance(obj, type) and issubclass(obj, PaykitError)
    }
    table: dict[str, ErrorCode] = {}
    for name, code, description in CODES:
        if code in table:  # pragma: no cover - a programming error, caught on import
            raise RuntimeError(f"error code {code!r} registered twice")
        table[code] = ErrorCode(code, classes[name], description)
    return MappingProxyType(table)


#: Every code paykit raises, by code (the rows of :data:`paykit._error_codes.CODES`).
#: ``error`` is the class whose ``except`` catches every raise of the code.
ERROR_CODES: Final[Mapping[str, ErrorCode]] = _registry()


def is_registered(code: object) -> bool:
    """Whether ``code`` is one of :data:`ERROR_CODES`."""
    return isinstance(code, str) and code in ERROR_CODES


def render_markdown() -> str:
    """``docs/errors.md``: the registry as a Markdown table."""
    return _error_codes.render_markdown(
        (e.code, e.error.__name__, e.http_status, e.description) for e in ERROR_CODES.values()
    )
