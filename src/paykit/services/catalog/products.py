"""Product listings and the product page: ``list_products``, ``get_product``, admin views.

Customers and anonymous readers see PUBLISHED products only; a user whose
stored role may manage products (ADMIN) may list any status. Every listing
is keyset-paginated on a total order ending with the id, with opaque cursors
bound to the filter (``docs/catalog.md``).
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.errors import PermissionDenied, ValidationError
from paykit.models import (
    Price,
    Product,
    ProductStatus,
    ProductType,
)
from paykit.security.policy import Action, Actor, authorize
from paykit.services.catalog._common import (
    Key,
    keyset_page,
    staff_user,
)
from paykit.services.catalog._listing import SORTS, list_page
from paykit.services.catalog._product_page import product_page
from paykit.services.catalog.out import (
    LowStockOut,
    PriceOut,
    ProductOut,
    ProductView,
)
from paykit.services.reads import Page, check_page_limit

__all__ = [
    "SORTS",
    "get_product",
    "list_products",
    "list_products_admin",
    "low_stock_report",
]

_ADMIN_STATUSES = (ProductStatus.DRAFT, ProductStatus.PUBLISHED, ProductStatus.ARCHIVED)


def _price_out(price: Price) -> PriceOut:
    return PriceOut(
        id=price.id,
        nickname=price.nickname,
        unit_amount=price.unit_amount,
        currency=price.currency,
        type=price.type.value,
        recurring=price.recurring,
    )


@checked
def list_products(
    session: Session,
    *,
    actor: Actor | None = None,
    search: str | None = None,
    category_id: str | None = None,
    type: ProductType | None = None,
    featured: bool | None = None,
    min_price: Decimal | None = None,
    max_price: Decimal | None = None,
    currency: str | None = None,
    status: ProductStatus | None = None,
    sort: str = "featured",
    limit: int = 20,
    cursor: str | None = None,
) -> Page[ProductOut]:
    """One page of the catalog: PUBLISHED products, filtered and sorted.

    ``search`` is full-text on PostgreSQL (the GIN index on the weighted
    ``tsvector`` of name, short description and description; web-search
    syntax) and an every-word LIKE on SQLite. ``category_id`` includes the
    category's descendants. ``min_price``/``max_price`` bound ``base_price``
    (inclusive; combine with ``currency``). ``sort`` is one of :data:`SORTS`:
    ``featured`` (the seed's catalog order: featured first, newest first),
    ``newest``, ``price_asc``, ``price_desc``, ``relevance`` (with ``search``).
    ``status`` other than PUBLISHED needs a user allowed to manage products
    (``PermissionDenied``). ``limit`` 1..100; ``cursor`` is the previous
    page's ``next_cursor`` for the same filter and reader (``invalid_cursor``).
    """
    wanted = ProductStatus(status) if status is not None else ProductStatus.PUBLISHED
    staff = staff_user(session, actor, Action.MANAGE_PRODUCTS)
    if wanted is not ProductStatus.PUBLISHED and staff is None:
        raise PermissionDenied(
            "only a user who manages products may list unpublished products",
            details={"action": Action.MANAGE_PRODUCTS.value},
        )
    return list_page(
        session,
        scope="staff" if wanted is not ProductStatus.PUBLISHED else "public",
        statuses=[wanted],
        search=search,
        category_id=category_id,
        type=type,
        featured=featured,
        min_price=min_price,
        max_price=max_price,
        currency=currency,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


@checked
def list_products_admin(
    session: Session,
    *,
    actor: Actor,
    status: ProductStatus | None = None,
    search: str | None = None,
    category_id: str | None = None,
    type: ProductType | None = None,
    sort: str = "newest",
    limit: int = 20,
    cursor: str | None = None,
) -> Page[ProductOut]:
    """The admin catalog: DRAFT, PUBLISHED and ARCHIVED products (or one ``status``,
    DELETED included), for a user allowed to manage products (``PermissionDenied``).

    Sorts, search, category filter and cursors as :func:`list_products`.
    """
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    statuses = [ProductStatus(status)] if status is not None else list(_ADMIN_STATUSES)
    return list_page(
        session,
        scope="admin",
        statuses=statuses,
        search=search,
        category_id=category_id,
        type=type,
        featured=None,
        min_price=None,
        max_price=None,
        currency=None,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )


@checked
def get_product(
    session: Session,
    *,
    id: str | None = None,
    slug: str | None = None,
    actor: Actor | None = None,
) -> ProductView:
    """One product by ``id`` or ``slug`` (exactly one): active prices, category paths
    (root first), and the rating summary of its visible reviews.

    A product that is not PUBLISHED is ``NotFound`` unless the reader may
    manage products, so drafts are not confirmed to exist.
    """
    if (id is None) == (slug is None):
        raise ValidationError(
            "pass exactly one of id and slug", code="invalid_argument", details={"param": "id"}
        )
    return product_page(session, id=id, slug=slug, actor=actor)


@checked
def low_stock_report(
    session: Session,
    *,
    actor: Actor,
    threshold: int | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Page[LowStockOut]:
    """Products that track inventory with stock at or below a threshold, lowest first.

    ``threshold`` applies to every product; without it each product's own
    ``low_stock_threshold`` is used (products without one are left out).
    DELETED products are left out. For a user allowed to manage products.
    """
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    check_page_limit(limit)
    if threshold is not None and not 0 <= threshold <= 2**31 - 1:
        raise ValidationError(
            "threshold must be from 0 to 2147483647",
            code="invalid_argument",
            details={"param": "threshold"},
        )
    keys = [Key(Product.stock_quantity, "int"), Key(Product.id, "text")]
    flt = {"scope": "low_stock", "threshold": threshold}
    limit_column = (
        sa.literal(threshold, sa.Integer())
        if threshold is not None
        else Product.low_stock_threshold
    )
    query = sa.select(Product, *(k.expr for k in keys)).where(
        Product.track_inventory.is_(True),
        Product.status != ProductStatus.DELETED,
        Product.stock_quantity <= limit_column,
    )
    rows, next_cursor = keyset_page(
        session, query, keys, flt, cursor=cursor, limit=limit, descending=False
    )
    items = [
        LowStockOut(
            id=p.id,
            name=p.name,
            slug=p.slug,
            status=p.status.value,
            stock_quantity=p.stock_quantity,
            low_stock_threshold=p.low_stock_threshold,
        )
        for p in rows
    ]
    return Page[LowStockOut](items=items, next_cursor=next_cursor)
