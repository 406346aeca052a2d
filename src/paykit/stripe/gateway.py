"""``StripeGateway``: the :class:`~paykit.gateways.PaymentGateway` Protocol over Stripe's API.

With :mod:`~paykit.stripe.client` and :mod:`~paykit.stripe.errors`, the only
modules of paykit that import the stripe SDK; loaded on first use of
``StripeGateway``. The subscription calls are in
:mod:`~paykit.stripe.subscription_calls`, the saved-card, invoice and checkout
calls in :mod:`~paykit.stripe.billing_calls`.

Built on the official ``stripe`` package (``stripe.StripeClient``). Nothing is
created at import: a client exists only once a ``StripeGateway`` is built, so
``import paykit`` never needs a key or a network.

Rules kept here, at the edge (see ``docs/stripe.md``):

* The API version is pinned in :data:`STRIPE_API_VERSION` and sent on every
  request, so a change to the account's default version cannot change the
  shape of what paykit reads.
* Every POST carries the caller's idempotency key (``Idempotency-Key``).
* Arguments are validated before any request, raising ``ValidationError``.
* Stripe's exceptions never escape: they become paykit's error tree.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import stripe

from paykit._arguments import checked
from paykit.errors import (
    ConfigurationError,
    GatewayError,
    GatewayUnavailable,
    PaykitError,
    ValidationError,
)
from paykit.gateways._checks import (
    check_amount,
    check_confirm_method,
    check_currency,
    check_email,
    check_key,
    check_metadata,
    check_minimum,
    check_refund_reason,
)
from paykit.gateways.base import (
    GatewayCustomer,
    GatewayPayment,
    GatewayPaymentMethod,
    GatewayPrice,
    GatewayProduct,
    GatewayRefund,
)
from paykit.stripe.billing_calls import BillingCalls
from paykit.stripe.client import StripeApi
from paykit.stripe.objects import (
    payment_from_stripe,
    payment_method_from_stripe,
    price_from_stripe,
    product_from_stripe,
    refund_from_stripe,
)
from paykit.stripe.renewal_billing_calls import RenewalBillingCalls

if TYPE_CHECKING:
    from paykit.gateways._complete import CompleteGateway

__all__ = ["STRIPE_API_VERSION", "StripeGateway"]

STRIPE_API_VERSION: Final = "2026-10-28.endive"
"""The Stripe API version paykit is written against (the one stripe-python 16 targets).

Sent as ``Stripe-Version`` on every request. Webhook endpoints should be
created with the same version, so event payloads have the same shape.
"""


class StripeGateway(RenewalBillingCalls, BillingCalls):
    """A :class:`~paykit.gateways.PaymentGateway` talking to Stripe with ``stripe.StripeClient``.

    ``api_key`` is a secret key (``sk_live_...``/``sk_test_...``) or a
    restricted key. ``api_base`` points the client elsewhere (a local server
    that answers like Stripe, in tests). ``max_network_retries`` lets the SDK
    retry connection errors, 409, 429 and 5xx itself, always with the same
    idempotency key. ``http_client`` is any ``stripe.HTTPClient`` (timeouts,
    proxies, a shared session). ``payment_method_types`` is sent with every
    PaymentIntent, because server-side confirmation without a ``return_url``
    is only allowed for methods that never redirect.

    Stripe's telemetry header (``X-Stripe-Client-Telemetry``) is governed by
    the SDK-wide ``stripe.enable_telemetry``; paykit leaves it to the host and
    its tests switch it off.
    """

    #: The request layer over the SDK client (a subclass swaps it, as the async gateway does).
    _api_class: type[StripeApi] = StripeApi

    @checked
    def __init__(
        self,
        *,
        api_key: str,
        api_base: str | None = None,
        max_network_retries: int = 2,
        http_client: stripe.HTTPClient | None = None,
        payment_method_types: tuple[str, ...] = ("card",),
        stripe_account: str | None = None,
    ) -> None:
        if not api_key:
            raise ConfigurationError(
                "StripeGateway needs an api_key (sk_live_..., sk_test_... or rk_...)",
                code="stripe_api_key_missing",
            )
        if max_network_retries < 0:
            raise ValidationError("max_network_retries must be >= 0", code="invalid_argument")
        base_addresses: dict[str, str] = {}
        if api_base is not None:
            base_addresses["api"] = api_base.rstrip("/")
        self._payment_method_types = tuple(payment_method_types)
        self._api = self._api_class(
            stripe.StripeClient(
                api_key,
                stripe_version=STRIPE_API_VERSION,
                stripe_account=stripe_account,
                base_addresses=base_addresses,  # type: ignore[arg-type]
                max_network_retries=max_network_retries,
                http_client=http_client,
            )
        )

    def __repr__(self) -> str:
        # Never the key.
        return f"StripeGateway(api_version={STRIPE_API_VERSION!r})"

    # ----------------------------------------------------------------- customers

    def create_customer(
        self,
        *,
        email: str,
        name: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCustomer:
        """Create a Stripe customer."""
        check_key(idempotency_key)
        check_email(email)
        params: dict[str, Any] = {"email": email, "metadata": check_metadata(metadata)}
        if name is not None:
            params["name"] = name
        obj = self._api.post("/v1/customers", params, idempotency_key=idempotency_key)
        return GatewayCustomer(id=obj["id"], email=obj.get("email") or email, name=obj.get("name"))

    # ----------------------------------------------------------------- payments

    def create_payment(
        self,
        *,
        amount_minor: int,
        currency: str,
        customer_id: str | None,
        payment_method_id: str | None = None,
        confirm: bool = False,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayPayment:
        """Create a PaymentIntent; with ``confirm=True`` confirm it in the same request."""
        check_key(idempotency_key)
        params: dict[str, Any] = {
            "amount": check_amount(amount_minor),
            "currency": check_currency(currency).lower(),
            "metadata": check_metadata(metadata),
            "payment_method_types": list(self._payment_method_types),
        }
        check_confirm_method(confirm, payment_method_id)
        if customer_id is not None:
            params["customer"] = customer_id
        if payment_method_id is not None:
            params["payment_method"] = payment_method_id
        if confirm:
            params["confirm"] = True
        check_minimum(params["amount"], params["currency"])
        obj = self._api.post("/v1/payment_intents", params, idempotency_key=idempotency_key)
        return payment_from_stripe(obj)

    def confirm_payment(
        self,
        payment_id: str,
        *,
        payment_method_id: str | None = None,
        idempotency_key: str,
    ) -> GatewayPayment:
        """Confirm a PaymentIntent with ``payment_method_id`` or the method it already has."""
        check_key(idempotency_key)
        params = {} if payment_method_id is None else {"payment_method": payment_method_id}
        obj = self._api.post_to(
            "payment_intents",
            payment_id,
            params,
            idempotency_key=idempotency_key,
            action="/confirm",
        )
        return payment_from_stripe(obj)

    def cancel_payment(self, payment_id: str, *, idempotency_key: str) -> GatewayPayment:
        """Cancel a PaymentIntent that has not succeeded."""
        check_key(idempotency_key)
        obj = self._api.post_to(
            "payment_intents", payment_id, {}, idempotency_key=idempotency_key, action="/cancel"
        )
        return payment_from_stripe(obj)

    def retrieve_payment(self, payment_id: str) -> GatewayPayment:
        """The PaymentIntent as Stripe has it now."""
        return payment_from_stripe(
            self._api.get(f"/v1/payment_intents/{payment_id}", object_id=payment_id)
        )

    def list_payments(
        self, *, created_from: datetime | None = None, created_to: datetime | None = None
    ) -> Iterator[GatewayPayment]:
        """PaymentIntents created in ``[created_from, created_to)``, newest first, page by page."""
        created: dict[str, int] = {}
        if created_from is not None:
            created["gte"] = int(created_from.timestamp())
        if created_to is not None:
            created["lt"] = int(created_to.timestamp())
        params: dict[str, Any] = {"limit": 100}
        if created:
            params["created"] = created
        while True:
            page = self._api.get("/v1/payment_intents", params)
            data = page.get("data") or []
            for obj in data:
                yield payment_from_stripe(obj)
            if not page.get("has_more") or not data:
                return
            params = {**params, "starting_after": data[-1]["id"]}

    def update_payment_amount(
        self, payment_id: str, *, amount_minor: int, idempotency_key: str
    ) -> GatewayPayment:
        """Change the amount of a PaymentIntent that has not succeeded or been canceled."""
        check_key(idempotency_key)
        obj = self._api.post_to(
            "payment_intents",
            payment_id,
            {"amount": check_amount(amount_minor)},
            idempotency_key=idempotency_key,
        )
        return payment_from_stripe(obj)

    # ----------------------------------------------------------------- refunds

    def create_refund(
        self,
        *,
        payment_id: str,
        amount_minor: int,
        reason: str | None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayRefund:
        """Refund part or all of a succeeded PaymentIntent."""
        check_key(idempotency_key)
        check_amount(amount_minor)
        check_refund_reason(reason)
        params: dict[str, Any] = {
            "payment_intent": payment_id,
            "amount": amount_minor,
            "metadata": check_metadata(metadata),
        }
        if reason is not None:
            params["reason"] = reason
        try:
            obj = self._api.post(
                "/v1/refunds", params, idempotency_key=idempotency_key, object_id=payment_id
            )
        except GatewayError as exc:
            if isinstance(exc, GatewayUnavailable) or exc.code == "payment_intent_unexpected_state":
                raise
            raise self._refund_refusal(exc, payment_id, amount_minor) from None
        return refund_from_stripe(obj)

    def _refund_refusal(self, exc: GatewayError, payment_id: str, amount: int) -> PaykitError:
        """Give a refused refund the Protocol's code and ``refundable_minor``.

        Stripe words "more than is left" in several ways; the charge's own
        numbers say it exactly, so ask for them (one GET, on the error path only).
        """
        try:
            intent = self._api.get(
                f"/v1/payment_intents/{payment_id}",
                {"expand": ["latest_charge"]},
                object_id=payment_id,
            )
        except PaykitError:
            return exc
        charge = intent.get("latest_charge")
        if not isinstance(charge, Mapping):
            return exc
        refundable = int(charge.get("amount") or 0) - int(charge.get("amount_refunded") or 0)
        details = {**exc.details, "payment_id": payment_id, "refundable_minor": refundable}
        if refundable <= 0:
            return GatewayError(
                exc.message,
                code="charge_already_refunded",
                details=details,
                request_id=exc.request_id,
            )
        if amount > refundable:
            return GatewayError(
                exc.message,
                code="refund_exceeds_payment",
                details=details,
                request_id=exc.request_id,
            )
        return exc

    def retrieve_refund(self, refund_id: str) -> GatewayRefund:
        """The refund as Stripe has it now."""
        return refund_from_stripe(self._api.get(f"/v1/refunds/{refund_id}", object_id=refund_id))

    # ----------------------------------------------------------------- payment methods

    def attach_payment_method(
        self, payment_method_id: str, *, customer_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Attach to a customer and make it their default for subscriptions (as FakeGateway does).

        Two POSTs: the attach, then the customer's
        ``invoice_settings.default_payment_method``, under the key
        ``<idempotency_key>:default`` so a retry replays both.
        """
        check_key(idempotency_key)
        if len(idempotency_key) > 247:
            raise ValidationError("idempotency_key is too long for attach (at most 247)")
        obj = self._api.post_to(
            "payment_methods",
            payment_method_id,
            {"customer": customer_id},
            idempotency_key=idempotency_key,
            action="/attach",
        )
        method = payment_method_from_stripe(obj)
        self._set_customer_default(customer_id, method.id, f"{idempotency_key}:default")
        return method

    def detach_payment_method(
        self, payment_method_id: str, *, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Detach from its customer; it cannot be used again."""
        check_key(idempotency_key)
        obj = self._api.post_to(
            "payment_methods",
            payment_method_id,
            {},
            idempotency_key=idempotency_key,
            action="/detach",
        )
        return payment_method_from_stripe(obj)

    # ----------------------------------------------------------------- catalogue

    def retrieve_price(self, price_id: str) -> GatewayPrice:
        """The Stripe price."""
        return price_from_stripe(self._api.get(f"/v1/prices/{price_id}", object_id=price_id))

    def retrieve_product(self, product_id: str) -> GatewayProduct:
        """The Stripe product."""
        return product_from_stripe(
            self._api.get(f"/v1/products/{product_id}", object_id=product_id)
        )


if TYPE_CHECKING:
    # runtime_checkable only checks that the names exist; this makes mypy
    # check every signature against every gateway Protocol.
    def _conforms(gateway: StripeGateway) -> CompleteGateway:
        return gateway
