"""The Stripe test server's billing routes: SetupIntents, saved cards, invoices, Checkout.

``tests/stripe_server.py`` calls :func:`billing_route` for any request its own
routes do not answer; the state behind the answers is the server's FakeGateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from paykit.gateways import FakeGateway, GatewayPaymentMethod
from paykit.gateways.billing import GatewayInvoiceDetails

__all__ = ["billing_route"]

Renderer = Callable[[GatewayPaymentMethod], dict[str, Any]]


def _invoice(details: GatewayInvoiceDetails) -> dict[str, Any]:
    return dict(details.invoice.raw)


def _bool(value: Any) -> bool:
    return str(value).lower() in ("true", "1")


def billing_route(
    fake: FakeGateway,
    method: str,
    resource: str,
    rest: list[str],
    form: dict[str, Any],
    key: str,
    render_method: Renderer,
) -> dict[str, Any] | None:
    """The answer to a billing request, or ``None`` when no billing route matches."""
    oid = rest[0] if rest else ""
    action = rest[1] if len(rest) > 1 else ""
    shape = (method, resource, len(rest), action)
    if shape == ("POST", "setup_intents", 0, ""):
        return dict(fake.create_setup_intent(customer_id=form["customer"], idempotency_key=key).raw)
    if shape == ("POST", "setup_intents", 2, "confirm"):
        return dict(
            fake.confirm_setup_intent(
                oid, payment_method_id=form["payment_method"], idempotency_key=key
            ).raw
        )
    if shape == ("GET", "setup_intents", 1, ""):
        return dict(fake.retrieve_setup_intent(oid).raw)
    if shape == ("GET", "payment_methods", 1, ""):
        return render_method(fake.retrieve_payment_method(oid))
    if shape == ("GET", "customers", 2, "payment_methods"):
        methods = fake.list_payment_methods(oid)
        return {
            "object": "list",
            "url": f"/v1/customers/{oid}/payment_methods",
            "has_more": False,
            "data": [render_method(m) for m in methods],
        }
    if shape == ("POST", "invoices", 1, "") and oid == "create_preview":
        return _invoice(fake.upcoming_invoice(form["subscription"]))
    if resource == "test_helpers" and rest[:1] == ["test_clocks"] and rest[2:] == ["advance"]:
        # Stripe's test clock: the one clock of the fake account moves, and it bills.
        fake.advance_clock(datetime.fromtimestamp(int(form["frozen_time"]), tz=UTC))
        return {"id": rest[1], "object": "test_helpers.test_clock", "status": "ready"}
    if shape == ("GET", "invoices", 1, ""):
        return _invoice(fake.retrieve_invoice(oid))
    if shape == ("POST", "invoices", 2, "pay"):
        return _invoice(
            fake.pay_invoice(oid, payment_method_id=form.get("payment_method"), idempotency_key=key)
        )
    if shape == ("POST", "invoices", 2, "void"):
        return _invoice(fake.void_invoice(oid, idempotency_key=key))
    if resource == "checkout" and rest[:1] == ["sessions"]:
        return _checkout(fake, method, rest[1:], form, key)
    return None


def _checkout(
    fake: FakeGateway, method: str, rest: list[str], form: dict[str, Any], key: str
) -> dict[str, Any] | None:
    if method == "GET" and len(rest) == 1:
        return dict(fake.retrieve_checkout_session(rest[0]).raw)
    if method != "POST" or rest:
        return None
    item = (form.get("line_items") or [{}])[0]
    quantity = item.get("quantity")
    return dict(
        fake.create_checkout_session(
            customer_id=form["customer"],
            mode=form["mode"],
            success_url=form["success_url"],
            cancel_url=form["cancel_url"],
            price_id=item.get("price"),
            quantity=1 if quantity is None else int(quantity),
            client_reference_id=form.get("client_reference_id"),
            metadata=form.get("metadata") or None,
            idempotency_key=key,
        ).raw
    )


def set_default_if_changed(
    fake: FakeGateway, customer_id: str, form: dict[str, Any], key: str
) -> None:
    """``POST /v1/customers/{id}`` with a new ``invoice_settings.default_payment_method``."""
    default = (form.get("invoice_settings") or {}).get("default_payment_method")
    if default and fake._default_method.get(customer_id) != default:
        fake.set_default_payment_method(customer_id, payment_method_id=default, idempotency_key=key)
