"""The category tree: create, rename, move (cycles refused), and the tree with product counts.

Writes need a user allowed to manage products (ADMIN) and write an audit row.
Moves are serialized (a transaction-scoped advisory lock on PostgreSQL; SQLite
transactions take the write lock first), so two moves racing cannot build a
cycle between them.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.context import RequestContext
from paykit.errors import Conflict, InvalidState, ValidationError
from paykit.models import Product, ProductCategory, ProductStatus, product_category_links
from paykit.security.policy import Action, Actor, authorize
from paykit.services._audit import Audit, apply_changes
from paykit.services._rows import insert_or, load
from paykit.services.catalog.out import CategoryNode

__all__ = [
    "category_tree",
    "create_category",
    "descendant_ids",
    "move_category",
    "rename_category",
]

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_MAX_NAME = 200
# Any constant works: it names "the category tree" among advisory locks.
_TREE_LOCK = 0x70_6B_63_61_74  # "pkcat"


def descendant_ids(category_id: str) -> sa.Select[str]:
    """``SELECT id`` of the category and all its descendants (a recursive CTE).

    ``UNION`` (not ``UNION ALL``) ends the walk even on a cycle written
    around paykit.
    """
    cats = ProductCategory.__table__
    tree = sa.select(cats.c.id).where(cats.c.id == category_id).cte("category_tree", recursive=True)
    child = cats.alias("child")
    tree = tree.union(sa.select(child.c.id).join(tree, child.c.parent_id == tree.c.id))
    return sa.select(tree.c.id)


def _text(value: str, field: str, *, slug: bool = False) -> str:
    text = value.strip()
    ok = (
        bool(_SLUG.fullmatch(text)) and len(text) <= _MAX_NAME
        if slug
        else 0 < len(text) <= _MAX_NAME and text.isprintable()
    )
    if not ok:
        rule = "lower-case letters, digits and single hyphens" if slug else "printable text"
        raise ValidationError(
            f"{field} must be 1 to {_MAX_NAME} characters of {rule}",
            code="invalid_text",
            details={"field": field},
        )
    return text


def _category(session: Session, category_id: str, field: str = "category_id") -> ProductCategory:
    return load(session, ProductCategory, category_id, "category", key=field)


def _slug_taken() -> Conflict:
    return Conflict("another category has this slug", code="category_slug_taken")


def _sort_order(sort_order: int) -> int:
    if not -(2**31) <= sort_order <= 2**31 - 1:
        raise ValidationError(
            "sort_order must fit a 32-bit integer",
            code="invalid_argument",
            details={"param": "sort_order"},
        )
    return sort_order


def _slug_free(session: Session, slug: str, but: str | None = None) -> None:
    query = sa.select(ProductCategory.id).where(ProductCategory.slug == slug)
    if but is not None:
        query = query.where(ProductCategory.id != but)
    if session.scalars(query).first() is not None:
        raise _slug_taken()


def _lock_tree(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(_TREE_LOCK)))


@checked
def create_category(
    session: Session,
    *,
    actor: Actor,
    name: str,
    slug: str,
    parent_id: str | None = None,
    description: str | None = None,
    sort_order: int = 0,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ProductCategory:
    """A new category, under ``parent_id`` or at the root; a taken slug is a
    ``Conflict`` (``category_slug_taken``)."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    name, slug = _text(name, "name"), _text(slug, "slug", slug=True)
    if description is not None and len(description) > 5000:
        raise ValidationError(
            "description is longer than 5000 characters",
            code="invalid_text",
            details={"field": "description"},
        )
    _sort_order(sort_order)
    if parent_id is not None:
        _category(session, parent_id, "parent_id")
    _slug_free(session, slug)
    category = ProductCategory(
        name=name,
        slug=slug,
        description=description,
        parent_id=parent_id,
        sort_order=sort_order,
        created_at=now,
        updated_at=now,
    )
    insert_or(session, category, _slug_taken())  # a parallel insert may take the slug
    Audit(session, now, actor.user_id, context).record(
        "category.created",
        "product_categories",
        category.id,
        new={"name": name, "slug": slug, "parent_id": parent_id, "sort_order": sort_order},
    )
    return category


@checked
def rename_category(
    session: Session,
    *,
    actor: Actor,
    category_id: str,
    name: str | None = None,
    slug: str | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ProductCategory:
    """Change a category's name and/or slug (a taken slug is ``category_slug_taken``)."""
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    new_name = _text(name, "name") if name is not None else None
    new_slug = _text(slug, "slug", slug=True) if slug is not None else None
    category = _category(session, category_id)
    if new_slug is not None:
        _slug_free(session, new_slug, but=category.id)
    try:
        with session.begin_nested():
            old, new = apply_changes(
                category, {"name": new_name, "slug": new_slug}, keep_on_none=lambda _: True
            )
            session.flush()
    except sa.exc.IntegrityError as exc:
        session.refresh(category)
        raise _slug_taken() from exc
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(category, old, new, action="category.updated", resource="product_categories")
    return category


@checked
def move_category(
    session: Session,
    *,
    actor: Actor,
    category_id: str,
    parent_id: str | None,
    sort_order: int | None = None,
    clock: Clock | None = None,
    context: RequestContext | None = None,
) -> ProductCategory:
    """Put a category (with its subtree) under ``parent_id``, or at the root with None.

    A move under itself or one of its descendants is refused with
    ``InvalidState`` (code ``category_cycle``).
    """
    now = resolve_clock(clock).now()
    authorize(session, actor, Action.MANAGE_PRODUCTS)
    if sort_order is not None:
        _sort_order(sort_order)
    _lock_tree(session)
    category = _category(session, category_id)
    if parent_id is not None:
        _category(session, parent_id, "parent_id")
        below = set(session.scalars(descendant_ids(category.id)))
        if parent_id in below:
            raise InvalidState(
                "a category cannot move under itself or one of its descendants",
                code="category_cycle",
                details={"category_id": category_id, "parent_id": parent_id},
            )
    old, new = apply_changes(
        category,
        {"parent_id": parent_id, "sort_order": sort_order},
        keep_on_none=lambda name: name == "sort_order",
    )
    audit = Audit(session, now, actor.user_id, context)
    audit.changes(category, old, new, action="category.moved", resource="product_categories")
    return category


@checked
def category_tree(session: Session) -> list[CategoryNode]:
    """Every category as a forest (roots first; siblings by ``sort_order``, name, id).

    ``product_count`` counts the distinct PUBLISHED products in a category or
    any of its descendants, in one set-based query.
    """
    cats = ProductCategory.__table__
    # (ancestor, descendant) pairs, each category its own ancestor.
    pairs = sa.select(cats.c.id.label("ancestor"), cats.c.id.label("id")).cte(
        "category_pairs", recursive=True
    )
    child = cats.alias("child")
    pairs = pairs.union(
        sa.select(pairs.c.ancestor, child.c.id).join(pairs, child.c.parent_id == pairs.c.id)
    )
    links = product_category_links
    counts: dict[str, int] = {
        ancestor: int(count)
        for ancestor, count in session.execute(
            sa.select(pairs.c.ancestor, sa.func.count(sa.distinct(links.c.product_id)))
            .join(links, links.c.category_id == pairs.c.id)
            .join(Product, Product.id == links.c.product_id)
            .where(Product.status == ProductStatus.PUBLISHED)
            .group_by(pairs.c.ancestor)
        )
    }
    rows = session.execute(
        sa.select(
            cats.c.id,
            cats.c.name,
            cats.c.slug,
            cats.c.description,
            cats.c.parent_id,
            cats.c.sort_order,
        ).order_by(cats.c.sort_order, cats.c.name, cats.c.id)
    ).all()
    known = {row.id for row in rows}
    children: dict[str | None, list[Any]] = defaultdict(list)
    for row in rows:
        # A parent that is gone (or a cycle written around paykit) puts the node at the root.
        children[row.parent_id if row.parent_id in known else None].append(row)

    def build(row: Any, path: frozenset[str]) -> CategoryNode:
        return CategoryNode(
            id=row.id,
            name=row.name,
            slug=row.slug,
            description=row.description,
            parent_id=row.parent_id,
            sort_order=row.sort_order,
            product_count=int(counts.get(row.id, 0)),
            children=[build(c, path | {row.id}) for c in children[row.id] if c.id not in path],
        )

    return [build(row, frozenset()) for row in children[None]]
