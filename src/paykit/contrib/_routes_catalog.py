"""The catalog endpoints of the web adapters: public, no authentication.

``GET /products`` is :func:`paykit.list_products` with its filters and cursor
as query parameters (only PUBLISHED products: a ``status`` parameter is refused
as an unknown one); ``GET /products/{product_id}`` and
``GET /products/slug/{slug}`` are :func:`paykit.get_product` (a draft, an
archived or an unknown product is ``not_found``).

``GET /products/{product_id}/reviews`` is :func:`paykit.list_reviews` (the
visible ones, newest first, ``limit`` and ``cursor``), public, of a PUBLISHED
product only (like ``GET /products/{product_id}``, so drafts are not confirmed);
``POST /products/{product_id}/reviews`` is :func:`paykit.create_review` by the
authenticated actor (``rating``, ``content``, optional ``title``).

``PATCH /reviews/{review_id}`` is :func:`paykit.edit_review` (the author only:
anyone else's review is ``not_found``); ``DELETE /reviews/{review_id}`` is
:func:`paykit.delete_review` (the author, or staff moderating);
``POST /reviews/{review_id}/hide`` is :func:`paykit.hide_review` (staff only,
``{"hidden": true|false, "reason"?}``).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import sqlalchemy as sa
from pydantic import Field, StrictBool, StrictInt, StrictStr
from sqlalchemy.orm import Session

from paykit.contrib._models import DeletedOut
from paykit.contrib._wire import Body, PageQuery, Request, Response, Route, with_body
from paykit.errors import NotFound
from paykit.models import Product, ProductStatus, ProductType
from paykit.schemas import validate
from paykit.schemas.base import StrictModel
from paykit.services.catalog.products import get_product, list_products
from paykit.services.reviews import (
    create_review,
    delete_review,
    edit_review,
    hide_review,
    list_reviews,
)

if TYPE_CHECKING:
    from paykit.contrib._http import PaykitHTTP

__all__ = ["BODIES", "HANDLERS", "ROUTES"]

ROUTES: tuple[Route, ...] = (
    Route("list_products", "GET", "/products", "One page of the catalog", auth=False),
    Route("get_product", "GET", "/products/{product_id}", "One product by id", auth=False),
    Route("get_product_by_slug", "GET", "/products/slug/{slug}", "One product by slug", auth=False),
    Route(
        "list_reviews",
        "GET",
        "/products/{product_id}/reviews",
        "A product's visible reviews, newest first",
        auth=False,
    ),
    Route(
        "create_review",
        "POST",
        "/products/{product_id}/reviews",
        "Review a product as the actor",
        201,
    ),
    Route("edit_review", "PATCH", "/reviews/{review_id}", "Edit the actor's own review"),
    Route(
        "delete_review",
        "DELETE",
        "/reviews/{review_id}",
        "Delete the actor's own review (staff: any, as moderation)",
    ),
    Route(
        "hide_review",
        "POST",
        "/reviews/{review_id}/hide",
        "Hide a review from the storefront, or show it again (staff)",
    ),
)

_Money = Annotated[Decimal, Field(ge=0, max_digits=12, decimal_places=2)]


class _ProductQuery(StrictModel):
    search: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    category_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    type: ProductType | None = None
    featured: bool | None = None
    min_price: _Money | None = None
    max_price: _Money | None = None
    currency: Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")] | None = None
    sort: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] = "featured"
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    cursor: Annotated[str, Field(min_length=1, max_length=512)] | None = None


def _list_products(core: PaykitHTTP, session: Session, request: Request) -> Response:
    query = validate(_ProductQuery, dict(request.query))
    page = list_products(session, **query.model_dump(exclude_none=True))
    return Response(200, page.model_dump(mode="json"))


def _get_product(core: PaykitHTTP, session: Session, request: Request) -> Response:
    product = get_product(session, id=request.params["product_id"])
    return Response(200, product.model_dump(mode="json"))


def _get_product_by_slug(core: PaykitHTTP, session: Session, request: Request) -> Response:
    product = get_product(session, slug=request.params["slug"])
    return Response(200, product.model_dump(mode="json"))


class _ReviewBody(StrictModel):
    rating: StrictInt
    content: Annotated[StrictStr, Field(max_length=10_000)]
    title: Annotated[StrictStr, Field(max_length=200)] | None = None


def _list_reviews(core: PaykitHTTP, session: Session, request: Request) -> Response:
    query = validate(PageQuery, dict(request.query))
    product_id = request.params["product_id"]
    published = session.scalar(
        sa.select(Product.id).where(
            Product.id == product_id,
            Product.status == ProductStatus.PUBLISHED,
            Product.deleted_at.is_(None),
        )
    )
    if published is None:
        raise NotFound(f"product {product_id} not found", details={"product_id": product_id})
    page = list_reviews(session, product_id=product_id, limit=query.limit, cursor=query.cursor)
    return Response(200, page.model_dump(mode="json"))


def _create_review(core: PaykitHTTP, session: Session, request: Request) -> Response:
    product_id = request.params["product_id"]
    review = with_body(core, session, request, create_review, _ReviewBody, product_id=product_id)
    return Response(201, review.model_dump(mode="json"))


class _EditBody(StrictModel):
    rating: StrictInt | None = None
    content: Annotated[StrictStr, Field(max_length=10_000)] | None = None
    title: Annotated[StrictStr, Field(max_length=200)] | None = None


class _HideBody(StrictModel):
    hidden: StrictBool = True
    reason: Annotated[StrictStr, Field(max_length=1000)] | None = None


def _edit_review(core: PaykitHTTP, session: Session, request: Request) -> Response:
    review_id = request.params["review_id"]
    review = with_body(core, session, request, edit_review, _EditBody, review_id=review_id)
    return Response(200, review.model_dump(mode="json"))


def _delete_review(core: PaykitHTTP, session: Session, request: Request) -> Response:
    actor = core.actor(session, request)
    review_id = request.params["review_id"]
    delete_review(session, actor=actor, review_id=review_id, clock=core.clock)
    return Response(200, DeletedOut(id=review_id, deleted=True).model_dump(mode="json"))


def _hide_review(core: PaykitHTTP, session: Session, request: Request) -> Response:
    review = with_body(
        core,
        session,
        request,
        hide_review,
        _HideBody,
        optional=True,
        review_id=request.params["review_id"],
    )
    return Response(200, review.model_dump(mode="json"))


#: The JSON body of each route that reads one (see ``_http.BODIES``).
BODIES: dict[str, Body] = {
    "create_review": Body(_ReviewBody),
    "edit_review": Body(_EditBody),
    "hide_review": Body(_HideBody, optional=True),
}

HANDLERS: dict[str, Callable[[PaykitHTTP, Session, Request], Response]] = {
    "list_products": _list_products,
    "get_product": _get_product,
    "get_product_by_slug": _get_product_by_slug,
    "list_reviews": _list_reviews,
    "create_review": _create_review,
    "edit_review": _edit_review,
    "delete_review": _delete_review,
    "hide_review": _hide_review,
}
