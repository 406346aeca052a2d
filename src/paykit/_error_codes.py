"""The registry of error codes: every code paykit raises, its class and its meaning.

Data only, so that :mod:`paykit.errors` (which builds ``ERROR_CODES`` from it
and keeps the classes) stays short and this table is the one place a code is
added. Each row names the class whose ``except`` catches every raise of the
code (the raise may be of a subclass). ``docs/errors.md`` is generated from it
by :func:`render_markdown`; a test scans the source to keep the rows true.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

__all__ = ["CODES", "render_markdown"]

#: (class name in paykit.errors, code, description), in the order docs/errors.md lists them.
CODES: Final[tuple[tuple[str, str, str], ...]] = (
    (
        "PaykitError",
        "paykit_error",
        "An error paykit raised on purpose, with no more precise code.",
    ),
    (
        "ValidationError",
        "validation_error",
        "The input failed validation; `errors` lists each problem.",
    ),
    (
        "ValidationError",
        "invalid_argument",
        "An argument has the wrong type or is out of range; `details['param']` names it.",
    ),
    (
        "ValidationError",
        "invalid_value",
        "A value does not fit its database column (too long, too large, a NUL byte).",
    ),
    (
        "Conflict",
        "integrity_error",
        "A database constraint refused the change (a duplicate, a missing reference).",
    ),
    (
        "ValidationError",
        "invalid_text",
        "A text field is empty, too long or holds control characters.",
    ),
    ("ValidationError", "actor_mismatch", "`actor` and `actor_id` name different users."),
    (
        "ValidationError",
        "currency_required",
        "A fixed-amount discount was created without a currency.",
    ),
    (
        "ValidationError",
        "max_uses_below_current",
        "A discount's `max_uses` would fall below its uses so far.",
    ),
    ("ValidationError", "parameter_missing", "A gateway call lacks a parameter it needs."),
    ("ValidationError", "price_inactive", "An order line names a deactivated price."),
    (
        "ValidationError",
        "price_not_recurring",
        "A subscription was asked for a price that is not recurring.",
    ),
    (
        "ValidationError",
        "proration_outside_period",
        "A proration was asked for a time outside the subscription's current period.",
    ),
    (
        "ValidationError",
        "subscription_item_ambiguous",
        "A change names no item of a subscription that has several.",
    ),
    (
        "ValidationError",
        "subscription_not_changeable",
        "The subscription's status (cancelled, incomplete, unpaid) does not allow the change.",
    ),
    (
        "ValidationError",
        "subscription_currency_mismatch",
        "A subscription was asked to change to a price in another currency.",
    ),
    ("ValidationError", "product_not_available", "An order line's product is not published."),
    (
        "ValidationError",
        "recurring_price",
        "An order line names a recurring price; use `subscribe`.",
    ),
    (
        "ValidationError",
        "use_delete_user",
        "A user's status cannot be set to DELETED; call `delete_user`.",
    ),
    ("NotFound", "not_found", "A referenced row does not exist (or the actor may not see it)."),
    ("NotFound", "unknown_customer", "A gateway customer id matches no paykit user."),
    ("NotFound", "unknown_price", "A gateway price id matches no paykit price."),
    ("NotFound", "unknown_product", "A gateway price has no paykit product."),
    (
        "NotFound",
        "unknown_subscription",
        "A gateway subscription id matches no paykit subscription.",
    ),
    ("Conflict", "conflict", "The request conflicts with the data as it is now."),
    ("Conflict", "product_slug_taken", "Another product has this slug."),
    ("Conflict", "stripe_price_id_taken", "Another price mirrors this gateway price id."),
    ("Conflict", "discount_code_taken", "Another discount has this code."),
    (
        "Conflict",
        "invoice_number_taken",
        "Another gateway invoice already holds this invoice number; nothing was written.",
    ),
    (
        "IdempotencyConflict",
        "idempotency_conflict",
        "An idempotency key was reused with other parameters.",
    ),
    ("EmailTaken", "email_taken", "A user with this email address exists."),
    ("InvalidState", "invalid_state", "The object's state does not allow the operation."),
    ("InvalidState", "customer_not_active", "The customer is suspended or deleted."),
    ("InvalidState", "email_already_verified", "The email address is already verified."),
    ("InvalidState", "order_cancelled", "The order was cancelled."),
    ("InvalidState", "order_not_paid", "The order has no successful payment to refund."),
    (
        "InvalidState",
        "refund_not_counted",
        "A refund being reversed is not in the order's refunded amount (a bug, not an input).",
    ),
    ("InvalidState", "order_paid", "The order is paid and can no longer change this way."),
    (
        "InvalidState",
        "payment_amount_mismatch",
        "The gateway's payment does not match the order's total.",
    ),
    ("InvalidState", "user_deleted", "The user is deleted."),
    ("InvalidState", "payment_mismatch", "The gateway payment given is not the order's payment."),
    ("ValidationError", "gateway_required", "The order has a payment: pass the gateway."),
    ("ValidationError", "invalid_password", "The password breaks the password policy."),
    (
        "ValidationError",
        "invalid_cursor",
        "A page cursor is malformed or was made for another query.",
    ),
    ("ValidationError", "invalid_limit", "A page size outside 1..100."),
    ("ValidationError", "invalid_status", "An order status filter that is not an OrderStatus."),
    ("ValidationError", "invalid_range", "A date range whose start is after its end."),
    ("ValidationError", "invalid_throttle", "A login throttle rule is out of range."),
    (
        "ValidationError",
        "day_in_future",
        "An analytics day after the clock's current UTC day: it has no figures yet.",
    ),
    (
        "ValidationError",
        "unknown_invariant",
        "`check` was asked for an invariant it does not know.",
    ),
    (
        "ValidationError",
        "amount_too_small",
        "The gateway refuses a payment below the currency's minimum charge.",
    ),
    (
        "InvalidAmount",
        "amount_below_minimum",
        "A non-zero total below the currency's minimum charge; `details['minimum']`.",
    ),
    (
        "InvalidAmount",
        "amount_too_large",
        "An amount past its database column or past what one payment may be.",
    ),
    (
        "Conflict",
        "discount_code_case_collision",
        "Migration 0006: discount codes that differ only in case; rename them first.",
    ),
    ("RefundError", "nothing_to_refund", "A free order has no payment to refund."),
    (
        "PaykitError",
        "order_not_recorded",
        "place_order failed after its gateway call; nothing was charged or written.",
    ),
    (
        "PaykitError",
        "payment_not_recorded",
        "pay_order charged but could not update the order; reconcile completes it.",
    ),
    (
        "GatewayError",
        "gateway_amount_mismatch",
        "The gateway kept another amount than the one paykit set on a payment.",
    ),
    ("TooManyAttempts", "too_many_attempts", "Too many failed logins; `details['retry_after']`."),
    ("PermissionDenied", "permission_denied", "The actor's role or ownership does not allow this."),
    ("PermissionDenied", "self_change_forbidden", "Admins cannot change their own role or status."),
    ("AuthenticationError", "authentication_failed", "The credentials were not accepted."),
    ("AccountDisabled", "account_disabled", "The account is suspended or deleted."),
    ("InvalidToken", "invalid_token", "A token is unknown, expired, revoked or used."),
    ("MoneyError", "money_error", "An amount or currency cannot be handled exactly."),
    (
        "UnsupportedCurrency",
        "unsupported_currency",
        "An unknown currency, or one with three decimals.",
    ),
    (
        "CurrencyMismatch",
        "currency_mismatch",
        "Amounts (or a discount, or a gateway price) in different currencies.",
    ),
    (
        "InvalidAmount",
        "invalid_amount",
        "Not a valid amount: a float, NaN, negative, too precise or too large.",
    ),
    ("DiscountError", "discount_not_applicable", "The discount applies to no item in the order."),
    ("DiscountError", "discount_not_found", "No discount has this code."),
    ("DiscountError", "discount_inactive", "The discount is switched off."),
    ("DiscountError", "discount_not_yet_valid", "The discount's validity has not started."),
    ("DiscountError", "discount_expired", "The discount's validity has ended."),
    ("DiscountError", "discount_exhausted", "The discount has been used `max_uses` times."),
    (
        "DiscountError",
        "discount_customer_limit",
        "The customer has used the discount as often as allowed.",
    ),
    (
        "DiscountError",
        "discount_minimum_not_met",
        "The order is below the discount's minimum amount.",
    ),
    ("DiscountError", "discount_first_time_only", "The discount is for a customer's first order."),
    (
        "InsufficientStock",
        "insufficient_stock",
        "A product has fewer units in stock than were ordered.",
    ),
    ("RefundError", "refund_error", "A refund cannot be made."),
    ("RefundExceedsPaid", "refund_exceeds_paid", "The refund is more than is still refundable."),
    ("PaymentError", "payment_error", "A payment did not go through."),
    ("PaymentDeclined", "payment_declined", "The payment method was declined; see `decline_code`."),
    ("GatewayError", "gateway_error", "The payment gateway refused or failed a request."),
    (
        "GatewayError",
        "charge_already_refunded",
        "The gateway says the payment is already fully refunded.",
    ),
    (
        "GatewayError",
        "refund_exceeds_payment",
        "The gateway refused a refund larger than what is left.",
    ),
    (
        "GatewayError",
        "missing_payment_method",
        "The gateway customer has no payment method to charge.",
    ),
    (
        "GatewayError",
        "payment_intent_unexpected_state",
        "The gateway payment's state does not allow the call.",
    ),
    (
        "GatewayError",
        "payment_method_unexpected_state",
        "The payment method's state does not allow the call.",
    ),
    (
        "GatewayError",
        "invoice_unexpected_state",
        "The invoice's state does not allow the call (paying a paid one, voiding a void one).",
    ),
    (
        "GatewayError",
        "invoice_payment_intent_requires_action",
        "Paying the invoice needs the customer to authenticate (3-D Secure).",
    ),
    (
        "GatewayError",
        "setup_intent_unexpected_state",
        "The SetupIntent's state does not allow the call.",
    ),
    (
        "GatewayError",
        "checkout_session_unexpected_state",
        "The checkout session's state does not allow the call.",
    ),
    (
        "GatewayError",
        "refund_unexpected_state",
        "The gateway refund's state does not allow the call.",
    ),
    (
        "GatewayError",
        "subscription_unexpected_state",
        "The gateway subscription's state does not allow the call.",
    ),
    (
        "GatewayInvalidRequest",
        "gateway_invalid_request",
        "The gateway refused the request's parameters; see `stripe_code`.",
    ),
    (
        "GatewayUnavailable",
        "gateway_unavailable",
        "The gateway could not be reached or is rate limiting; retry.",
    ),
    (
        "GatewayUnavailable",
        "gateway_timeout",
        "The outcome at the gateway is unknown; retry with the same key.",
    ),
    ("WebhookError", "webhook_error", "A webhook delivery cannot be accepted."),
    ("WebhookError", "webhook_payload_invalid", "The webhook body is not a Stripe event."),
    ("InvalidSignature", "invalid_signature", "The webhook signature does not verify."),
    ("InvalidSignature", "webhook_secret_missing", "No webhook signing secret is configured."),
    (
        "InvalidSignature",
        "webhook_timestamp_out_of_tolerance",
        "The webhook's timestamp is too old or too new.",
    ),
    (
        "ConfigurationError",
        "configuration_error",
        "paykit is misconfigured (a database URL, a missing key).",
    ),
    (
        "ConfigurationError",
        "analytics_extra_missing",
        "The HTML report needs the `analytics` extra: `pip install 'paykit[analytics]'`.",
    ),
    (
        "ConfigurationError",
        "webhook_tolerance_invalid",
        "The webhook tolerance is not None or a whole number of seconds >= 0.",
    ),
    (
        "ConfigurationError",
        "schema_not_migrated",
        "The database was never migrated or is behind this paykit: run `paykit migrate`.",
    ),
    (
        "ConfigurationError",
        "archive_unwritable",
        "`paykit purge --archive FILE` cannot open FILE for appending.",
    ),
    (
        "ConfigurationError",
        "unsupported_database",
        "The database URL names a database other than SQLite or PostgreSQL.",
    ),
    (
        "ConfigurationError",
        "database_driver_missing",
        "The database driver (or libpq) cannot be loaded; `details['hint']` says what to install.",
    ),
    (
        "ConfigurationError",
        "schema_unavailable",
        "paykit's schema (a PostgreSQL schema, or the SQLite file attached as one) is missing "
        "or unusable; `details['schema']` names it and `details['hint']` says what to do.",
    ),
    (
        "ConfigurationError",
        "table_name_collision",
        "The database already has tables with paykit's names (a host's `users`, `orders`, ...); "
        "`details['tables']` lists them: migrate with `schema=` (docs/hosting.md).",
    ),
    (
        "ConfigurationError",
        "sqlite_foreign_keys_on",
        "A SQLite connection in its own transaction with foreign keys on was given a "
        "migration that may rebuild tables (which would delete or refuse referencing rows): "
        "pass the Engine, or turn foreign keys off before BEGIN.",
    ),
    (
        "ConfigurationError",
        "migration_broke_foreign_keys",
        "After a SQLite migration, `PRAGMA foreign_key_check` found rows referencing missing "
        "rows; the migration was rolled back. `details['tables']` lists the tables.",
    ),
    (
        "ConfigurationError",
        "encryption_not_configured",
        "Encrypted data needs a keyring; none is configured.",
    ),
    ("ConfigurationError", "stripe_api_key_missing", "StripeGateway was made without an API key."),
    ("ConfigurationError", "stripe_authentication_failed", "Stripe refused the API key."),
    (
        "DecryptionError",
        "decryption_failed",
        "An encrypted value was tampered with or its key is gone.",
    ),  # reviews, downloads, configuration, support (the read side)
    ("Conflict", "review_exists", "The user has already reviewed this product."),
    ("ValidationError", "invalid_rating", "A rating is not a whole number of stars from 1 to 5."),
    ("PermissionDenied", "own_review", "Nobody votes for their own review."),
    ("ValidationError", "not_downloadable", "The product has no file to download."),
    ("InvalidState", "download_not_paid", "The order of this item is not paid."),
    (
        "PermissionDenied",
        "download_refunded",
        "The order was refunded in full: no more downloads.",
    ),
    ("PermissionDenied", "download_link_invalid", "The download link is altered or unknown."),
    ("PermissionDenied", "download_link_expired", "The download link has expired."),
    (
        "PermissionDenied",
        "download_access_expired",
        "Access to this item's download has ended.",
    ),
    ("PermissionDenied", "download_limit_reached", "The product's download limit is used up."),
    ("NotFound", "unknown_config_key", "No configuration key of that name is registered."),
    ("ValidationError", "invalid_config_value", "The value does not fit the key's type."),
    (
        "ConfigurationError",
        "stored_config_invalid",
        "A stored configuration value no longer fits its key's type.",
    ),
    ("InvalidState", "invalid_ticket_transition", "The ticket cannot move to that status."),
    ("ValidationError", "invalid_assignee", "Tickets are assigned to active staff only."),
    # The catalog read side (paykit.services.catalog).
    ("ValidationError", "invalid_sort", "A listing's `sort` is not one it offers."),
    (
        "ValidationError",
        "invalid_search",
        "A search text that is empty, has no word or is too long.",
    ),
    (
        "ValidationError",
        "invalid_price_range",
        "A price filter whose minimum is above its maximum.",
    ),
    ("Conflict", "category_slug_taken", "Another category has this slug."),
    ("InvalidState", "category_cycle", "A category cannot move under itself or its descendants."),
    # The web adapters (paykit.contrib).
    (
        "AuthenticationError",
        "authentication_required",
        "The endpoint needs an authenticated user and the request names none.",
    ),
    ("ValidationError", "invalid_json", "A request body is not a JSON object (HTTP 400)."),
    (
        "ValidationError",
        "request_too_large",
        "A request body is larger than the adapter accepts (HTTP 413).",
    ),
)

_HEADER: Final = """\
# Error codes

<!-- Generated from paykit.errors.ERROR_CODES; do not edit by hand. Regenerate with
     python -c 'import paykit.errors as e; print(e.render_markdown(), end="")' \\
         > docs/errors.md
     (a test fails when this file and the registry differ). -->

Every error paykit raises on purpose is a `paykit.errors.PaykitError` with a stable
`.code` and an `.http_status`. Each code below belongs to one class: every error with
the code is an instance of that class (or of a subclass), so `except` on the class
catches it. Codes are part of the public API: a code is never renamed or reused.

StripeGateway keeps a code Stripe sends only when it is in this table; any other
Stripe refusal is `gateway_invalid_request`, with Stripe's code in
`details["stripe_code"]`.

| code | class | HTTP | meaning |
|---|---|---|---|
"""


def render_markdown(rows: Iterable[tuple[str, str, int, str]]) -> str:
    """``docs/errors.md`` from (code, class name, HTTP status, description) rows."""
    lines = [f"| `{code}` | `{cls}` | {status} | {text} |" for code, cls, status, text in rows]
    return _HEADER + "\n".join(lines) + "\n"
