"""Stripe's errors translated into paykit's error tree: the one table.

Stripe's exceptions never escape :class:`~paykit.stripe.gateway.StripeGateway`;
:func:`raise_for` gives each the paykit class and code a host switches on
(``docs/stripe.md`` has the table). Imports the stripe SDK.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import stripe

from paykit.errors import (
    ERROR_CODES,
    ConfigurationError,
    GatewayCurrencyMismatch,
    GatewayError,
    GatewayInvalidRequest,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaykitError,
    PaymentDeclined,
)
from paykit.stripe.objects import id_of

__all__ = ["error_for", "raise_for"]

_NO_SUCH: Final = re.compile(r"No such (?P<resource>[a-z_ ]+?): '?(?P<id>[^'\s]+)'?", re.I)
# Stripe answers some state refusals with a message and no code; these give the
# Protocol's code for them (docs/gateways.md), so callers switch on one code.
_MESSAGE_CODES: Final = (
    (
        re.compile(r"no attached payment source or default payment method", re.I),
        "missing_payment_method",
    ),
    (re.compile(r"only accepts prices with `?type=recurring", re.I), "price_not_recurring"),
    (re.compile(r"currency", re.I), "currency_mismatch"),
)


def _not_found_details(message: str, fallback_id: str | None) -> dict[str, Any]:
    match = _NO_SUCH.search(message or "")
    if match:
        return {"resource": match["resource"].strip().replace(" ", "_"), "id": match["id"]}
    return {"resource": None, "id": fallback_id}


def _invalid_request_class(code: str | None) -> tuple[type[GatewayError], str]:
    """The class and code of a refused request: Stripe's code only where paykit registers it.

    A code Stripe sends that paykit does not register becomes
    ``gateway_invalid_request`` (Stripe's own stays in ``details["stripe_code"]``),
    so every ``.code`` a host sees is in :data:`paykit.errors.ERROR_CODES`.
    """
    entry = ERROR_CODES.get(code) if code else None
    if entry is not None:
        for cls in (GatewayError, GatewayInvalidRequest, GatewayCurrencyMismatch):
            if issubclass(cls, entry.error):
                return cls, entry.code
    return GatewayInvalidRequest, "gateway_invalid_request"


def _caused_by_refused_connection(error: BaseException) -> bool:
    """True when the cause chain shows the request never left (connection refused/DNS)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        if type(seen).__name__ in {"NewConnectionError", "ConnectError", "NameResolutionError"}:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _declined(exc: stripe.CardError, error: Mapping[str, Any], base: _Base) -> PaykitError:
    payment = error.get("payment_intent") or {}
    decline_code = error.get("decline_code") or base.code or "generic_decline"
    details = {
        **base.details,
        "payment_id": id_of(payment) if payment else None,
        "payment_method_id": id_of(error.get("payment_method")),
        "request_id": base.request_id,
    }
    return PaymentDeclined(base.message, decline_code=decline_code, details=details)


def _unreachable(exc: stripe.StripeError, base: _Base) -> PaykitError | None:
    """Rate limiting, a connection failure or a held idempotency key: retry with the same key."""
    if isinstance(exc, stripe.RateLimitError):
        return GatewayUnavailable(
            "Stripe is rate limiting requests; retry later with the same idempotency key.",
            details={"reason": "rate_limited"},
            request_id=base.request_id,
        )
    if isinstance(exc, stripe.APIConnectionError):
        if _caused_by_refused_connection(exc):
            return GatewayUnavailable(
                "Could not connect to Stripe; the request was not carried out.",
                request_id=base.request_id,
            )
        return GatewayUnavailable(
            "The request to Stripe failed in transit; it may or may not have been "
            "carried out. Retry with the same idempotency key.",
            code="gateway_timeout",
            request_id=base.request_id,
        )
    if (exc.http_status or 0) == 409 and not isinstance(
        exc, stripe.IdempotencyError | stripe.AuthenticationError | stripe.PermissionError
    ):
        # idempotency_key_in_use / lock_timeout: a parallel request holds the key.
        return GatewayUnavailable(
            base.message, details={"reason": base.code or "conflict"}, request_id=base.request_id
        )
    return None


def _refused(
    exc: stripe.InvalidRequestError, error: Mapping[str, Any], base: _Base, object_id: str | None
) -> PaykitError:
    """A request Stripe refused: an unknown object, or the registered code of the refusal."""
    if (exc.http_status or 0) == 404 or base.code == "resource_missing":
        return NotFound(
            base.message,
            details={
                **_not_found_details(base.message, object_id),
                "request_id": base.request_id,
            },
        )
    code = base.code
    if code is None:
        for pattern, mapped in _MESSAGE_CODES:
            if pattern.search(base.message):
                code = mapped
                break
    cls, code = _invalid_request_class(code)
    return cls(
        base.message,
        code=code,
        details={"param": error.get("param"), **base.details},
        request_id=base.request_id,
    )


@dataclass(frozen=True, slots=True)
class _Base:
    """What every translation reads from a Stripe exception."""

    message: str
    request_id: str | None
    code: str | None
    details: dict[str, Any]


def error_for(exc: stripe.StripeError, object_id: str | None = None) -> PaykitError:
    """The paykit error for a Stripe exception (docs/stripe.md has the table).

    ``object_id`` names the object the request was about, for a ``NotFound``
    whose message does not say.
    """
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    error: dict[str, Any] = body.get("error") or {}
    code = error.get("code") or exc.code
    base = _Base(
        message=str(error.get("message") or exc.user_message or str(exc)),
        request_id=exc.request_id,
        code=code,
        details={"stripe_code": code} if code else {},
    )
    if isinstance(exc, stripe.CardError):
        return _declined(exc, error, base)
    unreachable = _unreachable(exc, base)
    if unreachable is not None:
        return unreachable
    if isinstance(exc, stripe.IdempotencyError):
        return IdempotencyConflict(base.message, details={"request_id": base.request_id})
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return ConfigurationError(
            f"Stripe refused the API key: {base.message}",
            code="stripe_authentication_failed",
            details={"request_id": base.request_id},
        )
    if isinstance(exc, stripe.InvalidRequestError):
        return _refused(exc, error, base, object_id)
    status = exc.http_status or 0
    if status >= 500 or isinstance(exc, stripe.APIError):
        # Stripe may have acted before failing: the outcome is unknown.
        return GatewayUnavailable(
            "Stripe answered with a server error; the request may or may not have been "
            "carried out. Retry with the same idempotency key.",
            code="gateway_timeout",
            details={"http_status": status},
            request_id=base.request_id,
        )
    return GatewayError(base.message, details=base.details, request_id=base.request_id)


def raise_for(exc: stripe.StripeError, object_id: str | None = None) -> NoReturn:
    """Raise :func:`error_for` of ``exc``, without Stripe's exception as its context."""
    raise error_for(exc, object_id) from None
