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
* ``POST /admin/discounts``: :func:`paykit.create_discount` (a ``DiscountInput``;
  a taken code is 409 ``discount_code_taken``);
* ``PATCH /admin/discounts/{discount_id}``: :func:`paykit.update_discount` (a
  ``DiscountUpdate``: name, description, active, max_uses, valid_until).

Discounts answer as :class:`~paykit.contrib._models.DiscountAdminOut`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from pydantic import StrictBool
from sqlalchemy.orm import Session

from paykit.contrib._models import DiscountAdminOut, PriceAdminOut
from paykit.contrib._wire import Body, Request, Response, Route, json_object, with_body
from paykit.models import Discount, DiscountType, ProductDiscount
from paykit.money import quantize
from paykit.schemas.admin import (
    DiscountInput,
    DiscountUpdate,
    PriceInput,
    ProductInput,
    ProductUpdate,
)
from paykit.schemas.base import StrictModel
from paykit.services.admin import (
    create_discount,
    create_price,
    create_product,
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


def discount_view(session: Session, discount: Discount) -> dict[str, object]:
    """A discount row as the admin routes answer with it (JSON-safe)."""
    products = session.scalars(
        sa.select(ProductDiscount.product_id)
        .where(ProductDiscount.discount_id == discount.id)
        .order_by(ProductDiscount.product_id)
    )
    if discount.type is DiscountType.FIXED_AMOUNT and discount.currency is not None:
        value = str(quantize(discount.value, discount.currency))
    else:
        value = f"{discount.value.normalize():f}"  # a percentage: "10", "12.5"
    minimum = discount.minimum_amount
    view = DiscountAdminOut(
        id=discount.id,
        code=discount.code,
        name=discount.name,
        description=discount.description,
        type=discount.type.value,
        value=value,
        currency=discount.currency,
        minimum_amount=None
        if minimum is None
        else str(quantize(minimum, discount.currency or "USD")),
        max_uses=discount.max_uses,
        max_uses_per_customer=discount.max_uses_per_customer,
        current_uses=discount.current_uses,
        first_time_only=discount.first_time_only,
        active=discount.active,
        valid_from=discount.valid_from,
        valid_until=discount.valid_until,
        product_ids=list(products),
        created_at=discount.created_at,
        updated_at=discount.updated_at,
    )
    out: dict[str, object] = view.model_dump(mode="json")
    return out


def _create_discount(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    data = json_object(request.body)
    discount = create_discount(session, actor=actor, data=data, clock=core.clock)
    session.flush()
    return Response(201, discount_view(session, discount))


def _update_discount(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    changes = json_object(request.body)
    discount = update_discount(
        session,
        actor=actor,
        discount_id=request.params["discount_id"],
        changes=changes,
        clock=core.clock,
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
    "admin_create_discount": _create_discount,
    "admin_update_discount": _update_discount,
}
