"""The logged-in user's own subscriptions in the web adapters.

Every route acts as the actor on the actor's own rows: another user's
subscription or saved card is ``not_found``, for staff too (the services let
SUPPORT and ADMIN manage anyone's; these are the customer's account pages, so
the owner is checked first). The services do the work:

* ``GET /subscriptions``: :func:`paykit.user_subscriptions` of the actor;
* ``POST /subscriptions``: :func:`paykit.subscribe` the actor to a recurring
  ``price_id``, charged to one of their saved cards (``payment_method_id``, a
  paykit id; without it the gateway customer's default), ``quantity`` seats, an
  optional ``discount_code``; the trial is the product's (a customer does not
  choose its length);
* ``POST /subscriptions/{id}/change``: :func:`paykit.change_subscription`, a new
  ``price_id`` and/or ``quantity``, now with prorations or ``at_period_end``;
* ``POST /subscriptions/{id}/cancel``: :func:`paykit.cancel_subscription`, at
  the period's end unless ``"at_period_end": false``, with an optional
  ``feedback`` (Stripe's reasons) and ``comment``;
* ``POST /subscriptions/{id}/resume``: :func:`paykit.resume_subscription`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StrictBool, StrictInt
from sqlalchemy.orm import Session

from paykit.contrib._models import SubscriptionViewOut
from paykit.contrib._routes_account import owned
from paykit.contrib._wire import Body, Request, Response, Route, json_object
from paykit.models import PaymentMethod, Subscription
from paykit.schemas import validate
from paykit.schemas.base import StrictModel
from paykit.services.catalog.queries import user_subscriptions
from paykit.services.subscriptions.changes import change_subscription
from paykit.services.subscriptions.lifecycle import cancel_subscription, resume_subscription
from paykit.services.subscriptions.subscribe import subscribe

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["BODIES", "HANDLERS", "ROUTES", "subscription_view"]

_Id = Annotated[str, Field(min_length=1, max_length=64)]


ROUTES: tuple[Route, ...] = (
    Route("list_subscriptions", "GET", "/subscriptions", "The actor's live subscriptions"),
    Route(
        "start_subscription",
        "POST",
        "/subscriptions",
        "Subscribe the actor to a recurring price, paid with one of their saved cards",
        201,
    ),
    Route(
        "change_subscription",
        "POST",
        "/subscriptions/{subscription_id}/change",
        "Change the price or seats of one of the actor's subscriptions",
    ),
    Route(
        "cancel_subscription",
        "POST",
        "/subscriptions/{subscription_id}/cancel",
        "Cancel one of the actor's subscriptions (at period end by default)",
    ),
    Route(
        "resume_subscription",
        "POST",
        "/subscriptions/{subscription_id}/resume",
        "Undo a pending cancellation of one of the actor's subscriptions",
    ),
)


class _StartBody(StrictModel):
    price_id: _Id
    payment_method_id: _Id | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] = 1
    discount_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class _ChangeBody(StrictModel):
    price_id: _Id | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)] | None = None
    at_period_end: StrictBool = False


class _CancelBody(StrictModel):
    at_period_end: StrictBool = True
    feedback: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    comment: Annotated[str, Field(max_length=500)] | None = None


def _own_subscription(session: Session, user_id: str, id: str) -> None:
    query = sa.select(Subscription.user_id).where(Subscription.id == id)
    owned(session, query, user_id, "subscription", id)


def _body(request: Request) -> dict[str, Any]:
    """The JSON object, or ``{}`` for an empty body."""
    return json_object(request.body) if request.body.strip() else {}


def subscription_view(row: Subscription) -> dict[str, Any]:
    """A subscription row as the adapters answer with it (JSON-safe)."""
    out: dict[str, Any] = SubscriptionViewOut.model_validate(row).model_dump(mode="json")
    return out


def _list_subscriptions(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    mine = user_subscriptions(session, actor=actor, user_id=actor.user_id)
    return Response(200, mine.model_dump(mode="json"))


def _start_subscription(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    body = validate(_StartBody, json_object(request.body))
    method = None
    if body.payment_method_id is not None:
        method_id = body.payment_method_id
        query = sa.select(PaymentMethod.user_id).where(PaymentMethod.id == method_id)
        owned(session, query, actor.user_id, "payment method", method_id)
        method = session.scalar(
            sa.select(PaymentMethod.stripe_payment_method_id).where(PaymentMethod.id == method_id)
        )
    row = subscribe(
        session,
        user_id=actor.user_id,
        price_id=body.price_id,
        gateway=core.gateway,
        quantity=body.quantity,
        discount_code=body.discount_code,
        payment_method_id=method,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
    )
    return Response(201, subscription_view(row))


def _on_own_subscription(
    core: PaykitHTTP,
    session: Session,
    request: Request,
    service: Callable[..., Subscription],
    body: type[StrictModel] | None = None,
) -> Response:
    """``service`` on the actor's own subscription named in the path; 200 with its view.

    The service gets the body's fields (validated by ``body``; no body is read
    without one), the gateway, the clock, the ``Idempotency-Key`` header and the
    actor. The checks run in this order: the actor, the body, the owner.
    """
    actor = core.actor(session, request)
    fields = {} if body is None else dict(validate(body, _body(request)))
    subscription_id = request.params["subscription_id"]
    _own_subscription(session, actor.user_id, subscription_id)
    row = service(
        session,
        subscription_id=subscription_id,
        gateway=core.gateway,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
        actor=actor,
        **fields,
    )
    return Response(200, subscription_view(row))


def _change_subscription(core: PaykitHTTP, session: Session, request: Request) -> Response:
    return _on_own_subscription(core, session, request, change_subscription, _ChangeBody)


def _cancel_subscription(core: PaykitHTTP, session: Session, request: Request) -> Response:
    return _on_own_subscription(core, session, request, cancel_subscription, _CancelBody)


def _resume_subscription(core: PaykitHTTP, session: Session, request: Request) -> Response:
    return _on_own_subscription(core, session, request, resume_subscription)


#: The JSON body of each route that reads one (see ``_http.BODIES``); resume reads none.
BODIES: dict[str, Body] = {
    "start_subscription": Body(_StartBody),
    "change_subscription": Body(_ChangeBody, optional=True),
    "cancel_subscription": Body(_CancelBody, optional=True),
}

HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "list_subscriptions": _list_subscriptions,
    "start_subscription": _start_subscription,
    "change_subscription": _change_subscription,
    "cancel_subscription": _cancel_subscription,
    "resume_subscription": _resume_subscription,
}
