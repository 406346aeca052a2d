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
catches every error with the code. A test scans the source to keep it so, and
``docs/errors.md`` is generated from it (:func:`render_markdown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Final

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


def _registry(*entries: tuple[type[PaykitError], str, str]) -> Mapping[str, ErrorCode]:
    table: dict[str, ErrorCode] = {}
    for error, code, description in entries:
        if code in table:  # pragma: no cover - a programming error, caught on import
            raise RuntimeError(f"error code {code!r} registered twice")
        table[code] = ErrorCode(code, error, description)
    return MappingProxyType(table)


#: Every code paykit raises, by code. ``error`` is the class whose ``except``
#: catches every raise of the code (the raise may be of a subclass).
ERROR_CODES: Final[Mapping[str, ErrorCode]] = _registry(
    (PaykitError, "paykit_error", "An error paykit raised on purpose, with no more precise code."),
    (
        ValidationError,
        "validation_error",
        "The input failed validation; `errors` lists each problem.",
    ),
    (
        ValidationError,
        "invalid_argument",
        "An argument has the wrong type or is out of range; `details['param']` names it.",
    ),
    (
        ValidationError,
        "invalid_value",
        "A value does not fit its database column (too long, too large, a NUL byte).",
    ),
    (
        Conflict,
        "integrity_error",
        "A database constraint refused the change (a duplicate, a missing reference).",
    ),
    (
        ValidationError,
        "invalid_text",
        "A text field is empty, too long or holds control characters.",
    ),
    (ValidationError, "actor_mismatch", "`actor` and `actor_id` name different users."),
    (
        ValidationError,
        "currency_required",
        "A fixed-amount discount was created without a currency.",
    ),
    (
        ValidationError,
        "max_uses_below_current",
        "A discount's `max_uses` would fall below its uses so far.",
    ),
    (ValidationError, "parameter_missing", "A gateway call lacks a parameter it needs."),
    (ValidationError, "price_inactive", "An order line names a deactivated price."),
    (
        ValidationError,
        "price_not_recurring",
        "A subscription was asked for a price that is not recurring.",
    ),
    (ValidationError, "product_not_available", "An order line's product is not published."),
    (ValidationError, "recurring_price", "An order line names a recurring price; use `subscribe`."),
    (
        ValidationError,
        "use_delete_user",
        "A user's status cannot be set to DELETED; call `delete_user`.",
    ),
    (NotFound, "not_found", "A referenced row does not exist (or the actor may not see it)."),
    (NotFound, "unknown_customer", "A gateway customer id matches no paykit user."),
    (NotFound, "unknown_price", "A gateway price id matches no paykit price."),
    (NotFound, "unknown_product", "A gateway price has no paykit product."),
    (NotFound, "unknown_subscription", "A gateway subscription id matches no paykit subscription."),
    (Conflict, "conflict", "The request conflicts with the data as it is now."),
    (Conflict, "product_slug_taken", "Another product has this slug."),
    (Conflict, "stripe_price_id_taken", "Another price mirrors this gateway price id."),
    (Conflict, "discount_code_taken", "Another discount has this code."),
    (
        IdempotencyConflict,
        "idempotency_conflict",
        "An idempotency key was reused with other parameters.",
    ),
    (EmailTaken, "email_taken", "A user with this email address exists."),
    (InvalidState, "invalid_state", "The object's state does not allow the operation."),
    (InvalidState, "customer_not_active", "The customer is suspended or deleted."),
    (InvalidState, "email_already_verified", "The email address is already verified."),
    (InvalidState, "order_cancelled", "The order was cancelled."),
    (InvalidState, "order_not_paid", "The order has no successful payment to refund."),
    (
        InvalidState,
        "refund_not_counted",
        "A refund being reversed is not in the order's refunded amount (a bug, not an input).",
    ),
    (InvalidState, "order_paid", "The order is paid and can no longer change this way."),
    (
        InvalidState,
        "payment_amount_mismatch",
        "The gateway's payment does not match the order's total.",
    ),
    (InvalidState, "user_deleted", "The user is deleted."),
    (InvalidState, "payment_mismatch", "The gateway payment given is not the order's payment."),
    (ValidationError, "gateway_required", "The order has a payment: pass the gateway."),
    (ValidationError, "invalid_password", "The password breaks the password policy."),
    (
        ValidationError,
        "invalid_cursor",
        "A page cursor is malformed or was made for another query.",
    ),
    (ValidationError, "invalid_limit", "A page size outside 1..100."),
    (ValidationError, "invalid_status", "An order status filter that is not an OrderStatus."),
    (ValidationError, "invalid_range", "A date range whose start is after its end."),
    (ValidationError, "invalid_throttle", "A login throttle rule is out of range."),
    (ValidationError, "unknown_invariant", "`check` was asked for an invariant it does not know."),
    (
        ValidationError,
        "amount_too_small",
        "The gateway refuses a payment below the currency's minimum charge.",
    ),
    (
        InvalidAmount,
        "amount_below_minimum",
        "A non-zero total below the currency's minimum charge; `details['minimum']`.",
    ),
    (
        InvalidAmount,
        "amount_too_large",
        "An amount past its database column or past what one payment may be.",
    ),
    (
        Conflict,
        "discount_code_case_collision",
        "Migration 0006: discount codes that differ only in case; rename them first.",
    ),
    (RefundError, "nothing_to_refund", "A free order has no payment to refund."),
    (
        PaykitError,
        "order_not_recorded",
        "place_order failed after its gateway call; nothing was charged or written.",
    ),
    (
        PaykitError,
        "payment_not_recorded",
        "pay_order charged but could not update the order; reconcile completes it.",
    ),
    (
        GatewayError,
        "gateway_amount_mismatch",
        "The gateway kept another amount than the one paykit set on a payment.",
    ),
    (TooManyAttempts, "too_many_attempts", "Too many failed logins; `details['retry_after']`."),
    (PermissionDenied, "permission_denied", "The actor's role or ownership does not allow this."),
    (PermissionDenied, "self_change_forbidden", "Admins cannot change their own role or status."),
    (AuthenticationError, "authentication_failed", "The credentials were not accepted."),
    (AccountDisabled, "account_disabled", "The account is suspended or deleted."),
    (InvalidToken, "invalid_token", "A token is unknown, expired, revoked or used."),
    (MoneyError, "money_error", "An amount or currency cannot be handled exactly."),
    (
        UnsupportedCurrency,
        "unsupported_currency",
        "An unknown currency, or one with three decimals.",
    ),
    (
        CurrencyMismatch,
        "currency_mismatch",
        "Amounts (or a discount, or a gateway price) in different currencies.",
    ),
    (
        InvalidAmount,
        "invalid_amount",
        "Not a valid amount: a float, NaN, negative, too precise or too large.",
    ),
    (DiscountError, "discount_not_applicable", "The discount applies to no item in the order."),
    (DiscountError, "discount_not_found", "No discount has this code."),
    (DiscountError, "discount_inactive", "The discount is switched off."),
    (DiscountError, "discount_not_yet_valid", "The discount's validity has not started."),
    (DiscountError, "discount_expired", "The discount's validity has ended."),
    (DiscountError, "discount_exhausted", "The discount has been used `max_uses` times."),
    (
        DiscountError,
        "discount_customer_limit",
        "The customer has used the discount as often as allowed.",
    ),
    (
        DiscountError,
        "discount_minimum_not_met",
        "The order is below the discount's minimum amount.",
    ),
    (DiscountError, "discount_first_time_only", "The discount is for a customer's first order."),
    (
        InsufficientStock,
        "insufficient_stock",
        "A product has fewer units in stock than were ordered.",
    ),
    (RefundError, "refund_error", "A refund cannot be made."),
    (RefundExceedsPaid, "refund_exceeds_paid", "The refund is more than is still refundable."),
    (PaymentError, "payment_error", "A payment did not go through."),
    (PaymentDeclined, "payment_declined", "The payment method was declined; see `decline_code`."),
    (GatewayError, "gateway_error", "The payment gateway refused or failed a request."),
    (
        GatewayError,
        "charge_already_refunded",
        "The gateway says the payment is already fully refunded.",
    ),
    (
        GatewayError,
        "refund_exceeds_payment",
        "The gateway refused a refund larger than what is left.",
    ),
    (
        GatewayError,
        "missing_payment_method",
        "The gateway customer has no payment method to charge.",
    ),
    (
        GatewayError,
        "payment_intent_unexpected_state",
        "The gateway payment's state does not allow the call.",
    ),
    (
        GatewayError,
        "payment_method_unexpected_state",
        "The payment method's state does not allow the call.",
    ),
    (
        GatewayError,
        "refund_unexpected_state",
        "The gateway refund's state does not allow the call.",
    ),
    (
        GatewayError,
        "subscription_unexpected_state",
        "The gateway subscription's state does not allow the call.",
    ),
    (
        GatewayInvalidRequest,
        "gateway_invalid_request",
        "The gateway refused the request's parameters; see `stripe_code`.",
    ),
    (
        GatewayUnavailable,
        "gateway_unavailable",
        "The gateway could not be reached or is rate limiting; retry.",
    ),
    (
        GatewayUnavailable,
        "gateway_timeout",
        "The outcome at the gateway is unknown; retry with the same key.",
    ),
    (WebhookError, "webhook_error", "A webhook delivery cannot be accepted."),
    (WebhookError, "webhook_payload_invalid", "The webhook body is not a Stripe event."),
    (InvalidSignature, "invalid_signature", "The webhook signature does not verify."),
    (InvalidSignature, "webhook_secret_missing", "No webhook signing secret is configured."),
    (
        InvalidSignature,
        "webhook_timestamp_out_of_tolerance",
        "The webhook's timestamp is too old or too new.",
    ),
    (
        ConfigurationError,
        "configuration_error",
        "paykit is misconfigured (a database URL, a missing key).",
    ),
    (
        ConfigurationError,
        "webhook_tolerance_invalid",
        "The webhook tolerance is not None or a whole number of seconds >= 0.",
    ),
    (
        ConfigurationError,
        "unsupported_database",
        "The database URL names a database other than SQLite or PostgreSQL.",
    ),
    (
        ConfigurationError,
        "database_driver_missing",
        "The database driver (or libpq) cannot be loaded; `details['hint']` says what to install.",
    ),
    (
        ConfigurationError,
        "encryption_not_configured",
        "Encrypted data needs a keyring; none is configured.",
    ),
    (ConfigurationError, "stripe_api_key_missing", "StripeGateway was made without an API key."),
    (ConfigurationError, "stripe_authentication_failed", "Stripe refused the API key."),
    (
        DecryptionError,
        "decryption_failed",
        "An encrypted value was tampered with or its key is gone.",
    ),  # reviews, downloads, configuration, support (the read side)
    (Conflict, "review_exists", "The user has already reviewed this product."),
    (ValidationError, "invalid_rating", "A rating is not a whole number of stars from 1 to 5."),
    (PermissionDenied, "own_review", "Nobody votes for their own review."),
    (ValidationError, "not_downloadable", "The product has no file to download."),
    (InvalidState, "download_not_paid", "The order of this item is not paid."),
    (PermissionDenied, "download_refunded", "The order was refunded in full: no more downloads."),
    (PermissionDenied, "download_link_invalid", "The download link is altered or unknown."),
    (PermissionDenied, "download_link_expired", "The download link has expired."),
    (PermissionDenied, "download_access_expired", "Access to this item's download has ended."),
    (PermissionDenied, "download_limit_reached", "The product's download limit is used up."),
    (NotFound, "unknown_config_key", "No configuration key of that name is registered."),
    (ValidationError, "invalid_config_value", "The value does not fit the key's type."),
    (
        ConfigurationError,
        "stored_config_invalid",
        "A stored configuration value no longer fits its key's type.",
    ),
    (InvalidState, "invalid_ticket_transition", "The ticket cannot move to that status."),
    (ValidationError, "invalid_assignee", "Tickets are assigned to active staff only."),
    # The catalog read side (paykit.services.catalog).
    (ValidationError, "invalid_sort", "A listing's `sort` is not one it offers."),
    (ValidationError, "invalid_search", "A search text that is empty, has no word or is too long."),
    (ValidationError, "invalid_price_range", "A price filter whose minimum is above its maximum."),
    (Conflict, "category_slug_taken", "Another category has this slug."),
    (InvalidState, "category_cycle", "A category cannot move under itself or its descendants."),
)


def is_registered(code: object) -> bool:
    """Whether ``code`` is one of :data:`ERROR_CODES`."""
    return isinstance(code, str) and code in ERROR_CODES


def render_markdown() -> str:
    """``docs/errors.md``: the registry as a Markdown table, grouped by class."""
    lines = [
        "# Error codes",
        "",
        "<!-- Generated from paykit.errors.ERROR_CODES; do not edit by hand. Regenerate with",
        "     python -c 'import paykit.errors as e; print(e.render_markdown(), end=\"\")' \\",
        "         > docs/errors.md",
        "     (a test fails when this file and the registry differ). -->",
        "",
        "Every error paykit raises on purpose is a `paykit.errors.PaykitError` with a stable",
        "`.code` and an `.http_status`. Each code below belongs to one class: every error with",
        "the code is an instance of that class (or of a subclass), so `except` on the class",
        "catches it. Codes are part of the public API: a code is never renamed or reused.",
        "",
        "StripeGateway keeps a code Stripe sends only when it is in this table; any other",
        "Stripe refusal is `gateway_invalid_request`, with Stripe's code in",
        '`details["stripe_code"]`.',
        "",
        "| code | class | HTTP | meaning |",
        "|---|---|---|---|",
    ]
    for entry in ERROR_CODES.values():
        lines.append(
            f"| `{entry.code}` | `{entry.error.__name__}` | {entry.http_status} "
            f"| {entry.description} |"
        )
    return "\n".join(lines) + "\n"
