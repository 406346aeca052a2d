"""The logged-in user's saved payment methods and download links in the web adapters.

The actor comes from the adapter's ``authenticate`` hook; each endpoint reads
or changes only the actor's own rows: another user's id is ``not_found``, for
staff too (the services let SUPPORT and ADMIN act on anyone's; these routes are
the customer's own account pages, so :func:`owned` checks the owner first).

* ``POST /payment-methods/setup``: :func:`paykit.start_payment_method_setup`
  for the actor; answers the SetupIntent's ``client_secret``, which the browser
  confirms with Stripe.js (the card is stored when ``setup_intent.succeeded``
  arrives at the webhook);
* ``GET /payment-methods``, ``POST /payment-methods/{id}/default``,
  ``DELETE /payment-methods/{id}``: list, make default, detach;
* ``POST /order-items/{id}/download-link``: a signed link for a paid digital item.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit.contrib._models import (
    DetachedOut,
    DownloadLinkOut,
    PaymentMethodListOut,
    PaymentMethodViewOut,
    SetupIntentOut,
)
from paykit.contrib._wire import Request, Response, Route
from paykit.errors import NotFound
from paykit.models import Order, OrderItem, PaymentMethod
from paykit.services.billing.payment_methods import (
    detach_payment_method,
    list_payment_methods,
    set_default_payment_method,
    start_payment_method_setup,
)
from paykit.services.downloads import download_link

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["HANDLERS", "ROUTES", "owned", "payment_method_view"]

ROUTES: tuple[Route, ...] = (
    Route(
        "start_payment_method_setup",
        "POST",
        "/payment-methods/setup",
        "Start saving a card for the actor: the SetupIntent's client secret",
        201,
    ),
    Route("list_payment_methods", "GET", "/payment-methods", "The actor's saved payment methods"),
    Route(
        "set_default_payment_method",
        "POST",
        "/payment-methods/{payment_method_id}/default",
        "Make one of the actor's saved payment methods the default",
    ),
    Route(
        "detach_payment_method",
        "DELETE",
        "/payment-methods/{payment_method_id}",
        "Detach one of the actor's saved payment methods",
    ),
    Route(
        "download_link",
        "POST",
        "/order-items/{order_item_id}/download-link",
        "A signed download link for a paid digital item the actor bought",
        201,
    ),
)


def owned(session: Session, query: sa.Select[Any], user_id: str, what: str, id: str) -> None:
    """``not_found`` unless ``query`` (the row's owner id) names ``user_id``."""
    if session.scalar(query) != user_id:
        raise NotFound(f"{what} {id} not found", details={f"{what.replace(' ', '_')}_id": id})


def _own_method(session: Session, user_id: str, id: str) -> None:
    query = sa.select(PaymentMethod.user_id).where(PaymentMethod.id == id)
    owned(session, query, user_id, "payment method", id)


def payment_method_view(row: PaymentMethod) -> dict[str, Any]:
    """A saved payment method as the adapters answer with it: card display data only."""
    out: dict[str, Any] = PaymentMethodViewOut.model_validate(row).model_dump(mode="json")
    return out


def _start_payment_method_setup(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    intent = start_payment_method_setup(
        session,
        user_id=actor.user_id,
        gateway=core.gateway,
        actor=actor,
        clock=core.clock,
        idempotency_key=request.header("Idempotency-Key"),
    )
    return Response(201, SetupIntentOut.model_validate(intent).model_dump(mode="json"))


def _list_payment_methods(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    rows = list_payment_methods(session, user_id=actor.user_id, actor=actor)
    items = [PaymentMethodViewOut.model_validate(row) for row in rows]
    return Response(200, PaymentMethodListOut(items=items).model_dump(mode="json"))


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
    return Response(200, DetachedOut(id=method_id, detached=True).model_dump(mode="json"))


def _download_link(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    item_id = request.params["order_item_id"]
    owner = sa.select(Order.user_id).join(OrderItem).where(OrderItem.id == item_id)
    owned(session, owner, actor.user_id, "order item", item_id)
    link = download_link(session, actor=actor, order_item_id=item_id, clock=core.clock)
    return Response(201, DownloadLinkOut.model_validate(link).model_dump(mode="json"))


HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "start_payment_method_setup": _start_payment_method_setup,
    "list_payment_methods": _list_payment_methods,
    "set_default_payment_method": _set_default_payment_method,
    "detach_payment_method": _detach_payment_method,
    "download_link": _download_link,
}
