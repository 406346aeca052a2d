"""The database itself refuses bad rows, cascades as the seed says, and keeps values exact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m

pytestmark = pytest.mark.partial_state(
    "writes rows directly, to test the database's own constraints"
)


def _rejects(session: Session, statement: sa.Executable) -> None:
    """``statement`` fails with an IntegrityError, and the session stays usable."""
    with pytest.raises(sa.exc.IntegrityError), session.begin_nested():
        session.execute(statement)


def test_check_positive_total(session: Session) -> None:
    order = f.order(session, f.user(session))
    _rejects(
        session,
        sa.update(m.Order).where(m.Order.id == order.id).values(total_amount=Decimal("-0.01")),
    )
    session.execute(
        sa.update(m.Order).where(m.Order.id == order.id).values(total_amount=Decimal("0"))
    )


def test_check_positive_quantity(session: Session) -> None:
    order = f.order(session, f.user(session))
    product = f.product(session)
    price = f.price(session, product)
    values = {
        "order_id": order.id,
        "product_id": product.id,
        "price_id": price.id,
        "unit_price": Decimal("1.00"),
        "total_price": Decimal("1.00"),
    }
    _rejects(session, sa.insert(m.OrderItem).values(id=m.new_id(), quantity=0, **values))
    session.execute(sa.insert(m.OrderItem).values(id=m.new_id(), quantity=1, **values))


def test_check_positive_price(session: Session) -> None:
    product = f.product(session)
    _rejects(
        session,
        sa.update(m.Product).where(m.Product.id == product.id).values(base_price=Decimal("-1")),
    )


@pytest.mark.parametrize(
    "email",
    ["no-at-sign.example.com", "two@@example.com", "a b@example.com", "x@y", "@example.com"],
)
def test_check_email_format(session: Session, email: str) -> None:
    _rejects(session, sa.insert(m.User).values(id=m.new_id(), email=email))


def test_check_email_format_accepts_valid(session: Session) -> None:
    session.execute(sa.insert(m.User).values(id=m.new_id(), email="first.last+tag@sub.example.org"))


@pytest.mark.parametrize(
    ("type_", "value", "ok"),
    [
        ("PERCENTAGE", Decimal("0"), False),
        ("PERCENTAGE", Decimal("0.0001"), True),
        ("PERCENTAGE", Decimal("100"), True),
        ("PERCENTAGE", Decimal("100.0001"), False),
        ("FIXED_AMOUNT", Decimal("0"), False),
        ("FIXED_AMOUNT", Decimal("250.5"), True),
    ],
)
def test_check_discount_percentage(session: Session, type_: str, value: Decimal, ok: bool) -> None:
    statement = sa.insert(m.Discount).values(
        id=m.new_id(), code=f"C{m.new_id()}", name="d", type=type_, value=value
    )
    if ok:
        session.execute(statement)
    else:
        _rejects(session, statement)


def test_discount_uses_cannot_pass_max(session: Session) -> None:
    session.add(
        m.Discount(
            code="LIMITED",
            name="d",
            type=m.DiscountType.PERCENTAGE,
            value=Decimal("10"),
            max_uses=1,
            current_uses=1,
        )
    )
    session.flush()
    _rejects(
        session, sa.update(m.Discount).where(m.Discount.code == "LIMITED").values(current_uses=2)
    )


def test_unique_review_per_user_and_product(session: Session) -> None:
    user, product = f.user(session), f.product(session)
    session.add(m.ProductReview(product_id=product.id, user_id=user.id, rating=5, content="good"))
    session.flush()
    _rejects(
        session,
        sa.insert(m.ProductReview).values(
            id=m.new_id(), product_id=product.id, user_id=user.id, rating=4, content="again"
        ),
    )


def test_unique_product_discount_pair(session: Session) -> None:
    product = f.product(session)
    discount = m.Discount(
        code="PAIR", name="d", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("1")
    )
    session.add(discount)
    session.flush()
    session.add(m.ProductDiscount(product_id=product.id, discount_id=discount.id))
    session.flush()
    _rejects(
        session,
        sa.insert(m.ProductDiscount).values(
            id=m.new_id(), product_id=product.id, discount_id=discount.id
        ),
    )


def test_unique_analytics_date_metric(session: Session) -> None:
    day = datetime(2025, 1, 1).date()
    session.add(m.Analytics(date=day, metric="mrr", value=Decimal("1.5")))
    session.flush()
    _rejects(
        session,
        sa.insert(m.Analytics).values(id=m.new_id(), date=day, metric="mrr", value=Decimal("2")),
    )


def test_single_column_uniques(session: Session) -> None:
    user = f.user(session)
    _rejects(session, sa.insert(m.User).values(id=m.new_id(), email=user.email))
    product = f.product(session)
    _rejects(
        session,
        sa.insert(m.Product).values(
            id=m.new_id(),
            name="x",
            description="x",
            slug=product.slug,
            type="ONE_TIME",
            base_price=Decimal("1"),
        ),
    )


def test_deleting_a_user_removes_sessions_and_payment_methods(session: Session) -> None:
    user = f.user(session)
    session.add(
        m.Session(user_id=user.id, token="hash-1", expires_at=datetime(2030, 1, 1, tzinfo=UTC))
    )
    session.add(m.PaymentMethod(user_id=user.id, stripe_payment_method_id="pm_1", type="card"))
    session.flush()
    # Core DELETE: the database's ON DELETE CASCADE does the work, not the ORM.
    session.execute(sa.delete(m.User).where(m.User.id == user.id))
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(m.Session).where(m.Session.user_id == user.id)
        )
        == 0
    )
    assert (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(m.PaymentMethod)
            .where(m.PaymentMethod.user_id == user.id)
        )
        == 0
    )


def test_deleting_a_user_with_orders_is_refused(session: Session) -> None:
    user = f.user(session)
    f.order(session, user)
    _rejects(session, sa.delete(m.User).where(m.User.id == user.id))


def test_deleting_an_order_removes_its_items(session: Session) -> None:
    order = f.order(session, f.user(session))
    product = f.product(session)
    price = f.price(session, product)
    session.add(
        m.OrderItem(
            order_id=order.id,
            product_id=product.id,
            price_id=price.id,
            unit_price=Decimal("1.00"),
            total_price=Decimal("1.00"),
        )
    )
    session.flush()
    session.execute(sa.delete(m.Order).where(m.Order.id == order.id))
    assert (
        session.scalar(
            sa.select(sa.func.count())
            .select_from(m.OrderItem)
            .where(m.OrderItem.order_id == order.id)
        )
        == 0
    )


def test_deleting_a_product_cascades_prices_reviews_links(session: Session) -> None:
    product = f.product(session)
    f.price(session, product)
    cat = f.category(session)
    product.categories.append(cat)
    session.flush()
    session.execute(sa.delete(m.Product).where(m.Product.id == product.id))
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(m.Price).where(m.Price.product_id == product.id)
        )
        == 0
    )
    links = m.product_category_links
    assert (
        session.scalar(
            sa.select(sa.func.count()).select_from(links).where(links.c.product_id == product.id)
        )
        == 0
    )
    assert session.get(m.ProductCategory, cat.id) is not None


def test_category_tree_parent_and_children(session: Session) -> None:
    root = f.category(session)
    child = f.category(session, parent_id=root.id)
    session.refresh(root)
    assert [c.id for c in root.children] == [child.id]
    assert child.parent is root
    # Deleting a parent orphans its children (SET NULL) rather than deleting them.
    session.execute(sa.delete(m.ProductCategory).where(m.ProductCategory.id == root.id))
    session.expire_all()
    assert session.get(m.ProductCategory, child.id).parent_id is None


def test_updated_at_moves_on_update(session: Session) -> None:
    user = f.user(session)
    before = user.updated_at
    created = user.created_at
    session.execute(
        sa.update(m.User).where(m.User.id == user.id).values(updated_at=before - timedelta(days=1))
    )
    session.expire_all()
    stale = session.get(m.User, user.id).updated_at
    assert stale < before
    user = session.get(m.User, user.id)
    user.name = "Renamed"
    session.flush()
    session.expire_all()
    user = session.get(m.User, user.id)
    assert user.updated_at > stale
    assert user.created_at == created
    # A Core UPDATE that does not mention updated_at moves it too.
    session.execute(
        sa.update(m.User).where(m.User.id == user.id).values(updated_at=before - timedelta(days=2))
    )
    session.execute(sa.update(m.User).where(m.User.id == user.id).values(name="Again"))
    session.expire_all()
    assert session.get(m.User, user.id).updated_at > before - timedelta(days=1)


def test_decimal_round_trips_exactly(session: Session) -> None:
    order = f.order(
        session,
        f.user(session),
        subtotal=Decimal("0.10") + Decimal("0.20"),
        total_amount=Decimal("0.30"),
    )
    session.expire_all()
    loaded = session.get(m.Order, order.id)
    assert loaded.subtotal == Decimal("0.30")
    assert loaded.subtotal == loaded.total_amount
    assert isinstance(loaded.subtotal, Decimal)
    # Arithmetic in SQL stays exact too (SUM of 0.10 and 0.20).
    session.execute(
        sa.update(m.Order)
        .where(m.Order.id == order.id)
        .values(tax_amount=Decimal("0.10"), discount_amount=Decimal("0.20"))
    )
    total = session.scalar(
        sa.select(m.Order.tax_amount + m.Order.discount_amount).where(m.Order.id == order.id)
    )
    assert total == Decimal("0.30")


def test_decimal_precision_is_kept(session: Session) -> None:
    session.add(
        m.Analytics(date=datetime(2025, 2, 1).date(), metric="m", value=Decimal("12345678901.2345"))
    )
    discount = m.Discount(
        code="P", name="p", type=m.DiscountType.PERCENTAGE, value=Decimal("25.5001")
    )
    session.add(discount)
    session.flush()
    session.expire_all()
    assert session.scalar(sa.select(m.Analytics.value).where(m.Analytics.metric == "m")) == Decimal(
        "12345678901.2345"
    )
    assert session.get(m.Discount, discount.id).value == Decimal("25.5001")


@pytest.mark.parametrize("bad", [0.3, Decimal("0.001"), Decimal("NaN"), Decimal("100000000.00")])
def test_money_columns_refuse_inexact_values(session: Session, bad: object) -> None:
    with pytest.raises(sa.exc.StatementError), session.begin_nested():
        f.order(session, f.user(session), subtotal=bad)


def test_datetimes_are_aware_utc_and_naive_is_refused(session: Session) -> None:
    user = f.user(session)
    plus_two = datetime(2025, 6, 1, 14, 0, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    )
    user.last_login_at = plus_two
    session.flush()
    session.expire_all()
    loaded = session.get(m.User, user.id).last_login_at
    assert loaded == datetime(2025, 6, 1, 14, 0, tzinfo=UTC)
    assert loaded.utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError), session.begin_nested():
        session.execute(
            sa.update(m.User).where(m.User.id == user.id).values(last_login_at=datetime(2025, 1, 1))
        )


def test_json_and_array_columns_round_trip(session: Session) -> None:
    product = f.product(
        session, tags=["a", "b c"], images=["https://x/1.png"], metadata_={"k": [1, 2]}
    )
    session.expire_all()
    loaded = session.get(m.Product, product.id)
    assert loaded.tags == ["a", "b c"]
    assert loaded.images == ["https://x/1.png"]
    assert loaded.metadata_ == {"k": [1, 2]}
    assert loaded.files == []


def test_defaults_follow_the_seed(session: Session) -> None:
    user = f.user(session)
    product = f.product(session)
    session.expire_all()
    user = session.get(m.User, user.id)
    product = session.get(m.Product, product.id)
    assert (user.role, user.status, user.timezone, user.language, user.email_verified) == (
        m.UserRole.CUSTOMER,
        m.UserStatus.ACTIVE,
        "UTC",
        "en",
        False,
    )
    assert (
        product.download_limit,
        product.trial_days,
        product.stock_quantity,
        product.currency,
    ) == (-1, 0, 0, "USD")
    assert len(user.id) == 25
    assert user.id.startswith("c")


def test_server_defaults_fill_raw_inserts(session: Session) -> None:
    # A host writing raw SQL gets the seed's defaults from the database itself.
    session.execute(sa.text("INSERT INTO system_config (id, key, value) VALUES ('cfg1', 'k', 'v')"))
    row = session.execute(sa.select(m.SystemConfig).where(m.SystemConfig.id == "cfg1")).scalar_one()
    assert row.created_at.tzinfo is not None
    assert row.updated_at is not None
