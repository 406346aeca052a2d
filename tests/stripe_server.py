"""A local HTTP server that answers like Stripe, for offline tests of ``StripeGateway``.

It listens on 127.0.0.1 (an ephemeral port) in a thread, records every request
(method, path, headers, decoded form body), and answers the v1 endpoints
``StripeGateway`` uses. The account's state and Stripe's semantics
(idempotency keys, declines, refund caps, subscriptions) come from a
``FakeGateway`` it delegates to; the answers are rendered as Stripe JSON from
Stripe's published example objects that ship in ``paykit.testing`` (see
``src/paykit/testing/stripe_fixtures/README.md`` for their source and
licence). Tests can also script answers (a 429, a 500, a dropped connection)
for the next requests.

Also here: ``make_event`` and ``sign``, the webhook tests' shorthands for
``paykit.testing.stripe_event`` and ``paykit.testing.sign_webhook``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.stripe_server_billing import billing_route, set_default_if_changed
from tests.stripe_server_subscriptions import billing_update

from paykit.clock import Clock
from paykit.errors import (
    GatewayError,
    GatewayUnavailable,
    IdempotencyConflict,
    NotFound,
    PaykitError,
    PaymentDeclined,
    ValidationError,
)
from paykit.gateways import FakeGateway, GatewayPayment, GatewayPaymentMethod, GatewayRefund
from paykit.testing import sign_webhook, stripe_event, stripe_object


def fixture(name: str) -> dict[str, Any]:
    """A fresh copy of one of Stripe's example objects (``customer``, ``invoice``, ...)."""
    return stripe_object(name)


_FIXTURES: dict[str, dict[str, Any]] = {}


def _base(name: str) -> dict[str, Any]:
    if name not in _FIXTURES:
        _FIXTURES[name] = fixture(name)
    return copy.deepcopy(_FIXTURES[name])


# --------------------------------------------------------------------- form decoding


def _unflatten(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """``items[0][price]=x`` → ``{"items": [{"price": "x"}]}`` (Stripe's form encoding)."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(value: Any) -> Any:
        if isinstance(value, dict):
            if value and all(k.isdigit() for k in value):
                return [listify(value[k]) for k in sorted(value, key=int)]
            return {k: listify(v) for k, v in value.items()}
        return value

    result: dict[str, Any] = listify(root)
    return result


def _from_ts(value: Any) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(int(value), tz=UTC)


def _bool(value: Any) -> bool:
    return str(value).lower() == "true"


# --------------------------------------------------------------------- rendering


def render_payment(
    payment: GatewayPayment, *, charge: dict[str, Any] | None = None
) -> dict[str, Any]:
    obj = _base("payment_intent")
    obj.update(
        id=payment.id,
        amount=payment.amount_minor,
        amount_received=payment.amount_minor if payment.status == "succeeded" else 0,
        currency=payment.currency.lower(),
        status=str(payment.status),
        customer=payment.customer_id,
        payment_method=payment.payment_method_id,
        client_secret=payment.client_secret,
        metadata=dict(payment.metadata),
        created=None if payment.created is None else int(payment.created.timestamp()),
        next_action=None,
        canceled_at=None,
        latest_charge=charge if charge is not None else None,
        last_payment_error=(
            None
            if payment.decline_code is None
            else {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": payment.decline_code,
                "message": "Your card was declined.",
            }
        ),
    )
    return obj


def render_refund(refund: GatewayRefund) -> dict[str, Any]:
    obj = _base("refund")
    obj.update(
        id=refund.id,
        amount=refund.amount_minor,
        currency=refund.currency.lower(),
        payment_intent=refund.payment_id,
        status=str(refund.status),
        reason=refund.reason,
        failure_reason=refund.failure_reason,
        metadata={},
    )
    return obj


def render_payment_method(method: GatewayPaymentMethod) -> dict[str, Any]:
    obj = _base("payment_method")
    obj.update(id=method.id, customer=method.customer_id, type=method.type)
    obj["card"].update(dict(method.card or {}))
    return obj


def render_customer(customer_id: str, email: str, name: str | None) -> dict[str, Any]:
    obj = _base("customer")
    obj.update(id=customer_id, email=email, name=name, metadata={})
    return obj


# --------------------------------------------------------------------- the server


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, Any]
    raw_body: str

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class Scripted:
    """A canned answer for the next matching request (``status`` 0 drops the connection)."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    path_contains: str | None = None


class StripeServer:
    """The server; ``url`` is its base address, ``fake`` the account behind it."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self.fake = FakeGateway(clock=clock)
        self.requests: list[RecordedRequest] = []
        self._script: deque[Scripted] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StripeServer:
        """Start serving in a daemon thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(
        self,
        status: int,
        *,
        error_type: str = "api_error",
        message: str = "scripted",
        code: str | None = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        path_contains: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with this error (status 0: hang up)."""
        body = {"error": {"type": error_type, "message": message, "code": code}}
        with self._lock:
            for _ in range(times):
                self._script.append(Scripted(status, body, dict(headers or {}), path_contains))

    def posts(self) -> list[RecordedRequest]:
        """The recorded POST requests, in order."""
        return [r for r in self.requests if r.method == "POST"]

    # ----------------------------------------------------------------- plumbing

    def _take_script(self, path: str) -> Scripted | None:
        with self._lock:
            for entry in self._script:
                if entry.path_contains is None or entry.path_contains in path:
                    self._script.remove(entry)
                    return entry
        return None

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                query = parse_qsl(parts.query, keep_blank_values=True)
                form = _unflatten(parse_qsl(raw, keep_blank_values=True) + query)
                recorded = RecordedRequest(
                    self.command, parts.path, dict(self.headers.items()), form, raw
                )
                with server._lock:
                    server.requests.append(recorded)
                scripted = server._take_script(parts.path)
                if scripted is not None and scripted.status == 0:
                    # Hang up without an answer: the client cannot know what happened.
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if scripted is not None:
                    self._send(scripted.status, scripted.body or {}, scripted.headers)
                    return
                key = recorded.header("Idempotency-Key") or f"auto-{uuid.uuid4().hex}"
                try:
                    status, body = server._route(self.command, parts.path, form, key)
                except PaykitError as exc:
                    status, body = server._error(exc)
                self._send(status, body, {})

            def _send(self, status: int, body: dict[str, Any], headers: Mapping[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _handle

        return Handler

    def _error(self, exc: PaykitError) -> tuple[int, dict[str, Any]]:
        if isinstance(exc, PaymentDeclined):
            payment_id = exc.details.get("payment_id")
            error: dict[str, Any] = {
                "type": "card_error",
                "code": "card_declined",
                "decline_code": exc.decline_code,
                "message": exc.message,
            }
            if payment_id:
                error["payment_intent"] = render_payment(self.fake.payments[payment_id])
            return 402, {"error": error}
        if isinstance(exc, NotFound):
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "code": "resource_missing",
                    "message": exc.message,
                    "param": "id",
                }
            }
        if isinstance(exc, IdempotencyConflict):
            return 400, {"error": {"type": "idempotency_error", "message": exc.message}}
        if isinstance(exc, GatewayUnavailable):
            return 500, {"error": {"type": "api_error", "message": exc.message}}
        if isinstance(exc, ValidationError | GatewayError):
            # Stripe's own codes (amount_too_small, ...) pass through as Stripe sends them.
            code = exc.code if exc.code != "validation_error" else "parameter_invalid"
            return 400, {
                "error": {"type": "invalid_request_error", "code": code, "message": exc.message}
            }
        return 500, {"error": {"type": "api_error", "message": exc.message}}

    def _charge(self, payment_id: str) -> dict[str, Any]:
        payment = self.fake.payments[payment_id]
        charge = _base("charge")
        charge.update(
            id=f"ch_{payment_id}",
            amount=payment.amount_minor,
            amount_refunded=self.fake.amount_refunded(payment_id),
            currency=payment.currency.lower(),
            payment_intent=payment_id,
        )
        return charge

    def _route(
        self, method: str, path: str, form: dict[str, Any], key: str
    ) -> tuple[int, dict[str, Any]]:
        fake = self.fake
        segments = path.strip("/").split("/")[1:]  # drop "v1"
        resource, rest = segments[0], segments[1:]
        routes: dict[tuple[str, str, int, str], Callable[[], dict[str, Any]]] = {}

        def route(verb: str, name: str, size: int, action: str = "") -> Callable[..., Any]:
            def register(fn: Callable[[], dict[str, Any]]) -> Callable[[], dict[str, Any]]:
                routes[(verb, name, size, action)] = fn
                return fn

            return register

        oid = rest[0] if rest else ""
        metadata = form.get("metadata") or {}

        @route("POST", "customers", 0)
        def create_customer() -> dict[str, Any]:
            customer = fake.create_customer(
                email=form["email"], name=form.get("name"), metadata=metadata, idempotency_key=key
            )
            return render_customer(customer.id, customer.email, customer.name)

        @route("POST", "customers", 1)
        def update_customer() -> dict[str, Any]:
            # After an attach the fake already made the method the default; a
            # later change of the default goes through the fake (billing routes).
            set_default_if_changed(fake, oid, form, key)
            customer = fake.customers.get(oid)
            if customer is None:
                raise NotFound(f"No such customer: '{oid}'")
            return render_customer(customer.id, customer.email, customer.name)

        @route("POST", "payment_intents", 0)
        def create_payment() -> dict[str, Any]:
            return render_payment(
                fake.create_payment(
                    amount_minor=int(form["amount"]),
                    currency=form["currency"],
                    customer_id=form.get("customer"),
                    payment_method_id=form.get("payment_method"),
                    confirm=_bool(form.get("confirm")),
                    metadata=metadata,
                    idempotency_key=key,
                )
            )

        @route("GET", "payment_intents", 0)
        def list_payments() -> dict[str, Any]:
            created = form.get("created") or {}
            payments = [
                render_payment(payment)
                for payment in fake.list_payments(
                    created_from=_from_ts(created.get("gte")),
                    created_to=_from_ts(created.get("lt")),
                )
            ]
            after = form.get("starting_after")
            if after is not None:
                ids = [p["id"] for p in payments]
                payments = payments[ids.index(after) + 1 :]
            limit = int(form.get("limit") or 10)
            return {
                "object": "list",
                "url": "/v1/payment_intents",
                "has_more": len(payments) > limit,
                "data": payments[:limit],
            }

        @route("GET", "payment_intents", 1)
        def retrieve_payment() -> dict[str, Any]:
            payment = fake.retrieve_payment(oid)
            expand = form.get("expand") or []
            charge = self._charge(oid) if "latest_charge" in expand else None
            return render_payment(payment, charge=charge)

        @route("POST", "payment_intents", 1)
        def update_payment() -> dict[str, Any]:
            return render_payment(
                fake.update_payment_amount(
                    oid, amount_minor=int(form["amount"]), idempotency_key=key
                )
            )

        @route("POST", "payment_intents", 2, "confirm")
        def confirm_payment() -> dict[str, Any]:
            return render_payment(
                fake.confirm_payment(
                    oid, payment_method_id=form.get("payment_method"), idempotency_key=key
                )
            )

        @route("POST", "payment_intents", 2, "cancel")
        def cancel_payment() -> dict[str, Any]:
            return render_payment(fake.cancel_payment(oid, idempotency_key=key))

        @route("POST", "refunds", 0)
        def create_refund() -> dict[str, Any]:
            return render_refund(
                fake.create_refund(
                    payment_id=form["payment_intent"],
                    amount_minor=int(form["amount"]),
                    reason=form.get("reason"),
                    metadata=metadata,
                    idempotency_key=key,
                )
            )

        @route("GET", "refunds", 1)
        def retrieve_refund() -> dict[str, Any]:
            return render_refund(fake.retrieve_refund(oid))

        @route("POST", "payment_methods", 2, "attach")
        def attach() -> dict[str, Any]:
            return render_payment_method(
                fake.attach_payment_method(oid, customer_id=form["customer"], idempotency_key=key)
            )

        @route("POST", "payment_methods", 2, "detach")
        def detach() -> dict[str, Any]:
            return render_payment_method(fake.detach_payment_method(oid, idempotency_key=key))

        @route("GET", "prices", 1)
        def retrieve_price() -> dict[str, Any]:
            return dict(fake.retrieve_price(oid).raw)

        @route("GET", "products", 1)
        def retrieve_product() -> dict[str, Any]:
            return dict(fake.retrieve_product(oid).raw)

        @route("GET", "subscriptions", 1)
        def retrieve_subscription() -> dict[str, Any]:
            return dict(fake.retrieve_subscription(oid).raw)

        @route("POST", "subscriptions", 0)
        def create_subscription() -> dict[str, Any]:
            item = form["items"][0]
            discounts = form.get("discounts") or [{}]
            trial = form.get("trial_period_days")
            settings = (form.get("trial_settings") or {}).get("end_behavior") or {}
            return dict(
                fake.create_subscription(
                    customer_id=form["customer"],
                    price_id=item["price"],
                    quantity=int(item.get("quantity", 1)),
                    trial_days=None if trial is None else int(trial),
                    coupon=discounts[0].get("coupon"),
                    payment_method_id=form.get("default_payment_method"),
                    trial_end_behavior=settings.get("missing_payment_method"),
                    idempotency_key=key,
                ).raw
            )

        @route("POST", "subscriptions", 1)
        def update_subscription() -> dict[str, Any]:
            billed = billing_update(fake, oid, form, key)  # tests/stripe_server_subscriptions.py
            if billed is not None:
                return billed
            item = (form.get("items") or [{}])[0]
            flag = form.get("cancel_at_period_end")
            if flag is not None and _bool(flag) and "items" not in form:
                return dict(
                    fake.cancel_subscription(oid, at_period_end=True, idempotency_key=key).raw
                )
            if flag is not None and not _bool(flag) and "items" not in form:
                current = fake.retrieve_subscription(oid)
                if current.cancel_at_period_end:
                    return dict(fake.resume_subscription(oid, idempotency_key=key).raw)
            quantity = item.get("quantity")
            return dict(
                fake.update_subscription(
                    oid,
                    price_id=item.get("price"),
                    quantity=None if quantity is None else int(quantity),
                    cancel_at_period_end=None if flag is None else _bool(flag),
                    idempotency_key=key,
                ).raw
            )

        @route("DELETE", "subscriptions", 1)
        def cancel_subscription() -> dict[str, Any]:
            return dict(fake.cancel_subscription(oid, at_period_end=False, idempotency_key=key).raw)

        @route("POST", "subscriptions", 2, "resume")
        def resume_subscription() -> dict[str, Any]:
            return dict(fake.resume_subscription(oid, idempotency_key=key).raw)

        action = rest[1] if len(rest) > 1 else ""
        handler = routes.get((method, resource, len(rest), action))
        if handler is None:
            billing = billing_route(fake, method, resource, rest, form, key, render_payment_method)
            if billing is not None:
                return 200, billing
            return 404, {
                "error": {
                    "type": "invalid_request_error",
                    "message": f"Unrecognized request URL ({method}: {path}).",
                }
            }
        return 200, handler()


def serve(clock: Clock | None = None) -> Iterator[StripeServer]:
    """Generator for a pytest fixture: a started server, stopped afterwards."""
    server = StripeServer(clock=clock).start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------- webhook helpers


def make_event(
    event_type: str,
    obj: Mapping[str, Any],
    *,
    created: int,
    event_id: str | None = None,
    previous_attributes: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A Stripe-shaped event (from Stripe's example ``event``) carrying ``obj`` as is."""
    return stripe_event(
        event_type,
        object=obj,
        id=event_id,
        created=created,
        previous_attributes=previous_attributes,
    )


def sign(payload: bytes | str, secret: str, *, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe would send: ``t=<ts>,v1=<HMAC-SHA256>``."""
    return sign_webhook(payload, secret, timestamp)
