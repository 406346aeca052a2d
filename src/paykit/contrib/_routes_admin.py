"""The admin catalog endpoints of the web adapters: products and prices, staff only.

The services check the actor against paykit's policy (``product.manage``,
``price.manage``: ADMIN) and validate the body with :mod:`paykit.schemas.admin`;
a customer gets ``permission_denied`` (403) and nothing is written.

* ``POST /admin/products``: :func:`paykit.create_product` (a ``ProductInput``
  body); answers the product as ``GET /products/{id}`` shows it (drafts too);
* ``PATCH /admin/products/{product_id}``: :func:`paykit.update_product` (a
  ``ProductUpdate``: the fields given change);
* ``POST /admin/products/{product_id}/prices``: :func:`paykit.create_price` (a
  ``PriceInput``);
* ``PATCH /admin/prices/{price_id}``: :func:`paykit.set_price_active`
  (``{"active": false}`` retires a price; prices are never deleted).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pydantic import StrictBool
from sqlalchemy.orm import Session

from paykit.contrib._models import PriceAdminOut
from paykit.contrib._wire import Body, Request, Response, Route, json_object, with_body
from paykit.schemas.admin import PriceInput, ProductInput, ProductUpdate
from paykit.schemas.base import StrictModel
from paykit.services.admin import create_price, create_product, set_price_active, update_product
from paykit.services.catalog.products import get_product

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["BODIES", "HANDLERS", "ROUTES"]

ROUTES: tuple[Route, ...] = (
    Route("admin_create_product", "POST", "/admin/products", "Create a product (admin)", 201),
    Route(
        "admin_update_product",
        "PATCH",
        "/admin/products/{product_id}",
        "Change a product's fields (admin)",
    ),
    Route(
        "admin_create_price",
        "POST",
        "/admin/products/{product_id}/prices",
        "Add a price to a product (admin)",
        201,
    ),
    Route(
        "admin_update_price",
        "PATCH",
        "/admin/prices/{price_id}",
        "Activate or retire a price (admin)",
    ),
)


class _PriceActive(StrictModel):
    active: StrictBool


def _create_product(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    data = json_object(request.body)
    product = create_product(session, actor=actor, data=data, clock=core.clock)
    view = get_product(session, id=product.id, actor=actor)
    return Response(201, view.model_dump(mode="json"))


def _update_product(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    changes = json_object(request.body)
    product_id = request.params["product_id"]
    update_product(session, actor=actor, product_id=product_id, changes=changes, clock=core.clock)
    view = get_product(session, id=product_id, actor=actor)
    return Response(200, view.model_dump(mode="json"))


def _create_price(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    data = json_object(request.body)
    price = create_price(
        session,
        actor=actor,
        product_id=request.params["product_id"],
        data=data,
        clock=core.clock,
    )
    return Response(201, PriceAdminOut.model_validate(price).model_dump(mode="json"))


def _update_price(core: PaykitHTTP, session: Session, request: Request) -> Response:
    price_id = request.params["price_id"]
    price = with_body(core, session, request, set_price_active, _PriceActive, price_id=price_id)
    return Response(200, PriceAdminOut.model_validate(price).model_dump(mode="json"))


#: The JSON body of each route (see ``_http.BODIES``): the models the admin services validate with.
BODIES: dict[str, Body] = {
    "admin_create_product": Body(ProductInput),
    "admin_update_product": Body(ProductUpdate),
    "admin_create_price": Body(PriceInput),
    "admin_update_price": Body(_PriceActive),
}

HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "admin_create_product": _create_product,
    "admin_update_product": _update_product,
    "admin_create_price": _create_price,
    "admin_update_price": _update_price,
}
