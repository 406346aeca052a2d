"""``get_product`` returns exactly what the ORM walk it replaced returned.

The reference below is the product page as it was read before it became one
statement on PostgreSQL (the product as an ORM object, the reader's user
looked up, the active prices, ``rating_summary``, and each category path walked
one parent at a time). A varied catalog (a three-level tree, products in several
categories, a cycle written around paykit, reviews hidden and not, inactive
prices, every status) is read by every kind of reader, and each result must
equal the reference's in value, in type (Decimal, UTC datetime) and in JSON,
also in a PostgreSQL session whose time zone is not UTC. Errors too: the same
class, code, message and details.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.errors import NotFound, PaykitError, ValidationError
from paykit.security import Actor
from paykit.security.policy import Action
from paykit.services.catalog._common import staff_user
from paykit.services.catalog._listing import active_prices
from paykit.services.catalog.out import CategoryRef, PriceOut, ProductView
from paykit.services.reviews import RatingSummary

T = datetime(2032, 3, 4, 5, 6, 7, 890123, tzinfo=UTC)


def _fields(product: m.Product, prices: list[PriceOut], reviews: int) -> dict[str, Any]:
    return {
        "id": product.id,
        "name": product.name,
        "slug": product.slug,
        "short_description": product.short_description,
        "type": product.type.value,
        "status": product.status.value,
        "base_price": product.base_price,
        "currency": product.currency,
        "featured": product.featured,
        "tags": list(product.tags or []),
        "images": list(product.images or []),
        "billing_interval": product.billing_interval,
        "trial_days": product.trial_days,
        "created_at": product.created_at,
        "published_at": product.published_at,
        "prices": prices,
        "review_count": reviews,
    }


def _reference_paths(session: Session, product_id: str) -> list[list[CategoryRef]]:
    categories = session.scalars(
        sa.select(m.ProductCategory)
        .join(
            m.product_category_links,
            m.product_category_links.c.category_id == m.ProductCategory.id,
        )
        .where(m.product_category_links.c.product_id == product_id)
        .order_by(m.ProductCategory.sort_order, m.ProductCategory.name, m.ProductCategory.id)
    ).all()
    paths = []
    for category in categories:
        path: list[CategoryRef] = []
        seen: set[str] = set()
        node: m.ProductCategory | None = category
        while node is not None and node.id not in seen:
            seen.add(node.id)
            path.append(CategoryRef(id=node.id, name=node.name, slug=node.slug))
            node = session.get(m.ProductCategory, node.parent_id) if node.parent_id else None
        paths.append(path[::-1])
    return paths


def _reference(
    session: Session, *, id: str | None = None, slug: str | None = None, actor: Actor | None = None
) -> ProductView:
    if (id is None) == (slug is None):
        raise ValidationError(
            "pass exactly one of id and slug", code="invalid_argument", details={"param": "id"}
        )
    column = m.Product.id if id is not None else m.Product.slug
    product = session.scalars(sa.select(m.Product).where(column == (id or slug))).first()
    visible = product is not None and (
        product.status is m.ProductStatus.PUBLISHED
        or staff_user(session, actor, Action.MANAGE_PRODUCTS) is not None
    )
    if product is None or not visible:
        raise NotFound("product not found", details={"id": id, "slug": slug})
    prices = active_prices(session, [product.id])[product.id]
    rating = paykit.rating_summary(session, product_id=product.id)
    return ProductView(
        **_fields(product, prices, rating.count),
        description=product.description,
        meta_title=product.meta_title,
        meta_description=product.meta_description,
        category_paths=_reference_paths(session, product.id),
        rating=rating,
    )


def _typed(value: Any) -> Any:
    """``value`` with the type of every leaf next to it (and a datetime's offset)."""
    if isinstance(value, pydantic.BaseModel):
        return (type(value).__name__, [(k, _typed(v)) for k, v in value.__dict__.items()])
    if isinstance(value, RatingSummary):
        return (
            "RatingSummary",
            _typed(value.count),
            _typed(value.average),
            _typed(value.distribution),
        )
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, datetime):
        return ("datetime", value.isoformat(), value.tzinfo)
    if isinstance(value, Decimal):
        return ("Decimal", str(value))
    return (type(value).__name__, value)


def _outcome(call: Any, session: Session, **kw: Any) -> Any:
    try:
        view = call(session, **kw)
    except PaykitError as exc:
        return ("error", type(exc).__name__, exc.code, str(exc), exc.details)
    return ("view", _typed(view), view.model_dump_json())


def _catalog(session: Session) -> tuple[list[m.Product], list[Actor | None]]:
    root = f.category(session, name="Root", sort_order=1)
    mid = f.category(session, name="Mid", parent_id=root.id)
    leaf = f.category(session, name="Leaf", parent_id=mid.id, description="d")
    other = f.category(session, name="Another root", sort_order=-1)
    twin = f.category(session, name="Mid", parent_id=other.id)  # same name, id breaks the tie
    loop_a = f.category(session, name="Loop A")
    loop_b = f.category(session, name="Loop B", parent_id=loop_a.id)
    products = []
    for n, status in enumerate(m.ProductStatus):
        products.append(
            f.product(
                session,
                status=status,
                base_price=Decimal("19.90") + n,
                tags=["x", "y"] if n % 2 else [],
                images=[{"url": "https://example.com/a.png", "alt": "a"}] if n else [],
                short_description="short" if n % 2 else None,
                meta_title="meta" if n else None,
                featured=n % 2 == 0,
                billing_interval="month" if n == 1 else None,
                trial_days=14 if n == 1 else 0,
                created_at=T + timedelta(seconds=n),
                updated_at=T,
                published_at=T + timedelta(microseconds=n) if n % 2 == 0 else None,
            )
        )
    full = products[0]
    full.categories.extend([leaf, twin, other, mid])
    products[2].categories.append(leaf)
    products[3].categories.extend([loop_b, root])
    extra = f.product(session, status=m.ProductStatus.PUBLISHED, currency="EUR")
    extra.categories.append(loop_a)
    products.append(extra)
    session.flush()
    # A cycle written around paykit: Loop A's parent is Loop B.
    session.execute(
        sa.update(m.ProductCategory)
        .where(m.ProductCategory.id == loop_a.id)
        .values(parent_id=loop_b.id)
    )
    for product in products:
        f.price(session, product, unit_amount=Decimal("5.00"), nickname="five")
        f.price(session, product, unit_amount=Decimal("1.10"), active=False)
    f.price(session, full, unit_amount=Decimal("5.00"))  # a tie: the id decides
    f.price(
        session,
        full,
        unit_amount=Decimal("99.99"),
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    for n, (product, ratings) in enumerate(
        [(full, [5, 5, 4, 1, 2, 3, 3]), (products[2], [2]), (products[3], [1, 2])]
    ):
        for k, stars in enumerate(ratings):
            session.add(
                m.ProductReview(
                    product_id=product.id,
                    user_id=f.user(session).id,
                    rating=stars,
                    content="ok",
                    hidden_at=T if (k + n) % 4 == 3 else None,
                )
            )
    # Hidden reviews only: a count of zero and no average.
    session.add(
        m.ProductReview(
            product_id=extra.id, user_id=f.user(session).id, rating=5, content="x", hidden_at=T
        )
    )
    session.flush()
    admin = f.user(session, role=m.UserRole.ADMIN)
    demoted = f.user(session, role=m.UserRole.CUSTOMER)
    readers: list[Actor | None] = [
        None,
        Actor.of(f.user(session)),
        Actor.of(f.user(session, role=m.UserRole.SUPPORT)),
        Actor.of(admin),
        Actor(demoted.id, m.UserRole.ADMIN),  # a stale actor: the role as stored counts
        Actor.of(f.user(session, role=m.UserRole.ADMIN, status=m.UserStatus.SUSPENDED)),
        Actor.of(f.user(session, role=m.UserRole.ADMIN, deleted_at=T)),
        Actor("no-such-user", m.UserRole.ADMIN),
    ]
    return products, readers


def _compare(session: Session) -> int:
    products, readers = _catalog(session)
    calls = 0
    for product in products:
        for actor in readers:
            for key in ({"id": product.id}, {"slug": product.slug}):
                session.expire_all()  # both read the database, not the identity map
                expected = _outcome(_reference, session, actor=actor, **key)
                session.expire_all()
                got = _outcome(paykit.get_product, session, actor=actor, **key)
                assert got == expected, (product.status, actor, key)
                calls += 1
    bad: list[dict[str, Any]] = [
        {},
        {"id": products[0].id, "slug": products[0].slug},
        {"id": "no-such-product"},
        {"slug": "no-such-slug", "actor": readers[3]},
    ]
    for kw in bad:
        expected = _outcome(_reference, session, **kw)
        assert _outcome(paykit.get_product, session, **kw) == expected, kw
    for kw in ({"id": 5}, {"slug": "a\x00b"}, {"id": "x", "actor": "admin"}):
        with pytest.raises(ValidationError) as caught:
            paykit.get_product(session, **kw)
        assert caught.value.code == "invalid_argument"
    return calls


@pytest.mark.partial_state("a category cycle written around paykit, on purpose")
def test_get_product_matches_the_orm_walk(session: Session) -> None:
    assert _compare(session) == 5 * 8 * 2


@pytest.mark.partial_state("a category cycle written around paykit, on purpose")
def test_get_product_matches_in_a_session_not_in_utc(pg_engine: sa.Engine) -> None:
    with pg_engine.connect() as conn:
        outer = conn.begin()
        try:
            conn.exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kathmandu'")  # +05:45
            session = Session(bind=conn, join_transaction_mode="create_savepoint")
            view = None
            _compare(session)
            products = session.scalars(
                sa.select(m.Product).where(m.Product.status == m.ProductStatus.PUBLISHED)
            ).first()
            assert products is not None
            view = paykit.get_product(session, id=products.id)
            assert view.created_at.tzinfo is UTC
            session.close()
        finally:
            outer.rollback()


@pytest.mark.partial_state("a category cycle written around paykit, on purpose")
def test_get_product_sends_a_fixed_number_of_statements(session: Session) -> None:
    """One on PostgreSQL, four on SQLite (page, prices, rating, categories), whatever the
    depth of the tree and the reader."""
    products, readers = _catalog(session)
    expected = 1 if session.get_bind().dialect.name == "postgresql" else 4
    statements: list[str] = []

    def grab(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    connection = session.connection()
    sa.event.listen(connection, "before_cursor_execute", grab)
    try:
        for product in products:
            statements.clear()
            paykit.get_product(session, id=product.id, actor=readers[3])
            assert len(statements) == expected, statements
    finally:
        sa.event.remove(connection, "before_cursor_execute", grab)
