"""paykit.analytics: revenue, new customers, cohorts and the daily rollup, on both databases."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f
from tests.conftest import DatabaseFactory, require_postgres

from paykit import analytics
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ValidationError

NOW = FrozenClock(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
D = date(2026, 3, 2)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def paid(session: Session, user: m.User, day: date, total: str, **kw: Any) -> m.Order:
    """A paid order; with ``discount_amount``, the discount code use that goes with it."""
    row = f.order(
        session,
        user,
        status=m.OrderStatus.COMPLETED,
        total_amount=Decimal(total),
        created_at=at(day, kw.pop("hour", 12)),
        **kw,
    )
    if row.discount_amount:
        code = m.Discount(
            code=f"OFF-{row.order_number}",
            name="Test discount",
            type=m.DiscountType.FIXED_AMOUNT,
            value=row.discount_amount,
            currency=row.currency,
            current_uses=1,
        )
        session.add(code)
        session.flush()
        session.add(
            m.DiscountUsage(
                discount_id=code.id,
                user_id=user.id,
                order_id=row.id,
                amount_saved=row.discount_amount,
            )
        )
        session.flush()
    return row


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    alice, bob, carol = f.user(session), f.user(session), f.user(session)
    paid(session, alice, D - timedelta(days=1), "5.00")  # alice is not new on D
    paid(session, alice, D, "10.00", hour=0)  # midnight belongs to D
    paid(session, bob, D, "30.00", hour=23)
    paid(session, carol, D, "7.50", currency="EUR", discount_amount=Decimal("1.00"))
    first = paid(session, bob, D + timedelta(days=1), "20.00", hour=0)
    f.refund(session, first, Decimal("4.00"), created_at=at(D + timedelta(days=1), 1))
    f.order(session, carol, total_amount=Decimal("99.00"), created_at=at(D))  # PENDING
    return {"alice": alice, "bob": bob, "carol": carol}


def _rows(session: Session, day: date) -> dict[str, Decimal]:
    found = session.execute(
        sa.select(m.Analytics.metric, m.Analytics.value).where(m.Analytics.date == day)
    ).all()
    return {str(metric): value for metric, value in found}


def test_revenue_per_day_and_currency(session: Session, world: dict[str, Any]) -> None:
    rows = analytics.revenue(session, start=D, end=D + timedelta(days=1), clock=NOW)
    by_key = {(r.day, r.currency): r for r in rows}
    usd = by_key[(D, "USD")]
    assert (usd.gross, usd.refunds, usd.net, usd.orders) == (
        Decimal("40.00"),
        Decimal("0.00"),
        Decimal("40.00"),
        2,
    )
    assert usd.average_order_value == Decimal("20.00")
    eur = by_key[(D, "EUR")]
    assert (eur.gross, eur.discounts, eur.orders) == (Decimal("7.50"), Decimal("1.00"), 1)
    nxt = by_key[(D + timedelta(days=1), "USD")]
    assert (nxt.gross, nxt.refunds, nxt.net) == (
        Decimal("20.00"),
        Decimal("4.00"),
        Decimal("16.00"),
    )
    assert set(by_key) == {(D, "USD"), (D, "EUR"), (D + timedelta(days=1), "USD")}


def test_new_customers_count_first_payment_only(session: Session, world: dict[str, Any]) -> None:
    new = analytics.new_customers(session, start=D, end=D + timedelta(days=1), clock=NOW)
    assert new == {D: 2}  # bob and carol; alice paid the day before, bob again the day after
    earlier = analytics.new_customers(session, start=D - timedelta(days=1), end=D, clock=NOW)
    assert earlier == {D - timedelta(days=1): 1, D: 2}


def test_rollup_writes_the_day_and_a_rerun_replaces_it(
    session: Session, world: dict[str, Any]
) -> None:
    session.add(m.Analytics(date=D, metric="host_metric", value=Decimal("1")))
    session.flush()
    result = analytics.rollup(session, day=D, clock=NOW)
    rows = _rows(session, D)
    assert result.rows == len(rows) - 1
    assert rows["gross_revenue:USD"] == Decimal("40.00")
    assert rows["net_revenue:EUR"] == Decimal("7.50")
    assert rows["discount_cost:EUR"] == Decimal("1.00")
    assert rows["average_order_value:USD"] == Decimal("20.00")
    assert rows["order_count"] == 3
    assert rows["new_customers"] == 2
    meta = session.execute(
        sa.select(m.Analytics.metadata_).where(
            m.Analytics.date == D, m.Analytics.metric == "order_count"
        )
    ).scalar_one()
    assert meta == {"by_currency": {"USD": 2, "EUR": 1}}
    # More sales on D, then a re-run: the day is replaced, not added to.
    paid(session, world["alice"], D, "2.00")
    analytics.rollup(session, day=D, clock=NOW)
    again = _rows(session, D)
    assert again["gross_revenue:USD"] == Decimal("42.00")
    assert again["order_count"] == 4
    assert again["host_metric"] == Decimal("1")  # not the rollup's: left alone
    assert set(again) == set(rows)


def test_backfill_writes_every_day_including_quiet_ones(
    session: Session, world: dict[str, Any]
) -> None:
    seen: list[tuple[date, date]] = []
    start = D - timedelta(days=40)
    result = analytics.backfill(
        session,
        start=start,
        end=D + timedelta(days=1),
        clock=NOW,
        progress=lambda a, b: seen.append((a, b)),
    )
    assert (result.start, result.end) == (start, D + timedelta(days=1))
    assert seen == [
        (start, start + timedelta(days=30)),
        (start + timedelta(days=31), D + timedelta(days=1)),
    ]
    quiet = _rows(session, start)
    assert quiet == {"order_count": 0, "invoice_count": 0, "new_customers": 0}
    assert _rows(session, D + timedelta(days=1))["refunds:USD"] == Decimal("4.00")
    assert _rows(session, D)["gross_revenue:USD"] == Decimal("40.00")
    # The same range again writes the same rows, no more.
    before = session.scalar(sa.select(sa.func.count()).select_from(m.Analytics))
    analytics.backfill(session, start=start, end=D + timedelta(days=1), clock=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Analytics)) == before


def test_cohorts_by_month_of_first_payment(session: Session) -> None:
    jan, feb, mar = date(2026, 1, 15), date(2026, 2, 3), date(2026, 3, 4)
    a, b, c = f.user(session), f.user(session), f.user(session)
    paid(session, a, jan, "1.00")
    paid(session, a, mar, "1.00")  # skips February
    paid(session, b, jan, "1.00")
    paid(session, b, feb, "1.00")
    paid(session, c, feb, "1.00")
    table = analytics.cohorts(session, first_month=date(2026, 1, 1), months=3, clock=NOW)
    assert [(x.month, x.customers, x.retained) for x in table.cohorts] == [
        ("2026-01", 2, (2, 1, 1)),
        ("2026-02", 1, (1, 0)),  # March is month 1 of February's cohort; April is to come
        ("2026-03", 0, (0,)),
    ]
    assert table.cohorts[0].rates == (Decimal("1.0000"), Decimal("0.5000"), Decimal("0.5000"))


BAD_DAYS: list[Any] = [
    None,
    "2026-03-02",
    20260302,
    datetime(2026, 3, 2, tzinfo=UTC),
    datetime(2026, 3, 2),  # naive
    date(2026, 3, 11),  # the clock's tomorrow
    date(9999, 12, 31),
]


@pytest.mark.parametrize("bad", BAD_DAYS, ids=repr)
def test_bad_days_are_refused_and_nothing_is_written(session: Session, bad: Any) -> None:
    before = session.scalar(sa.select(sa.func.count()).select_from(m.Analytics))
    with pytest.raises(ValidationError) as caught:
        analytics.rollup(session, day=bad, clock=NOW)
    assert caught.value.code in {"invalid_argument", "day_in_future"}
    with pytest.raises(ValidationError):
        analytics.backfill(session, start=D, end=bad, clock=NOW)
    with pytest.raises(ValidationError):
        analytics.revenue(session, start=bad, end=D, clock=NOW)
    with pytest.raises(ValidationError):
        analytics.cohorts(session, first_month=bad, months=3, clock=NOW)
    assert session.scalar(sa.select(sa.func.count()).select_from(m.Analytics)) == before


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda s: analytics.backfill(s, start=D, end=D - timedelta(days=1), clock=NOW),
            "invalid_range",
        ),
        (
            lambda s: analytics.backfill(s, start=date(2000, 1, 1), end=D, clock=NOW),
            "invalid_range",
        ),
        (lambda s: analytics.cohorts(s, first_month=D, months=0, clock=NOW), "invalid_argument"),
        (lambda s: analytics.cohorts(s, first_month=D, months=True, clock=NOW), "invalid_argument"),
        (
            lambda s: analytics.cohorts(s, first_month=D, months=10**6, clock=NOW),
            "invalid_argument",
        ),
        (lambda s: analytics.rollup(s, day=D, clock="now"), "invalid_argument"),
        (lambda s: analytics.rollup(s, day=D, clock=datetime.now(UTC)), "invalid_argument"),
        (lambda s: analytics.rollup(s, D), None),
    ],
)
def test_careless_arguments(session: Session, call: Any, code: str | None) -> None:
    with pytest.raises((ValidationError, TypeError)) as caught:
        call(session)
    if code is not None:
        assert isinstance(caught.value, ValidationError)
        assert caught.value.code == code


def test_today_is_allowed_and_partial(session: Session) -> None:
    today = NOW.now().date()
    paid(session, f.user(session), today, "3.00")
    analytics.rollup(session, day=today, clock=NOW)
    assert _rows(session, today)["gross_revenue:USD"] == Decimal("3.00")


def test_revenue_by_product_and_category(session: Session) -> None:
    books, music = f.category(session, name="Books"), f.category(session, name="Music")
    novel = f.product(session, name="Novel", categories=[books])
    album = f.product(session, name="Album", categories=[music, books])
    plain = f.product(session, name="Plain")
    who = f.user(session)
    item = {"quantity": 2, "unit_price": Decimal("15.00")}
    paid(session, who, D, "30.00", product=novel, item=item)
    paid(session, who, D, "12.00", product=album, discount_amount=Decimal("2.00"))
    paid(session, who, D, "5.00", product=plain, currency="EUR")
    f.order(session, who, product=novel, total_amount=Decimal("50.00"), created_at=at(D))  # unpaid
    rows = analytics.revenue_by_product(session, start=D, end=D, clock=NOW)
    assert [(r.name, r.currency, r.revenue, r.quantity, r.orders) for r in rows] == [
        ("Novel", "USD", Decimal("30.00"), 2, 1),
        ("Album", "USD", Decimal("14.00"), 1, 1),  # the line, before the order's discount
        ("Plain", "EUR", Decimal("5.00"), 1, 1),
    ]
    cats = analytics.revenue_by_category(session, start=D, end=D, clock=NOW)
    assert [(r.name, r.revenue) for r in cats] == [
        ("Books", Decimal("44.00")),  # the album is in both categories
        ("Music", Decimal("14.00")),
    ]
    assert (
        analytics.revenue_by_product(
            session, start=D + timedelta(days=1), end=D + timedelta(days=1), clock=NOW
        )
        == []
    )


def test_concurrent_rollups_of_a_day_wait_for_each_other(request: pytest.FixtureRequest) -> None:
    """Two transactions roll up the same day at once: both commit, one set of rows is left.

    (Without the advisory lock the second fails with ``integrity_error``.)
    """
    require_postgres()
    factories: dict[str, DatabaseFactory] = request.getfixturevalue("_factories")
    pg_engine = factories["postgresql"].migrated()
    day = date(2026, 3, 3)
    with Session(pg_engine) as session, session.begin():
        paid(session, f.user(session), day, "9.00")
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        try:
            with Session(pg_engine) as session, session.begin():
                barrier.wait(timeout=30)
                analytics.rollup(session, day=day, clock=NOW)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    with Session(pg_engine) as session, session.begin():
        assert _rows(session, day)["gross_revenue:USD"] == Decimal("9.00")
        count = session.scalar(
            sa.select(sa.func.count()).select_from(m.Analytics).where(m.Analytics.date == day)
        )
        assert count == len(_rows(session, day))
