"""The framework-neutral core of paykit's web adapters.

A web framework hands :meth:`PaykitHTTP.dispatch` a :class:`Request` (method,
path parameters, query, headers, the raw body) for one of :data:`ROUTES`, and
sends back the :class:`Response` it gets. Everything else lives here, once:

* one database session per request, committed when the call succeeds and
  rolled back when it raises (checkout commits the placed order before it
  charges, so a declined card leaves a retryable order, as ``pay_order`` wants;
  a webhook's inbox row is committed whatever the outcome);
* the actor, from the host's ``authenticate`` callable (default:
  :func:`bearer_session`, a paykit session token from ``Authorization: Bearer``
  or the ``paykit_session`` cookie); no actor is ``authentication_required``;
* the body: at most ``max_body`` bytes (the webhook: at least 1 MiB)
  (``request_too_large``, 413), a JSON
  object (``invalid_json``, 400), validated by paykit's pydantic schemas;
* every :class:`~paykit.errors.PaykitError` as RFC 9457 ``application/problem+json``
  with its stable ``code`` and its ``http_status``;
* the ``Idempotency-Key`` header, passed to the service as its ``idempotency_key``.

The quote, checkout, orders, refunds and webhook handlers are methods here; the
catalog and review handlers live in :mod:`paykit.contrib._routes_catalog`, the
actor's subscriptions in :mod:`paykit.contrib._routes_subscriptions`, their
payment methods and download links in :mod:`paykit.contrib._routes_account`, the
admin catalog in :mod:`paykit.contrib._routes_admin` (each with its ``ROUTES``
and ``HANDLERS`` by route name; a handler takes this object, the session and the
request). Route, Request and Response are in :mod:`paykit.contrib._wire`, the
answers' pydantic models in :mod:`paykit.contrib._models`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.orm import Session

from paykit.clock import Clock
from paykit.contrib import (
    _routes_account,
    _routes_admin,
    _routes_catalog,
    _routes_subscriptions,
)
from paykit.contrib._wire import Body, PageQuery, Request, Response, Route
from paykit.contrib._wire import json_object as _json_object
from paykit.errors import AuthenticationError, PaykitError, PaymentDeclined, ValidationError
from paykit.gateways.base import PaymentGateway
from paykit.models import OrderStatus, Refund, RefundReason, User
from paykit.notifications.outbox import Notifier, attach_notifier
from paykit.schemas import PlaceOrderInput, validate
from paykit.schemas.base import StrictModel
from paykit.schemas.orders import OrderLine
from paykit.security.policy import Actor
from paykit.services.orders import place_order
from paykit.services.payments import pay_order
from paykit.services.quotes import quote_order
from paykit.services.reads import get_order, list_orders
from paykit.services.refunds import issue_refund
from paykit.services.users.sessions import validate_session
from paykit.stripe.webhooks import handle_webhook

__all__ = [
    "BODIES",
    "DEFAULT_MAX_BODY",
    "ROUTES",
    "WEBHOOK_MAX_BODY",
    "PaykitHTTP",
    "Request",
    "Response",
    "Route",
    "bearer_session",
    "problem",
]

log = logging.getLogger("paykit.contrib")

DEFAULT_MAX_BODY = 64 * 1024
"""The largest request body the adapters read, in bytes (a cart is far smaller)."""

WEBHOOK_MAX_BODY = 1024 * 1024
"""The largest webhook body: a Stripe event (an invoice with many lines) can pass 64 KiB."""

PROBLEM_JSON = "application/problem+json"
BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})
"""The methods whose request body the adapters read."""
SESSION_COOKIE = "paykit_session"

#: The endpoints that live in the ``_routes_*`` modules, by route name.
_HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    **_routes_catalog.HANDLERS,
    **_routes_subscriptions.HANDLERS,
    **_routes_account.HANDLERS,
    **_routes_admin.HANDLERS,
}

#: The adapters' own refusals, which no service raises: HTTP's own statuses fit better.
_STATUS = {"invalid_json": 400, "request_too_large": 413}


Authenticate = Callable[[Session, Request], Actor | User | None]
"""The host's hook: the actor of a request (or None when it names nobody)."""


ROUTES: tuple[Route, ...] = (
    Route("quote", "POST", "/quote", "Price a cart, writing nothing"),
    Route("checkout", "POST", "/checkout", "Place an order and charge it", 201),
    Route("list_orders", "GET", "/orders", "The actor's orders, newest first"),
    Route("get_order", "GET", "/orders/{order_id}", "One order the actor may see"),
    Route("refund", "POST", "/orders/{order_id}/refunds", "Refund an order (staff)", 201),
    *_routes_catalog.ROUTES,
    *_routes_subscriptions.ROUTES,
    *_routes_account.ROUTES,
    *_routes_admin.ROUTES,
    Route(
        "webhook",
        "POST",
        "/webhooks/stripe",
        "Stripe webhook endpoint",
        auth=False,
        max_body=WEBHOOK_MAX_BODY,
    ),
)


def problem(exc: PaykitError) -> Response:
    """``exc`` as an RFC 9457 problem: type, title, status, detail, code and its details."""
    status = _STATUS.get(exc.code, exc.http_status)
    body: dict[str, Any] = {
        "type": f"urn:paykit:error:{exc.code}",
        "title": exc.code.replace("_", " ").capitalize(),
        "status": status,
        "detail": exc.message,
        "code": exc.code,
    }
    body.update({k: v for k, v in exc.details.items() if k not in body})
    return Response(status, _jsonable(body), PROBLEM_JSON)


def bearer_session(session: Session, request: Request, *, clock: Clock | None = None) -> Actor:
    """The default ``authenticate``: a paykit session token, from a bearer header or cookie.

    No token is ``authentication_required``; an unknown, expired or revoked one
    is ``invalid_token`` (both 401).
    """
    header = request.header("Authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        token = request.cookies.get(SESSION_COOKIE, "")
    if not token.strip():
        raise AuthenticationError(
            "this endpoint needs a session token", code="authentication_required"
        )
    return Actor.of(validate_session(session, token.strip(), clock=clock).user)


class _QuoteBody(StrictModel):
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    discount_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class _RefundBody(StrictModel):
    reason: RefundReason = RefundReason.REQUESTED_BY_CUSTOMER
    amount: Annotated[str, Field(pattern=r"^\d{1,8}(\.\d{1,2})?$")] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None


class _ListQuery(PageQuery):
    status: Annotated[str, Field(min_length=1, max_length=32)] | None = None


#: The JSON body of each route that reads one, as its handler validates it (the
#: OpenAPI schema shows it). The other POST routes read no body; the webhook's
#: is Stripe's event, checked by its signature.
BODIES: Mapping[str, Body] = {
    "quote": Body(_QuoteBody),
    "checkout": Body(PlaceOrderInput, from_server=("customer_id",)),
    "refund": Body(_RefundBody),
    **_routes_catalog.BODIES,
    **_routes_subscriptions.BODIES,
    **_routes_admin.BODIES,
}


@dataclass
class PaykitHTTP:
    """paykit's endpoints bound to a host: where sessions come from, the gateway, the actor.

    ``bind`` is an Engine (or anything a ``Session`` binds to) or a zero-argument
    session factory (``sessionmaker``). ``authenticate(session, request)`` returns
    the request's ``Actor`` (or a loaded ``User``), or None, which is refused as
    ``authentication_required``. ``webhook_secrets`` are the Stripe endpoint
    signing secrets (the webhook route refuses every delivery without one).
    ``notifier`` is attached to every request's session (``attach_notifier``), so
    paykit's events (order paid, payment failed, refund issued) reach it after the
    request's commit, and never for a request that was rolled back.
    """

    bind: sa.Engine | Callable[[], Session]
    gateway: PaymentGateway
    authenticate: Authenticate | None = None
    clock: Clock | None = None
    webhook_secrets: Sequence[str] = ()
    max_body: int = DEFAULT_MAX_BODY
    routes: tuple[Route, ...] = ROUTES
    notifier: Notifier | None = None

    def limit(self, route: Route) -> int:
        """The largest body ``route`` accepts, in bytes."""
        return self.max_body if route.max_body is None else max(route.max_body, self.max_body)

    def session(self) -> Session:
        """A new session for one request, with the notifier attached."""
        if isinstance(self.bind, sa.Engine):
            session = Session(self.bind, expire_on_commit=False)
        else:
            session = self.bind()
        if self.notifier is not None:
            attach_notifier(session, self.notifier)
        return session

    def dispatch(self, route: Route, request: Request) -> Response:
        """Run ``route`` for ``request``: one session, committed on success, else rolled back."""
        try:
            limit = self.limit(route)
            if len(request.body) > limit:
                raise ValidationError(
                    f"the body is larger than {limit} bytes",
                    code="request_too_large",
                    details={"max_bytes": limit},
                )
            handler = self._handler(route)
            with self.session() as session:
                try:
                    response = handler(session, request)
                except BaseException:
                    session.rollback()
                    raise
                session.commit()
                return response
        except PaykitError as exc:
            return problem(exc)
        except Exception:
            log.exception("paykit %s failed", route.name)
            body = {"type": "about:blank", "title": "Internal server error", "status": 500}
            return Response(500, {**body, "code": "internal_error"}, PROBLEM_JSON)

    def _handler(self, route: Route) -> Callable[[Session, Request], Response]:
        extra = _HANDLERS.get(route.name)
        if extra is not None:
            return functools.partial(extra, self)
        found: Callable[[Session, Request], Response] = getattr(self, f"_{route.name}")
        return found

    # -- the endpoints ---------------------------------------------------------------

    def _actor(self, session: Session, request: Request) -> Actor:
        return self.actor(session, request)

    def actor(self, session: Session, request: Request) -> Actor:
        """The request's actor from the ``authenticate`` hook, or ``authentication_required``."""
        hook = self.authenticate
        found = (
            hook(session, request)
            if hook is not None
            else bearer_session(session, request, clock=self.clock)
        )
        if isinstance(found, User):
            return Actor.of(found)
        if isinstance(found, Actor):
            return found
        raise AuthenticationError(
            "this endpoint needs an authenticated user", code="authentication_required"
        )

    def _quote(self, session: Session, request: Request) -> Response:
        actor = self._actor(session, request)
        body = validate(_QuoteBody, _json_object(request.body))
        quote = quote_order(
            session,
            customer_id=actor.user_id,
            items=[line.model_dump() for line in body.items],
            discount_code=body.discount_code,
            clock=self.clock,
        )
        return Response(200, _jsonable(quote))

    def _checkout(self, session: Session, request: Request) -> Response:
        actor = self._actor(session, request)
        data = _json_object(request.body)
        if "customer_id" in data:
            raise ValidationError(
                "customer_id comes from the session, not the body",
                errors=[{"loc": ["customer_id"], "msg": "not allowed", "type": "extra_forbidden"}],
            )
        order_input = validate(PlaceOrderInput, {**data, "customer_id": actor.user_id})
        key = request.header("Idempotency-Key")
        placed = place_order(
            session,
            **order_input.model_dump(exclude_none=True, mode="json"),
            gateway=self.gateway,
            clock=self.clock,
            idempotency_key=key,
        )
        order_id, payment = placed.order.id, placed.payment
        if order_input.payment_method_id is not None and placed.order.status is OrderStatus.PENDING:
            # The placed order is committed first: a declined card then leaves a
            # PENDING order the customer can pay with another card.
            session.commit()
            try:
                payment = pay_order(
                    session, order_id=order_id, gateway=self.gateway, clock=self.clock
                ).payment
            except PaymentDeclined:
                session.commit()  # keep the declined attempt's audit row
                raise
        view = get_order(session, actor=actor, order_id=order_id).model_dump(mode="json")
        view["payment"]["client_secret"] = payment.client_secret
        return Response(201, view)

    def _list_orders(self, session: Session, request: Request) -> Response:
        actor = self._actor(session, request)
        query = validate(_ListQuery, dict(request.query))
        page = list_orders(
            session,
            actor=actor,
            status=query.status,
            limit=query.limit,
            cursor=query.cursor,
        )
        return Response(200, page.model_dump(mode="json"))

    def _get_order(self, session: Session, request: Request) -> Response:
        actor = self._actor(session, request)
        order = get_order(session, actor=actor, order_id=request.params["order_id"])
        return Response(200, order.model_dump(mode="json"))

    def _refund(self, session: Session, request: Request) -> Response:
        actor = self._actor(session, request)
        body = validate(_RefundBody, _json_object(request.body))
        refund = issue_refund(
            session,
            order_id=request.params["order_id"],
            reason=body.reason,
            amount=body.amount,
            notes=body.notes,
            actor=actor,
            gateway=self.gateway,
            clock=self.clock,
            idempotency_key=request.header("Idempotency-Key"),
        )
        return Response(201, _refund_view(refund))

    def _webhook(self, session: Session, request: Request) -> Response:
        result = handle_webhook(
            session,
            request.body,
            request.header("Stripe-Signature"),
            secrets=list(self.webhook_secrets),
            gateway=self.gateway,
            clock=self.clock,
        )
        error = result.body.get("error") if result.status_code >= 400 else None
        if isinstance(error, Mapping) and isinstance(error.get("code"), str):
            body = {k: v for k, v in error.items() if k not in ("code", "message")}
            return Response(
                result.status_code,
                _jsonable(
                    {
                        "type": f"urn:paykit:error:{error['code']}",
                        "title": str(error["code"]).replace("_", " ").capitalize(),
                        "status": result.status_code,
                        "detail": str(error.get("message", "")),
                        "code": error["code"],
                        **body,
                    }
                ),
                PROBLEM_JSON,
            )
        return Response(result.status_code, _jsonable(result.body))


def _refund_view(refund: Refund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "order_id": refund.order_id,
        "amount": str(refund.amount),
        "currency": refund.currency,
        "reason": refund.reason.value,
        "status": refund.status.value,
        "gateway_refund_id": refund.stripe_refund_id,
    }


def _jsonable(value: Any) -> Any:
    """Dataclasses, Decimals (as strings), datetimes, enums: JSON-safe, recursively."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    return value
