"""``FakeGateway``: SetupIntents, saved cards, invoices, checkout (``BillingMethodsGateway``).

Invoices exist in the fake only when a test adds one (:meth:`FakeBilling.add_invoice`),
and a checkout session completes only when a test says the customer finished it
(:meth:`FakeBilling.complete_checkout_session`): the two things a browser or
Stripe's billing engine would do.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from paykit.errors import GatewayError, NotFound, PaymentDeclined, ValidationError
from paykit.gateways._checks import check_count, check_metadata
from paykit.gateways.base import GatewayPaymentMethod
from paykit.gateways.billing import (
    GatewayCheckoutSession,
    GatewayInvoiceDetails,
    GatewaySetupIntent,
)
from paykit.stripe.billing_methods import (
    checkout_session_from_stripe,
    invoice_details_from_stripe,
    require_mode,
    require_price_for_mode,
    setup_intent_from_stripe,
)
from paykit.testing._webhooks import stripe_object
from paykit.testing.fake.cards import (
    _DECLINES,
    _NEEDS_ACTION,
    _NETWORK_ERROR_METHOD,
    _TIMEOUT_METHOD,
    _is_test_token,
)
from paykit.testing.fake.ledger import _ts
from paykit.testing.fake.subscriptions import FakeSubscriptions

__all__ = ["FakeBilling"]


@dataclass(slots=True)
class _BillingState:
    setup_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    invoices: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkouts: dict[str, dict[str, Any]] = field(default_factory=dict)
    checkout_items: dict[str, tuple[str | None, int]] = field(default_factory=dict)


def _require_status(
    kind: str, code: str, raw: Mapping[str, Any], allowed: tuple[str, ...], verb: str
) -> None:
    """Refuse (``GatewayError`` ``code``) to ``verb`` a ``kind`` whose status is not ``allowed``."""
    status = raw["status"]
    if status not in allowed:
        raise GatewayError(
            f"You cannot {verb} this {kind} because it has a status of {status}.",
            code=code,
            details={f"{kind}_id": raw["id"], "status": status},
        )


class FakeBilling(FakeSubscriptions):
    """SetupIntents, saved cards, invoices and checkout sessions, in memory."""

    @cached_property
    def _billing(self) -> _BillingState:
        return _BillingState()

    # ----------------------------------------------------------------- setup intents

    def create_setup_intent(self, *, customer_id: str, idempotency_key: str) -> GatewaySetupIntent:
        """A SetupIntent (``seti_...``) in ``requires_payment_method``, with its client secret."""

        def action() -> GatewaySetupIntent:
            self._customer(customer_id)
            intent_id = self._next_id("seti")
            raw: dict[str, Any] = {
                "id": intent_id,
                "object": "setup_intent",
                "customer": customer_id,
                "status": "requires_payment_method",
                "client_secret": f"{intent_id}_secret_{secrets.token_hex(8)}",
                "payment_method": None,
                "usage": "off_session",
                "created": _ts(self._now()),
                "last_setup_error": None,
                "metadata": {},
            }
            self._billing.setup_intents[intent_id] = raw
            return setup_intent_from_stripe(raw)

        return self._once(
            "create_setup_intent", action, customer_id=customer_id, idempotency_key=idempotency_key
        )

    def confirm_setup_intent(
        self, setup_intent_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewaySetupIntent:
        """Save ``payment_method_id`` (a test token) as a new ``pm_...`` of the customer.

        Declining test cards raise ``PaymentDeclined``; 3-D Secure cards leave
        the intent in ``requires_action``. Emits ``payment_method.attached`` and
        ``setup_intent.succeeded``. The customer's default does not change.
        """
        return self._once(
            "confirm_setup_intent",
            lambda: self._confirm_setup(setup_intent_id, payment_method_id),
            setup_intent_id=setup_intent_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    def _confirm_setup(self, intent_id: str, token: str) -> GatewaySetupIntent:
        raw = self._setup_intent(intent_id)
        _require_status(
            "setup_intent",
            "setup_intent_unexpected_state",
            raw,
            ("requires_payment_method", "requires_action"),
            "confirm",
        )
        if token in (_NETWORK_ERROR_METHOD, _TIMEOUT_METHOD):
            raise self._network_error("confirm_setup_intent")
        if not _is_test_token(token):
            raise self._not_found("payment_method", token)
        if token in _DECLINES:
            raw["last_setup_error"] = {"code": "card_declined", "decline_code": _DECLINES[token]}
            raise PaymentDeclined(
                "Your card was declined.",
                decline_code=_DECLINES[token],
                details={"setup_intent_id": intent_id},
            )
        if token in _NEEDS_ACTION and raw["status"] == "requires_payment_method":
            raw["status"] = "requires_action"
            return setup_intent_from_stripe(raw)
        method = self._saved_card(token, str(raw["customer"]))
        raw.update(status="succeeded", payment_method=method.id, last_setup_error=None)
        self._emit_method("payment_method.attached", method)
        self._emit("setup_intent.succeeded", raw)
        return setup_intent_from_stripe(raw)

    def retrieve_setup_intent(self, setup_intent_id: str) -> GatewaySetupIntent:
        """The SetupIntent as it is now."""
        self._enter("retrieve_setup_intent", setup_intent_id=setup_intent_id)
        with self._lock:
            return setup_intent_from_stripe(self._setup_intent(setup_intent_id))

    def _setup_intent(self, setup_intent_id: str) -> dict[str, Any]:
        return self._find(self._billing.setup_intents, "setup_intent", setup_intent_id)

    # ----------------------------------------------------------------- saved cards

    def retrieve_payment_method(self, payment_method_id: str) -> GatewayPaymentMethod:
        """A payment method created by attaching or by a SetupIntent."""
        self._enter("retrieve_payment_method", payment_method_id=payment_method_id)
        with self._lock:
            return self._method(payment_method_id)

    def list_payment_methods(self, customer_id: str) -> list[GatewayPaymentMethod]:
        """The customer's attached methods, newest first."""
        self._enter("list_payment_methods", customer_id=customer_id)
        with self._lock:
            self._customer(customer_id)
            mine = [m for m in self._methods.values() if m.customer_id == customer_id]
            return mine[::-1]

    def update_card(
        self, payment_method_id: str, *, exp_month: int, exp_year: int
    ) -> GatewayPaymentMethod:
        """Test helper: the card network's updater gave a saved card a new expiry.

        Emits ``payment_method.automatically_updated``.
        """
        with self._lock:
            method = self._method(payment_method_id)
            card = {**dict(method.card or {}), "exp_month": exp_month, "exp_year": exp_year}
            method = replace(method, card=card)
            self._methods[payment_method_id] = method
            self._emit_method("payment_method.automatically_updated", method)
            return method

    def set_default_payment_method(
        self, customer_id: str, *, payment_method_id: str, idempotency_key: str
    ) -> GatewayPaymentMethod:
        """Make an attached method the customer's default; emits ``customer.updated``."""

        def action() -> GatewayPaymentMethod:
            customer = self._customer(customer_id)
            method = self._method(payment_method_id)
            if method.customer_id != customer_id:
                raise self._payment_method_state(
                    f"PaymentMethod {payment_method_id} is not attached to customer {customer_id}.",
                    payment_method_id=payment_method_id,
                )
            self._default_method[customer_id] = method.id
            obj = stripe_object("customer", id=customer.id, email=customer.email)
            obj["invoice_settings"] = {"default_payment_method": method.id}
            obj["metadata"] = {}
            self._emit("customer.updated", obj)
            return method

        return self._once(
            "set_default_payment_method",
            action,
            customer_id=customer_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    # ----------------------------------------------------------------- invoices

    def add_invoice(
        self,
        *,
        customer_id: str,
        subscription_id: str | None = None,
        lines: Sequence[Mapping[str, Any]],
        currency: str = "usd",
        discount: int = 0,
        tax: int = 0,
        status: str = "open",
    ) -> GatewayInvoiceDetails:
        """Test helper: an invoice Stripe's billing engine would have made, emitted as
        ``invoice.finalized`` (``open``) or ``invoice.created`` (``draft``).

        Each line is ``{"amount": int, "description": ..., "quantity": 1,
        "price": None, "proration": False}``; the subtotal is their sum and the
        total ``subtotal - discount + tax``.
        """
        if status not in ("draft", "open"):
            raise ValidationError("status must be draft or open")
        with self._lock:
            self._customer(customer_id)
            now = _ts(self._now())
            invoice_id = self._next_id("in")
            data, subtotal = self._lines(invoice_id, lines, currency, now)
            total = subtotal - int(discount) + int(tax)
            raw = self._invoice_object(
                invoice_id,
                customer=customer_id,
                subscription=subscription_id,
                status=status,
                currency=currency.lower(),
                lines=data,
                subtotal=subtotal,
                total=total,
                discounts=[{"amount": int(discount), "discount": "di_fake"}] if discount else [],
                amount_due=total,
                created=now,
                period=(now, now),
                finalized_at=now,
                # FAKE-000001 for namespace "fake"; unique per fake, as at Stripe per account
                number=None if status == "draft" else self._invoice_number(invoice_id),
                tax=tax,
            )
            self._billing.invoices[invoice_id] = raw
            self._emit("invoice.finalized" if status == "open" else "invoice.created", raw)
            return invoice_details_from_stripe(raw)

    def _invoice_object(
        self,
        invoice_id: str,
        *,
        customer: str,
        subscription: str | None,
        status: str,
        currency: str,
        lines: list[dict[str, Any]],
        subtotal: int,
        total: int,
        discounts: list[dict[str, Any]],
        amount_due: int,
        created: int,
        period: tuple[int, int],
        finalized_at: int | None,
        hosted: bool = True,
        **fields: Any,
    ) -> dict[str, Any]:
        """A Stripe-shaped invoice, unpaid, with ``lines`` (see :meth:`_lines`) and ``fields``.

        Shared by :meth:`add_invoice` and the billing engine; without ``hosted``
        (a preview) it has no hosted page or PDF.
        """
        raw = stripe_object(
            "invoice",
            id=invoice_id,
            customer=customer,
            subscription=subscription,
            parent=None,
            status=status,
            currency=currency,
            subtotal=subtotal,
            total=total,
            total_taxes=[],
            total_discount_amounts=discounts,
            amount_due=amount_due,
            amount_paid=0,
            amount_remaining=amount_due,
            attempt_count=0,
            due_date=None,
            created=created,
            period_start=period[0],
            period_end=period[1],
            status_transitions={"paid_at": None, "voided_at": None, "finalized_at": finalized_at},
            hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice_id}" if hosted else None,
            invoice_pdf=f"https://pay.stripe.com/invoice/{invoice_id}/pdf" if hosted else None,
            lines={"object": "list", "data": lines, "has_more": False},
            **fields,
        )
        raw["metadata"] = {}
        return raw

    def _lines(
        self, invoice_id: str, lines: Sequence[Mapping[str, Any]], currency: str, now: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The invoice's Stripe-shaped lines (see :meth:`_line`) and their sum, the subtotal."""
        data = [self._line(invoice_id, line, currency, now) for line in lines]
        return data, sum(int(line["amount"]) for line in data)

    def _invoice_number(self, invoice_id: str) -> str:
        return f"{self._namespace.upper()}-{invoice_id[-6:]}"

    def _line(
        self, invoice_id: str, line: Mapping[str, Any], currency: str, now: int
    ) -> dict[str, Any]:
        amount = line.get("amount")
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise ValidationError("each line needs an integer amount (minor units)")
        start = int(line.get("period_start", now))
        return {
            "id": self._next_id("il"),
            "object": "line_item",
            "invoice": invoice_id,
            "amount": amount,
            "currency": currency.lower(),
            "description": line.get("description"),
            "quantity": int(line.get("quantity", 1)),
            "price": line.get("price"),
            "proration": bool(line.get("proration", False)),
            "period": {"start": start, "end": int(line.get("period_end", start))},
        }

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._find(self._billing.invoices, "invoice", invoice_id)

    def retrieve_invoice(self, invoice_id: str) -> GatewayInvoiceDetails:
        """The invoice with its lines."""
        self._enter("retrieve_invoice", invoice_id=invoice_id)
        with self._lock:
            return invoice_details_from_stripe(self._invoice(invoice_id))

    def pay_invoice(
        self, invoice_id: str, *, payment_method_id: str | None = None, idempotency_key: str
    ) -> GatewayInvoiceDetails:
        """Pay an open invoice with the method or the customer's default.

        A declining card raises ``PaymentDeclined`` (``invoice.payment_failed``
        emitted, the invoice stays open); success emits ``invoice.paid``.
        """
        return self._once(
            "pay_invoice",
            lambda: self._pay_invoice(invoice_id, payment_method_id),
            invoice_id=invoice_id,
            payment_method_id=payment_method_id,
            idempotency_key=idempotency_key,
        )

    def _pay_invoice(self, invoice_id: str, method_id: str | None) -> GatewayInvoiceDetails:
        raw = self._invoice(invoice_id)
        _require_status("invoice", "invoice_unexpected_state", raw, ("open",), "pay")
        customer = str(raw["customer"])
        method_id = method_id or self._invoice_payer(raw)
        if method_id is None:
            raise GatewayError(
                "This customer has no attached payment source or default payment method.",
                code="missing_payment_method",
                details={"invoice_id": invoice_id},
            )
        token = self._usable_method(method_id, customer)
        if token in (_NETWORK_ERROR_METHOD, _TIMEOUT_METHOD):
            raise self._network_error("pay_invoice")
        raw["attempt_count"] = int(raw.get("attempt_count") or 0) + 1
        raw["attempted"] = True
        if token in _DECLINES or token in _NEEDS_ACTION:
            self._emit("invoice.payment_failed", raw)
            if token in _NEEDS_ACTION:
                raise GatewayError(
                    "Payment for this invoice requires authentication by the customer.",
                    code="invoice_payment_intent_requires_action",
                    details={"invoice_id": invoice_id},
                )
            raise PaymentDeclined(
                "Your card was declined.",
                decline_code=_DECLINES[token],
                details={"invoice_id": invoice_id, "payment_method_id": method_id},
            )
        self._record_paid(raw, method_id, _ts(self._now()))
        self._after_invoice_paid(raw)
        return invoice_details_from_stripe(raw)

    def _record_paid(self, raw: dict[str, Any], method_id: str | None, now: int) -> None:
        """Mark an invoice paid in full by ``method_id`` at ``now``; emits ``invoice.paid``."""
        raw.update(
            status="paid",
            amount_paid=raw["amount_due"],
            amount_remaining=0,
            default_payment_method=method_id,
        )
        raw["status_transitions"] = {**raw["status_transitions"], "paid_at": now}
        self._emit("invoice.paid", raw)

    def _after_invoice_paid(self, raw: dict[str, Any]) -> None:
        """Hook: the billing engine settles the invoice's subscription."""

    def _invoice_payer(self, raw: dict[str, Any]) -> str | None:
        """The subscription's default payment method, else the customer's."""
        sub = self._subscriptions.get(str(raw.get("subscription") or ""))
        own = None if sub is None else sub.raw.get("default_payment_method")
        return own or self._default_method.get(str(raw["customer"]))

    def void_invoice(self, invoice_id: str, *, idempotency_key: str) -> GatewayInvoiceDetails:
        """Void an open (or uncollectible) invoice; emits ``invoice.voided``."""

        def action() -> GatewayInvoiceDetails:
            raw = self._invoice(invoice_id)
            _require_status(
                "invoice", "invoice_unexpected_state", raw, ("open", "uncollectible"), "void"
            )
            raw.update(status="void", amount_remaining=0)
            raw["status_transitions"] = {
                **raw["status_transitions"],
                "voided_at": _ts(self._now()),
            }
            self._emit("invoice.voided", raw)
            return invoice_details_from_stripe(raw)

        return self._once(
            "void_invoice", action, invoice_id=invoice_id, idempotency_key=idempotency_key
        )

    # ----------------------------------------------------------------- checkout

    def create_checkout_session(
        self,
        *,
        customer_id: str,
        mode: str,
        success_url: str,
        cancel_url: str,
        price_id: str | None = None,
        quantity: int = 1,
        client_reference_id: str | None = None,
        metadata: Mapping[str, str] | None = None,
        idempotency_key: str,
    ) -> GatewayCheckoutSession:
        """An open hosted checkout session (``cs_...``) with its ``url``."""
        self._begin(
            "create_checkout_session",
            customer_id=customer_id,
            mode=mode,
            price_id=price_id,
            quantity=quantity,
            idempotency_key=idempotency_key,
        )
        require_mode(mode)
        check_count(quantity, "quantity")
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if not isinstance(url, str) or not url.startswith(("https://", "http://")):
                raise ValidationError(f"{name} must be an http(s) URL", details={"param": name})
        require_price_for_mode(mode, price_id)
        meta = check_metadata(metadata)
        params: dict[str, Any] = {
            "customer_id": customer_id,
            "mode": mode,
            "success_url": success_url,
            "cancel_url": cancel_url,
            "price_id": price_id,
            "quantity": quantity,
            "client_reference_id": client_reference_id,
            "metadata": meta,
        }

        def action() -> GatewayCheckoutSession:
            self._customer(customer_id)
            if price_id is not None and price_id not in self._prices:
                raise self._not_found("price", price_id)
            session_id = self._next_id("cs")
            raw = {
                "id": session_id,
                "object": "checkout.session",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "status": "open",
                "payment_status": "unpaid",
                "mode": mode,
                "customer": customer_id,
                "client_reference_id": client_reference_id,
                "subscription": None,
                "setup_intent": None,
                "success_url": success_url,
                "cancel_url": cancel_url,
                "created": _ts(self._now()),
                "metadata": dict(meta),
            }
            self._billing.checkouts[session_id] = raw
            self._billing.checkout_items[session_id] = (price_id, quantity)
            return checkout_session_from_stripe(raw)

        return self._idempotent("create_checkout_session", idempotency_key, params, action)

    def retrieve_checkout_session(self, session_id: str) -> GatewayCheckoutSession:
        """The checkout session as it is now."""
        self._enter("retrieve_checkout_session", session_id=session_id)
        with self._lock:
            raw = self._find(self._billing.checkouts, "checkout_session", session_id)
            return checkout_session_from_stripe(raw)

    def complete_checkout_session(
        self, session_id: str, *, payment_method_id: str = "pm_card_visa"
    ) -> GatewayCheckoutSession:
        """Test helper: the customer finished the hosted page with ``payment_method_id``.

        ``subscription`` mode attaches the card and starts the subscription;
        ``setup`` mode saves the card through a SetupIntent. Emits what Stripe
        would, ending with ``checkout.session.completed``.
        """
        with self._lock:
            raw = self._billing.checkouts.get(session_id)
            if raw is None:
                raise NotFound(f"No such checkout_session: '{session_id}'")
            _require_status(
                "checkout_session", "checkout_session_unexpected_state", raw, ("open",), "complete"
            )
            price_id, quantity = self._billing.checkout_items[session_id]
            customer = str(raw["customer"])
        if raw["mode"] == "subscription":
            assert price_id is not None
            method = self.attach_payment_method(
                payment_method_id, customer_id=customer, idempotency_key=f"{session_id}:attach"
            )
            sub = self.create_subscription(
                customer_id=customer,
                price_id=price_id,
                quantity=quantity,
                payment_method_id=method.id,
                idempotency_key=f"{session_id}:subscription",
            )
            changes: dict[str, Any] = {"subscription": sub.id, "payment_status": "paid"}
        else:
            intent = self.create_setup_intent(
                customer_id=customer, idempotency_key=f"{session_id}:setup"
            )
            intent = self.confirm_setup_intent(
                intent.id, payment_method_id=payment_method_id, idempotency_key=f"{session_id}:ok"
            )
            changes = {"setup_intent": intent.id, "payment_status": "no_payment_required"}
        with self._lock:
            raw.update(status="complete", **changes)
            self._emit("checkout.session.completed", raw)
            return checkout_session_from_stripe(raw)
