"""The logged-in user's own billing endpoints of the web adapters.

The actor comes from the adapter's ``authenticate`` hook; each endpoint reads
or changes only the actor's own rows: another user's id is ``not_found``, for
staff too (the services let SUPPORT and ADMIN act on anyone's; these routes are
the customer's own account pages, so :func:`_owned` checks the owner first).

* ``GET /subscriptions``: :func:`paykit.user_subscriptions` of the actor (the
  TRIALING and ACTIVE ones, and the default payment method);
* ``POST /subscriptions/{subscription_id}/cancel``:
  :func:`paykit.cancel_subscription`, at the period's end unless the body says
  ``"at_period_end": false``; ``feedback`` and ``comment`` are optional.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StrictBool
from sqlalchemy.orm import Session

from paykit.contrib._wire import Request, Response, json_object
from paykit.errors import NotFound
from paykit.models import Order, OrderItem, PaymentMethod, Subscription
from paykit.schemas import validate
from paykit.schemas.base import StrictModel
from paykit.services.billing.payment_methods import (
    detach_payment_method,
    list_payment_methods,
    set_default_payment_method,
)
from paykit.services.catalog.queries import user_subscriptions
from paykit.services.downloads import download_link
from paykit.services.subscriptions.lifecycle import cancel_subscription

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["HANDLERS", "payment_method_view", "subscription_view"]

_CARD_FIELDS = ("brand", "last4", "exp_month", "exp_year", "funding", "country")


class _CancelBody(StrictModel):
    at_period_end: StrictBool = True
    feedback: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    comment: Annotated[str, Field(max_length=500)] | None = None


def _owned(session: Session, query: sa.Select[Any], user_id: str, what: str, id: str) -> None:
    """``not_found`` unless ``query`` (the row's owner id) names ``user_id``."""
    if session.scalar(query) != user_id:
        raise NotFound(f"{what} {id} not found", details={f"{what.replace(' ', '_')}_id": id})


def _own_subscription(session: Session, user_id: str, id: str) -> None:
    query = sa.select(Subscription.user_id).where(Subscription.id == id)
    _owned(session, query, user_id, "subscription", id)


def _own_method(session: Session, user_id: str, id: str) -> None:
    query = sa.select(PaymentMethod.user_id).where(PaymentMethod.id == id)
    _owned(session, query, user_id, "payment method", id)


def _list_subscriptions(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    mine = user_subscriptions(session, actor=actor, user_id=actor.user_id)
    return Response(200, mine.model_dump(mode="json"))


def _cancel_subscription(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    body = validate(_CancelBody, json_object(request.body) if request.body.strip() else {})
    _own_subscription(session, actor.user_id, request.params["subscription_id"])
    row = cancel_subscription(
        session,
        subscription_id=request.params["subscription_id"],
        gateway=core.gateway,
        at_period_end=body.at_period_end,
        feedback=body.feedback,
        comment=body.comment,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
        actor=actor,
    )
    return Response(200, subscription_view(row))


def subscription_view(row: Subscription) -> dict[str, Any]:
    """A subscription row as the adapters answer with it (JSON-safe)."""
    return {
        "id": row.id,
        "status": row.status.value,
        "product_id": row.product_id,
        "price_id": row.price_id,
        "quantity": row.quantity,
        "unit_amount": str(row.unit_amount),
        "currency": row.currency,
        "current_period_start": row.current_period_start.isoformat(),
        "current_period_end": row.current_period_end.isoformat(),
        "cancel_at_period_end": row.cancel_at_period_end,
        "canceled_at": row.canceled_at.isoformat() if row.canceled_at else None,
        "cancellation_feedback": row.cancellation_feedback,
    }


def _list_payment_methods(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    rows = list_payment_methods(session, user_id=actor.user_id, actor=actor)
    return Response(200, {"items": [payment_method_view(row) for row in rows]})


def _set_default_payment_method(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    _own_method(session, actor.user_id, request.params["payment_method_id"])
    row = set_default_payment_method(
        session,
        payment_method_id=request.params["payment_method_id"],
        gateway=core.gateway,
        actor=actor,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
    )
    return Response(200, payment_method_view(row))


def _detach_payment_method(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    method_id = request.params["payment_method_id"]
    _own_method(session, actor.user_id, method_id)
    detach_payment_method(
        session,
        payment_method_id=method_id,
        gateway=core.gateway,
        actor=actor,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
    )
    return Response(200, {"id": method_id, "detached": True})


def _download_link(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    item_id = request.params["order_item_id"]
    owner = sa.select(Order.user_id).join(OrderItem).where(OrderItem.id == item_id)
    _owned(session, owner, actor.user_id, "order item", item_id)
    link = download_link(session, actor=actor, order_item_id=item_id, clock=core.clock)
    view = {
        "token": link.token,
        "order_item_id": link.order_item_id,
        "expires_at": link.expires_at.isoformat(),
    }
    return Response(201, view)


def payment_method_view(row: PaymentMethod) -> dict[str, Any]:
    """A saved payment method as the adapters answer with it: card display data only."""
    card = row.card if isinstance(row.card, dict) else {}
    return {
        "id": row.id,
        "type": row.type,
        "is_default": row.is_default,
        "card": {k: card[k] for k in _CARD_FIELDS if k in card} or None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }


HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "list_subscriptions": _list_subscriptions,
    "cancel_subscription": _cancel_subscription,
    "list_payment_methods": _list_payment_methods,
    "set_default_payment_method": _set_default_payment_method,
    "detach_payment_method": _detach_payment_method,
    "download_link": _download_link,
}
