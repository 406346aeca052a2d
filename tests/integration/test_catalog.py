"""The catalog read side: visibility, keyset pages, search, the category tree, bad input."""

from __future__ import annotations

import base64
import itertools
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.errors import InvalidAmount, InvalidState, NotFound, PermissionDenied, ValidationError
from paykit.security import Actor

# The shared database may hold other tests' products: each test files its
# products under a category of its own (or a word of its own) and lists that.
_seq = itertools.count()


def _tag() -> str:
    return f"zq{next(_seq)}x{datetime.now(UTC).strftime('%H%M%S%f')}"


def _actor(session: Session, role: m.UserRole = m.UserRole.CUSTOMER, **kw: Any) -> Actor:
    return Actor.of(f.user(session, role=role, **kw))


def _product(
    session: Session, category: m.ProductCategory | None, at: datetime, **kw: Any
) -> m.Product:
    row = f.product(session, created_at=at, updated_at=at, **kw)
    if category is not None:
        row.categories.append(category)
        session.flush()
    return row


def _walk(session: Session, **kw: Any) -> list[str]:
    seen: list[str] = []
    cursor = None
    for _ in range(500):  # a cursor that does not advance fails instead of hanging
        page = paykit.list_products(session, cursor=cursor, **kw)
        seen += [p.id for p in page.items]
        if page.next_cursor is None:
            return seen
        cursor = page.next_cursor
    raise AssertionError(f"the walk did not end: {len(seen)} rows, {len(set(seen))} distinct")


T = datetime(2031, 1, 1, tzinfo=UTC)


# --- visibility ---------------------------------------------------------------------


def test_customers_and_anonymous_see_published_products_only(session: Session) -> None:
    cat = f.category(session)
    shown = _product(session, cat, T)
    draft = _product(session, cat, T, status=m.ProductStatus.DRAFT)
    archived = _product(session, cat, T, status=m.ProductStatus.ARCHIVED)
    customer = _actor(session)
    for actor in (None, customer, _actor(session, m.UserRole.SUPPORT)):
        assert _walk(session, actor=actor, category_id=cat.id) == [shown.id]
    with pytest.raises(PermissionDenied):
        paykit.list_products(session, actor=customer, category_id=cat.id, status="DRAFT")
    with pytest.raises(PermissionDenied):
        paykit.list_products(session, category_id=cat.id, status="DRAFT")
    for hidden in (draft, archived):
        with pytest.raises(NotFound):
            paykit.get_product(session, id=hidden.id, actor=customer)
        with pytest.raises(NotFound):
            paykit.get_product(session, slug=hidden.slug)


def test_staff_see_drafts_and_the_admin_listing(session: Session) -> None:
    cat = f.category(session)
    shown = _product(session, cat, T)
    draft = _product(session, cat, T + timedelta(seconds=1), status=m.ProductStatus.DRAFT)
    archived = _product(session, cat, T + timedelta(seconds=2), status=m.ProductStatus.ARCHIVED)
    gone = _product(session, cat, T + timedelta(seconds=3), status=m.ProductStatus.DELETED)
    admin = _actor(session, m.UserRole.ADMIN)
    drafts = paykit.list_products(session, actor=admin, category_id=cat.id, status="DRAFT")
    assert [p.id for p in drafts.items] == [draft.id]
    assert paykit.get_product(session, id=draft.id, actor=admin).status == "DRAFT"
    listing = paykit.list_products_admin(session, actor=admin, category_id=cat.id)
    assert [p.id for p in listing.items] == [archived.id, draft.id, shown.id]
    deleted = paykit.list_products_admin(
        session, actor=admin, category_id=cat.id, status=m.ProductStatus.DELETED
    )
    assert [p.id for p in deleted.items] == [gone.id]
    for role in (m.UserRole.CUSTOMER, m.UserRole.SUPPORT):
        with pytest.raises(PermissionDenied):
            paykit.list_products_admin(session, actor=_actor(session, role))


def test_a_stale_admin_actor_gets_the_public_view(session: Session) -> None:
    cat = f.category(session)
    draft = _product(session, cat, T, status=m.ProductStatus.DRAFT)
    demoted = _actor(session)
    forged = Actor(demoted.user_id, m.UserRole.ADMIN)
    with pytest.raises(NotFound):
        paykit.get_product(session, id=draft.id, actor=forged)
    with pytest.raises(PermissionDenied):
        paykit.list_products(session, actor=forged, category_id=cat.id, status="DRAFT")
    suspended = _actor(session, m.UserRole.ADMIN, status=m.UserStatus.SUSPENDED)
    with pytest.raises(NotFound):
        paykit.get_product(session, id=draft.id, actor=suspended)


# --- the product page -----------------------------------------------------------------


def test_get_product_has_prices_category_paths_and_visible_reviews(session: Session) -> None:
    root = f.category(session, name="Software")
    mid = f.category(session, name="Tools", parent_id=root.id)
    leaf = f.category(session, name="Editors", parent_id=mid.id)
    product = _product(session, leaf, T, base_price=Decimal("29.99"))
    f.price(session, product, unit_amount=Decimal("29.99"))
    f.price(session, product, unit_amount=Decimal("9.99"), active=False)
    ratings = [5, 5, 4, 1]
    for stars in ratings:
        session.add(
            m.ProductReview(
                product_id=product.id, user_id=f.user(session).id, rating=stars, content="ok"
            )
        )
    session.add(
        m.ProductReview(
            product_id=product.id,
            user_id=f.user(session).id,
            rating=1,
            content="spam",
            hidden_at=T,
        )
    )
    session.flush()
    view = paykit.get_product(session, slug=product.slug)
    assert view.id == product.id
    assert [(p.unit_amount, p.currency) for p in view.prices] == [(Decimal("29.99"), "USD")]
    assert [[c.name for c in path] for path in view.category_paths] == [
        ["Software", "Tools", "Editors"]
    ]
    assert view.rating.count == view.review_count == 4
    assert view.rating.average == Decimal("3.75")
    assert view.rating.distribution == {1: 1, 2: 0, 3: 0, 4: 1, 5: 2}
    data = json.loads(view.model_dump_json())
    assert (data["base_price"], data["currency"]) == ("29.99", "USD")
    assert data["prices"][0]["unit_amount"] == "29.99"
    assert data["rating"]["average"] == "3.75"
    listed = paykit.list_products(session, category_id=root.id).items
    assert [(p.id, p.review_count, len(p.prices)) for p in listed] == [(product.id, 4, 1)]


def test_get_product_without_reviews_and_bad_lookups(session: Session) -> None:
    product = _product(session, None, T)
    view = paykit.get_product(session, id=product.id)
    assert (view.rating.count, view.rating.average) == (0, None)
    assert view.category_paths == []
    with pytest.raises(NotFound):
        paykit.get_product(session, id="no-such-product")
    for kw in ({}, {"id": product.id, "slug": product.slug}):
        with pytest.raises(ValidationError) as caught:
            paykit.get_product(session, **kw)
        assert caught.value.code == "invalid_argument"


# --- pagination -------------------------------------------------------------------------


SORT_KEYS = {
    "featured": lambda p: (not p.featured, -p.created_at.timestamp(), _neg(p.id)),
    "newest": lambda p: (-p.created_at.timestamp(), _neg(p.id)),
    "price_asc": lambda p: (p.base_price, p.id),
    "price_desc": lambda p: (-p.base_price, _neg(p.id)),
}


def _neg(text: str) -> tuple[int, ...]:
    return (*(-ord(c) for c in text), 1)


@pytest.mark.parametrize("sort", sorted(SORT_KEYS))
def test_every_sort_walks_every_product_once_under_ties(session: Session, sort: str) -> None:
    cat = f.category(session)
    made = []
    for i in range(23):
        # Ties on every key but the id: 3 timestamps, 2 prices, 2 featured values.
        made.append(
            _product(
                session,
                cat,
                T + timedelta(minutes=i % 3),
                featured=i % 2 == 0,
                base_price=Decimal("5.00") if i % 4 else Decimal("7.50"),
            )
        )
    seen: list[str] = []
    cursor = None
    for n in range(50):
        page = paykit.list_products(session, category_id=cat.id, sort=sort, limit=4, cursor=cursor)
        assert len(page.items) <= 4
        seen += [p.id for p in page.items]
        # A product arriving between pages never shifts the walk.
        _product(session, None, T + timedelta(days=1, minutes=n))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == len(set(seen)) == len(made)
    assert seen == [p.id for p in sorted(made, key=SORT_KEYS[sort])]


def test_a_cursor_is_bound_to_its_filter_and_refuses_forgeries(session: Session) -> None:
    cat, other = f.category(session), f.category(session)
    for i in range(3):
        _product(session, cat, T + timedelta(seconds=i))
    cursor = paykit.list_products(session, category_id=cat.id, limit=1).next_cursor
    assert cursor is not None
    assert paykit.list_products(session, category_id=cat.id, limit=1, cursor=cursor).items
    for kw in (
        {"category_id": other.id},
        {"category_id": cat.id, "sort": "newest"},
        {"category_id": cat.id, "featured": True},
        {"category_id": cat.id, "min_price": Decimal("1.00")},
        {"category_id": cat.id, "search": "product"},
    ):
        with pytest.raises(ValidationError) as caught:
            paykit.list_products(session, limit=1, cursor=cursor, **kw)
        assert caught.value.code == "invalid_cursor", kw
    body = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for bad in (
        cursor[:-2],
        "not-a-cursor",
        "",
        base64.urlsafe_b64encode(json.dumps(body | {"f": "0" * 32}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(body | {"k": [1, 2]}).encode()).decode(),
        base64.urlsafe_b64encode(json.dumps(body | {"k": ["x", "y", "z"]}).encode()).decode(),
        base64.urlsafe_b64encode(b"[1, 2]").decode(),
    ):
        with pytest.raises(ValidationError) as caught:
            paykit.list_products(session, category_id=cat.id, cursor=bad)
        assert caught.value.code == "invalid_cursor", bad


# --- filters and search -------------------------------------------------------------------


def test_a_category_includes_its_descendants(session: Session) -> None:
    root = f.category(session)
    child = f.category(session, parent_id=root.id)
    grandchild = f.category(session, parent_id=child.id)
    sibling = f.category(session)
    a = _product(session, root, T)
    b = _product(session, grandchild, T + timedelta(seconds=1))
    both = _product(session, child, T + timedelta(seconds=2))
    both.categories.append(grandchild)  # in two categories of the tree: listed once
    _product(session, sibling, T)
    session.flush()
    assert _walk(session, category_id=root.id, sort="newest") == [both.id, b.id, a.id]
    assert _walk(session, category_id=child.id, sort="newest") == [both.id, b.id]
    assert _walk(session, category_id="no-such-category") == []


def test_type_featured_and_price_filters(session: Session) -> None:
    cat = f.category(session)
    cheap = _product(session, cat, T, base_price=Decimal("5.00"))
    mid = _product(
        session, cat, T, base_price=Decimal("20.00"), featured=True, type=m.ProductType.SERVICE
    )
    dear = _product(session, cat, T, base_price=Decimal("99.99"), currency="EUR")
    base = {"category_id": cat.id, "sort": "price_asc"}
    assert _walk(session, **base) == [cheap.id, mid.id, dear.id]
    assert _walk(session, **base, min_price=Decimal("5.01")) == [mid.id, dear.id]
    assert _walk(session, **base, max_price=Decimal("20.00")) == [cheap.id, mid.id]
    assert _walk(session, **base, currency="eur") == [dear.id]
    assert _walk(session, **base, type="SERVICE") == [mid.id]
    assert _walk(session, **base, featured=True) == [mid.id]
    assert _walk(session, **base, featured=False) == [cheap.id, dear.id]
    assert _walk(session, category_id=cat.id, sort="price_desc") == [dear.id, mid.id, cheap.id]


def test_search_finds_every_word_and_ranks_name_matches_first(session: Session) -> None:
    word = _tag()
    in_name = _product(session, None, T, name=f"Ledger {word} Pro", description="Bookkeeping.")
    in_text = _product(
        session,
        None,
        T + timedelta(seconds=1),
        name="Notebook",
        description=f"A ledger with {word} inside.",
    )
    _product(session, None, T, name=f"Draft {word}", status=m.ProductStatus.DRAFT)
    _product(session, None, T, name="Ledger only", description="No magic word here.")
    assert set(_walk(session, search=word)) == {in_name.id, in_text.id}
    ranked = paykit.list_products(session, search=f"ledger {word}", sort="relevance")
    assert [p.id for p in ranked.items] == [in_name.id, in_text.id]
    assert _walk(session, search=f"ledger {word}", sort="relevance", limit=1) == [
        in_name.id,
        in_text.id,
    ]
    assert _walk(session, search=f"{word} nonexistentzzz") == []
    # Search syntax is never an error: quotes, operators and LIKE wildcards are text.
    for text in (f'"{word}"', f"{word} -", "100%", "a_b", "(x", "x & | ! <->", "or"):
        paykit.list_products(session, search=text)
    with pytest.raises(ValidationError) as caught:
        paykit.list_products(session, search="( ! )")  # no word at all
    assert caught.value.code == "invalid_search"


# --- categories ---------------------------------------------------------------------------


def test_category_tree_writes_audit_and_counts_descendants(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    tag = _tag()
    root = paykit.create_category(session, actor=admin, name="Root", slug=f"{tag}-root")
    child = paykit.create_category(
        session, actor=admin, name="Child", slug=f"{tag}-child", parent_id=root.id
    )
    leaf = paykit.create_category(
        session, actor=admin, name="Leaf", slug=f"{tag}-leaf", parent_id=child.id
    )
    _product(session, leaf, T)
    shared = _product(session, child, T)
    shared.categories.append(leaf)
    _product(session, leaf, T, status=m.ProductStatus.DRAFT)
    session.flush()
    renamed = paykit.rename_category(session, actor=admin, category_id=leaf.id, name="Leaves")
    assert renamed.name == "Leaves"

    def node(tree: list[paykit.CategoryNode], wanted: str) -> paykit.CategoryNode:
        for n in tree:
            if n.id == wanted:
                return n
            try:
                return node(n.children, wanted)
            except LookupError:
                continue
        raise LookupError(wanted)

    tree = paykit.category_tree(session)
    top = node(tree, root.id)
    assert top.product_count == 2  # published, distinct, descendants included
    assert [c.id for c in top.children] == [child.id]
    assert [(c.name, c.product_count) for c in top.children[0].children] == [("Leaves", 2)]
    # Move the leaf to the root: the counts follow.
    paykit.move_category(session, actor=admin, category_id=leaf.id, parent_id=None)
    tree = paykit.category_tree(session)
    assert node(tree, root.id).product_count == 1
    assert node(tree, leaf.id).parent_id is None
    actions = [
        a.action
        for a in session.query(m.AuditLog).filter(
            m.AuditLog.resource == "product_categories",
            m.AuditLog.resource_id.in_([root.id, child.id, leaf.id]),
        )
    ]
    assert sorted(actions) == sorted(
        ["category.created"] * 3 + ["category.updated", "category.moved"]
    )


def test_a_move_that_would_make_a_cycle_is_refused(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    a = f.category(session)
    b = f.category(session, parent_id=a.id)
    c = f.category(session, parent_id=b.id)
    for target in (a.id, b.id, c.id):
        with pytest.raises(InvalidState) as caught:
            paykit.move_category(session, actor=admin, category_id=a.id, parent_id=target)
        assert caught.value.code == "category_cycle"
    assert session.get(m.ProductCategory, a.id).parent_id is None  # type: ignore[union-attr]
    paykit.move_category(session, actor=admin, category_id=c.id, parent_id=a.id)
    with pytest.raises(NotFound):
        paykit.move_category(session, actor=admin, category_id=a.id, parent_id="nope")


def test_category_writes_refuse_bad_input_and_non_admins(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    taken = f.category(session)
    with pytest.raises(paykit.errors.Conflict) as caught:
        paykit.create_category(session, actor=admin, name="X", slug=taken.slug)
    assert caught.value.code == "category_slug_taken"
    other = f.category(session)
    with pytest.raises(paykit.errors.Conflict):
        paykit.rename_category(session, actor=admin, category_id=other.id, slug=taken.slug)
    for kw in ({"name": "", "slug": "ok"}, {"name": "X", "slug": "Not A Slug"}):
        with pytest.raises(ValidationError) as bad:
            paykit.create_category(session, actor=admin, **kw)
        assert bad.value.code == "invalid_text"
    for role in (m.UserRole.CUSTOMER, m.UserRole.SUPPORT):
        with pytest.raises(PermissionDenied):
            paykit.create_category(session, actor=_actor(session, role), name="X", slug=_tag())


# --- admin reports and the seed's queries -------------------------------------------------


def test_low_stock_report(session: Session) -> None:
    admin = _actor(session, m.UserRole.ADMIN)
    tag = _tag()

    def make(stock: int, **kw: Any) -> m.Product:
        return _product(session, None, T, slug=f"{tag}-{next(_seq)}", stock_quantity=stock, **kw)

    low = make(2, track_inventory=True, low_stock_threshold=5)
    make(9, track_inventory=True, low_stock_threshold=5)  # above its threshold
    make(0, track_inventory=False, low_stock_threshold=5)  # not tracked
    make(1, track_inventory=True, low_stock_threshold=5, status=m.ProductStatus.DELETED)
    mine = {p.id for p in session.query(m.Product).filter(m.Product.slug.like(f"{tag}-%"))}

    def walk(**kw: Any) -> list[str]:
        seen, cursor = [], None
        for _ in range(10_000):
            page = paykit.low_stock_report(session, actor=admin, limit=2, cursor=cursor, **kw)
            seen += [p.id for p in page.items]
            if page.next_cursor is None:
                return [i for i in seen if i in mine]
            cursor = page.next_cursor
        raise AssertionError("the walk did not end")

    assert walk() == [low.id]
    assert len(walk(threshold=9)) == 2
    with pytest.raises(PermissionDenied):
        paykit.low_stock_report(session, actor=_actor(session, m.UserRole.SUPPORT))


def test_revenue_sums_completed_orders_per_currency(session: Session) -> None:
    staff, alice = _actor(session, m.UserRole.SUPPORT), f.user(session)
    month = datetime(2093, 5, 1, tzinfo=UTC)
    for total, currency, status, at in (
        ("10.00", "USD", m.OrderStatus.COMPLETED, month),
        ("0.05", "USD", m.OrderStatus.COMPLETED, month + timedelta(days=30, hours=23)),
        ("7.00", "EUR", m.OrderStatus.COMPLETED, month + timedelta(days=3)),
        ("99.00", "USD", m.OrderStatus.PENDING, month + timedelta(days=3)),
        ("50.00", "USD", m.OrderStatus.COMPLETED, month + timedelta(days=31)),
    ):
        f.order(
            session,
            alice,
            total_amount=Decimal(total),
            subtotal=Decimal(total),
            currency=currency,
            status=status,
            created_at=at,
        )
    rows = paykit.monthly_revenue(session, actor=staff, year=2093, month=5)
    assert [(r.currency, r.total, r.order_count) for r in rows] == [
        ("EUR", Decimal("7.00"), 1),
        ("USD", Decimal("10.05"), 2),
    ]
    assert json.loads(rows[1].model_dump_json())["total"] == "10.05"
    with pytest.raises(PermissionDenied):
        paykit.monthly_revenue(session, actor=Actor.of(alice), year=2093, month=5)
    with pytest.raises(ValidationError) as bad:
        paykit.revenue(session, actor=staff, start=month, end=month - timedelta(days=1))
    assert bad.value.code == "invalid_range"
    with pytest.raises(ValidationError):
        paykit.monthly_revenue(session, actor=staff, year=2093, month=13)


def test_user_subscriptions_for_the_owner_and_staff(session: Session) -> None:
    alice, bob = f.user(session), f.user(session)
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    price = f.price(
        session,
        product,
        type=m.PriceType.RECURRING,
        recurring={"interval": "month", "interval_count": 1},
    )
    for n, status in enumerate(
        (m.SubscriptionStatus.ACTIVE, m.SubscriptionStatus.CANCELLED, m.SubscriptionStatus.TRIALING)
    ):
        session.add(
            m.Subscription(
                user_id=alice.id,
                product_id=product.id,
                price_id=price.id,
                stripe_subscription_id=f"sub_{_tag()}",
                status=status,
                current_period_start=T,
                current_period_end=T + timedelta(days=30),
                unit_amount=Decimal("10.00"),
                created_at=T + timedelta(seconds=n),
            )
        )
    session.add(
        m.PaymentMethod(
            user_id=alice.id,
            stripe_payment_method_id=f"pm_{_tag()}",
            type="card",
            card={"brand": "visa", "last4": "4242", "fingerprint": "secret", "exp_year": 2030},
            is_default=True,
        )
    )
    session.flush()
    own = paykit.user_subscriptions(session, actor=Actor.of(alice), user_id=alice.id)
    assert [s.status for s in own.subscriptions] == ["ACTIVE", "TRIALING"]
    assert own.subscriptions[0].product.id == product.id
    assert own.subscriptions[0].price.id == price.id
    assert own.default_payment_method is not None
    assert own.default_payment_method.card == {"brand": "visa", "last4": "4242", "exp_year": 2030}
    staff = Actor.of(f.user(session, role=m.UserRole.SUPPORT))
    assert paykit.user_subscriptions(session, actor=staff, user_id=alice.id) == own
    with pytest.raises(NotFound):
        paykit.user_subscriptions(session, actor=Actor.of(bob), user_id=alice.id)
    with pytest.raises(NotFound):
        paykit.user_subscriptions(session, actor=staff, user_id="nobody")
    empty = paykit.user_subscriptions(session, actor=Actor.of(bob), user_id=bob.id)
    assert (empty.subscriptions, empty.default_payment_method) == ([], None)


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "code"),
    [
        ({"limit": 0}, "invalid_limit"),
        ({"limit": 101}, "invalid_limit"),
        ({"limit": "5"}, "invalid_argument"),
        ({"sort": "cheapest"}, "invalid_sort"),
        ({"sort": "relevance"}, "invalid_sort"),
        ({"search": "   "}, "invalid_search"),
        ({"search": "x" * 201}, "invalid_search"),
        ({"search": "a\x00b"}, "invalid_argument"),
        ({"type": "HARDWARE"}, "invalid_argument"),
        ({"status": "GONE"}, "invalid_argument"),
        ({"min_price": 1.5}, "invalid_amount"),
        ({"min_price": Decimal("-1")}, "invalid_amount"),
        ({"max_price": Decimal("0.001")}, "invalid_amount"),
        ({"max_price": Decimal("1e9")}, "invalid_amount"),
        ({"min_price": Decimal("5"), "max_price": Decimal("4")}, "invalid_price_range"),
        ({"currency": "XXX"}, "unsupported_currency"),
        ({"featured": "yes"}, "invalid_argument"),
        ({"cursor": 5}, "invalid_argument"),
        ({"category_id": 5}, "invalid_argument"),
    ],
)
def test_bad_arguments_are_refused_with_a_code(
    session: Session, kw: dict[str, Any], code: str
) -> None:
    with pytest.raises(paykit.PaykitError) as caught:
        paykit.list_products(session, **kw)
    assert caught.value.code == code
    if code == "invalid_amount":
        assert isinstance(caught.value, InvalidAmount)


def test_a_listed_product_is_the_product_page_s_summary(session: Session) -> None:
    """The listing's assembled rows (prices as JSON on PostgreSQL) equal the product page."""
    word = _tag()
    product = _product(session, None, T, name=f"Lamp {word}", tags=["a", "b"])
    f.price(session, product, unit_amount=Decimal("10.00"))
    f.price(session, product, unit_amount=Decimal("2.50"), recurring={"interval": "month"})
    session.flush()
    session.expire_all()  # the product page reads the database, as the listing does
    listed = paykit.list_products(session, search=word).items
    page = paykit.get_product(session, id=product.id)
    assert [p.id for p in listed] == [product.id]
    summary = page.model_dump(include=set(listed[0].model_fields))
    assert listed[0].model_dump() == summary
    data = json.loads(listed[0].model_dump_json())
    assert [p["unit_amount"] for p in data["prices"]] == ["2.50", "10.00"]
    assert data["prices"][0]["recurring"] == {"interval": "month"}
    assert data["tags"] == ["a", "b"]
    assert type(listed[0].prices[0].unit_amount) is Decimal


def test_listed_values_keep_their_types_in_any_session_time_zone(session: Session) -> None:
    """On PostgreSQL the page comes as JSON text: times still come back in UTC (from a
    session in another zone too, microseconds kept), amounts as Decimals, JSON as JSON."""
    word = _tag()
    at = datetime(2031, 3, 4, 5, 6, 7, 120000, tzinfo=UTC)
    product = _product(
        session,
        None,
        at,
        name=f"Clock {word}",
        base_price=Decimal("12.30"),
        images=[{"url": "a.png", "ratio": 1.5}],
        published_at=at + timedelta(days=1),
    )
    f.price(session, product, unit_amount=Decimal("7.05"))
    session.flush()
    pages = [paykit.list_products(session, search=word)]
    if session.get_bind().dialect.name == "postgresql":
        session.connection().exec_driver_sql("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        pages.append(paykit.list_products(session, search=word))
    for page in pages:
        (listed,) = page.items
        assert listed.created_at == at
        assert listed.created_at.tzinfo is UTC
        assert listed.published_at == at + timedelta(days=1)
        assert listed.published_at.tzinfo is UTC
        assert repr(listed.base_price) == "Decimal('12.30')"
        assert repr(listed.prices[0].unit_amount) == "Decimal('7.05')"
        assert listed.images == [{"url": "a.png", "ratio": 1.5}]
        assert type(listed.images[0]["ratio"]) is float
        assert listed.tags == []
        assert listed.review_count == 0
    assert pages[0] == pages[-1]
