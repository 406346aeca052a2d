"""The product page behind ``get_product``: one statement on PostgreSQL.

One prebuilt statement per dialect and lookup (by id or by slug) reads the
product's columns and the reader's stored role (active, not deleted: a stale
``Actor`` gets the public view), and the categories the product is in with
every ancestor (a recursive CTE; ``UNION`` ends the walk even on a cycle
written around paykit). On PostgreSQL the same statement carries the active
prices (amounts as text), the per-star counts of the visible reviews and the
categories as JSON; SQLite reads those three with one statement each
(in-process, a round trip costs nothing). The category paths are then walked
in Python over the rows read, one parent at a time, as before.
"""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from paykit.errors import NotFound
from paykit.models import (
    Product,
    ProductCategory,
    ProductReview,
    ProductStatus,
    User,
    UserRole,
    UserStatus,
    product_category_links,
)
from paykit.security.policy import Action, Actor, allows
from paykit.services.catalog._listing import (
    PRODUCT_COLUMNS,
    active_prices,
    parse_prices,
    prices_json,
    product_fields,
)
from paykit.services.catalog.out import CategoryRef, ProductView
from paykit.services.reviews import SHOWN_REVIEW, RatingSummary, rating_summary, summary_of

__all__ = ["product_page"]

_STARS = range(1, 6)
_CENT = Decimal("0.01")
_CATS = ProductCategory.__table__
_LINKS = product_category_links
_PAGE_COLUMNS = (
    *PRODUCT_COLUMNS,
    Product.description,
    Product.meta_title,
    Product.meta_description,
)


def _categories(by_slug: bool) -> Any:
    """The recursive CTE ``(id, linked)``: the product's categories, then their ancestors."""
    target = Product.__table__.alias("target")
    key = target.c.slug if by_slug else target.c.id
    walk = (
        sa.select(_LINKS.c.category_id.label("id"), sa.true().label("linked"))
        .select_from(_LINKS.join(target, target.c.id == _LINKS.c.product_id))
        .where(key == sa.bindparam("key", type_=sa.Text()))
        .cte("product_categories_walk", recursive=True)
    )
    step = _CATS.alias("step")
    return walk.union(
        sa.select(step.c.parent_id, sa.false())
        .join(walk, step.c.id == walk.c.id)
        .where(step.c.parent_id.is_not(None))
    )


def _category_rows(walk: Any) -> tuple[list[Any], list[Any]]:
    """The categories' columns and their order: the product's own first (in the order
    of its paths), then the ancestors."""
    columns = [_CATS.c.id, _CATS.c.name, _CATS.c.slug, _CATS.c.parent_id, walk.c.linked]
    order = [walk.c.linked.desc(), _CATS.c.sort_order, _CATS.c.name, _CATS.c.id]
    return columns, order


@functools.lru_cache(maxsize=8)
def _statements(dialect: str, by_slug: bool) -> tuple[sa.Select[Any], sa.Select[Any] | None]:
    """The page statement and (SQLite) the categories statement, bind parameters
    ``key`` and ``reader_id``."""
    reader_role = (
        sa.select(sa.type_coerce(User.role, sa.Text()))
        .where(
            User.id == sa.bindparam("reader_id", type_=sa.Text()),
            User.status == UserStatus.ACTIVE,
            User.deleted_at.is_(None),
        )
        .scalar_subquery()
    )
    key = Product.slug if by_slug else Product.id
    columns: list[Any] = [*_PAGE_COLUMNS, reader_role.label("reader_role")]
    walk = _categories(by_slug)
    cat_columns, cat_order = _category_rows(walk)
    joined = walk.join(_CATS, _CATS.c.id == walk.c.id)
    if dialect == "postgresql":
        stars = sa.func.json_build_array(
            *(sa.func.count().filter(ProductReview.rating == star) for star in _STARS)
        )
        ratings = (
            sa.select(stars)
            .where(ProductReview.product_id == Product.id, SHOWN_REVIEW)
            .scalar_subquery()
        )
        aggregated = sa.func.json_agg(
            postgresql.aggregate_order_by(sa.func.json_build_array(*cat_columns), *cat_order)
        )
        categories = sa.select(
            sa.func.coalesce(aggregated, sa.literal_column("'[]'::json"))
        ).select_from(joined)
        columns += [
            prices_json(Product.id).label("prices"),
            ratings.label("ratings"),
            categories.scalar_subquery().label("categories"),
        ]
    page = sa.select(*columns).where(key == sa.bindparam("key", type_=sa.Text()))
    if dialect == "postgresql":
        return page, None
    return page, sa.select(*cat_columns).select_from(joined).order_by(*cat_order)


def _paths(rows: list[Any]) -> list[list[CategoryRef]]:
    """Each of the product's categories' path from the root (rows ``id, name, slug,
    parent_id, linked``, the product's own first); a cycle ends where it repeats."""
    nodes = {row[0]: row for row in rows}
    paths = []
    for start in rows:
        if not start[4]:
            break
        path: list[CategoryRef] = []
        seen: set[str] = set()
        node = start
        while node is not None and node[0] not in seen:
            seen.add(node[0])
            path.append(CategoryRef(id=node[0], name=node[1], slug=node[2]))
            node = nodes.get(node[3]) if node[3] else None
        paths.append(path[::-1])
    return paths


def _summary(counts: list[int]) -> RatingSummary:
    """:func:`paykit.rating_summary`'s summary, from the counts of stars 1 to 5."""
    return summary_of({star: int(count) for star, count in zip(_STARS, counts, strict=True)})


def product_page(
    session: Session, *, id: str | None, slug: str | None, actor: Actor | None
) -> ProductView:
    """``get_product`` after its argument check: the product, or ``NotFound``."""
    dialect = session.get_bind().dialect.name
    page, categories = _statements(dialect, slug is not None)
    params = {
        "key": slug if slug is not None else id,
        "reader_id": actor.user_id if actor is not None else None,
    }
    row = session.execute(page, params).first()  # autoflushes, as an ORM read does
    n = len(_PAGE_COLUMNS)
    visible = row is not None and (
        row.status == ProductStatus.PUBLISHED.value
        or (row[n] is not None and allows(UserRole(row[n]), Action.MANAGE_PRODUCTS))
    )
    if row is None or not visible:
        raise NotFound("product not found", details={"id": id, "slug": slug})
    fields = product_fields(row)
    if categories is None:  # PostgreSQL: the rest came as JSON
        fields["prices"] = parse_prices(row.prices)
        rating = _summary(row.ratings)
        paths = _paths(row.categories)
    else:
        fields["prices"] = active_prices(session, [row.id])[row.id]
        rating = rating_summary(session, product_id=row.id)
        paths = _paths(list(session.connection().execute(categories, params)))
    return ProductView(
        **fields,
        review_count=rating.count,
        description=row.description,
        meta_title=row.meta_title,
        meta_description=row.meta_description,
        category_paths=paths,
        rating=rating,
    )
