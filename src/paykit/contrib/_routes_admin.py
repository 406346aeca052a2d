"""The admin catalog endpoints of the web adapters: products, prices, discount codes.

The services check the actor against paykit's policy (``product.manage``,
``price.manage``, ``discount.manage``: ADMIN) and validate the body with
:mod:`paykit.schemas.admin`; a customer gets ``permission_denied`` (403) and
nothing is written.

* ``POST /admin/products``: :func:`paykit.create_product` (a ``ProductInput``
  body); answers the product as ``GET /products/{id}`` shows it (drafts too);
* ``PATCH /admin/products/{product_id}``: :func:`paykit.update_product` (a
  ``ProductUpdate``: the fields given change);
* ``POST /admin/products/{product_id}/prices``: :func:`paykit.create_price` (a
  ``PriceInput``);
* ``PATCH /admin/prices/{price_id}``: :func:`paykit.set_price_active`
  (``{"active": false}`` retires a price; prices are never deleted);
* ``GET /admin/discounts``: :func:`paykit.list_discounts` (``?active=true``,
  ``limit``, ``cursor``);
* ``POST /admin/discounts``: :func:`paykit.create_discount` (a ``DiscountInput``;
  a taken code is 409 ``discount_code_taken``);
* ``PATCH /admin/discounts/{discount_id}``: :func:`paykit.update_discount` (a
  ``DiscountUpdate``: name, description, active, max_uses, valid_until).

Discounts answer as :class:`paykit.DiscountOut`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import StrictBool
from sqlalchemy.orm import Session

from paykit.contrib._models import PriceAdminOut
from paykit.contrib._wire import (
    Body,
    PageQuery,
    Request,
    Response,
    Route,
    json_object,
    with_body,
)
from paykit.models import Discount
from paykit.schemas import validate
from paykit.schemas.admin import (
    DiscountInput,
    DiscountUpdate,
    PriceInput,
    ProductInput,
    ProductUpdate,
)
from paykit.schemas.base import StrictModel
from paykit.security.policy import Actor
from paykit.services.admin import (
    create_discount,
    create_price,
    create_product,
    discounts_out,
    list_discounts,
    set_price_active,
    update_discount,
    update_product,
)
from paykit.services.catalog.products import get_product

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["BODIES", "HANDLERS", "ROUTES", "discount_view"]

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
    Route(
        "admin_list_discounts", "GET", "/admin/discounts", "Discount codes, newest first (admin)"
    ),
    Route(
        "admin_create_discount", "POST", "/admin/discounts", "Create a discount code (admin)", 201
    ),
    Route(
        "admin_update_discount",
        "PATCH",
        "/admin/discounts/{discount_id}",
        "Change a discount code's name, description, active flag, max_uses or end (admin)",
    ),
)


class _PriceActive(StrictModel):
    active: StrictBool


def _written(
    core: PaykitHTTP, session: Session, request: Request, service: Any, field: str, **arguments: Any
) -> tuple[Actor, Any]:
    """The actor, and ``service`` called by it with the raw JSON body as ``field``
    (``data`` or ``changes``: the admin services validate it with their own schema)."""
    actor = core.actor(session, request)
    body = {field: json_object(request.body)}
    return actor, service(session, actor=actor, clock=core.clock, **body, **arguments)


def _create_product(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor, product = _written(core, session, request, create_product, "data")
    view = get_product(session, id=product.id, actor=actor)
    return Response(201, view.model_dump(mode="json"))


def _update_product(core: PaykitHTTP, session: Session, request: Request) -> Response:
    product_id = request.params["product_id"]
    actor, _ = _written(core, session, request, update_product, "changes", product_id=product_id)
    view = get_product(session, id=product_id, actor=actor)
    return Response(200, view.model_dump(mode="json"))


def _create_price(core: PaykitHTTP, session: Session, request: Request) -> Response:
    product_id = request.params["product_id"]
    _, price = _written(core, session, request, create_price, "data", product_id=product_id)
    return Response(201, PriceAdminOut.model_validate(price).model_dump(mode="json"))


def _update_price(core: PaykitHTTP, session: Session, request: Request) -> Response:
    price_id = request.params["price_id"]
    price = with_body(core, session, request, set_price_active, _PriceActive, price_id=price_id)
    return Response(200, PriceAdminOut.model_validate(price).model_dump(mode="json"))


def discount_view(session: Session, discount: Discount) -> dict[str, object]:
    """A discount row as the admin routes answer with it (JSON-safe)."""
    out: dict[str, object] = discounts_out(session, [discount])[0].model_dump(mode="json")
    return out


class _DiscountQuery(PageQuery):
    active: bool | None = None


def _list_discounts(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    query = validate(_DiscountQuery, dict(request.query))
    page = list_discounts(
        session, actor=actor, active=query.active, limit=query.limit, cursor=query.cursor
    )
    return Response(200, page.model_dump(mode="json"))


def _create_discount(core: PaykitHTTP, session: Session, request: Request) -> Response:
    _, discount = _written(core, session, request, create_discount, "data")
    session.flush()
    return Response(201, discount_view(session, discount))


def _update_discount(core: PaykitHTTP, session: Session, request: Request) -> Response:
    discount_id = request.params["discount_id"]
    _, discount = _written(
        core, session, request, update_discount, "changes", discount_id=discount_id
    )
    session.flush()
    return Response(200, discount_view(session, discount))


#: The JSON body of each route (see ``_http.BODIES``): the models the admin services validate with.
BODIES: dict[str, Body] = {
    "admin_create_product": Body(ProductInput),
    "admin_update_product": Body(ProductUpdate),
    "admin_create_price": Body(PriceInput),
    "admin_update_price": Body(_PriceActive),
    "admin_create_discount": Body(DiscountInput),
    "admin_update_discount": Body(DiscountUpdate),
}

HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "admin_create_product": _create_product,
    "admin_update_product": _update_product,
    "admin_create_price": _create_price,
    "admin_update_price": _update_price,
    "admin_list_discounts": _list_discounts,
    "admin_create_discount": _create_discount,
    "admin_update_discount": _update_discount,
}
