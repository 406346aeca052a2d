"""quote_order and a following place_order (same inputs, same clock) agree to the cent.

One migrated database per backend; the catalog (customers, products, a USD and
a JPY price each) is built once per backend inside an outer transaction, and
each example runs in a savepoint that is rolled back: it sets random prices,
tax rates and stock, adds a random discount code, quotes, then places.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import errors
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways import FakeGateway

ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
NOW = datetime(2041, 3, 1, 12, tzinfo=UTC)
PRODUCTS = 4
CODE = "QUOTE"


class Catalog:
    def __init__(self, s: Session) -> None:
        self.new_customer = f.user(s).id
        returning = f.user(s)
        f.order(
            s,
            returning,
            status=m.OrderStatus.COMPLETED,
            payment_status=m.PaymentStatus.SUCCEEDED,
            created_at=NOW - timedelta(days=30),
        )
        self.returning_customer = returning.id
        self.products: list[str] = []
        self.prices: dict[tuple[str, str], str] = {}
        for _ in range(PRODUCTS):
            product = f.product(s, track_inventory=True, stock_quantity=100)
            self.products.append(product.id)
            for currency, amount in (("USD", Decimal("10.00")), ("JPY", Decimal("1000"))):
                price = f.price(s, product, currency=currency, unit_amount=amount)
                self.prices[product.id, currency] = price.id


@pytest.fixture
def catalog_conn(engine: Engine) -> Iterator[tuple[Connection, Catalog]]:
    with engine.connect() as conn:
        outer = conn.begin()
        with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
            catalog = Catalog(s)
            s.commit()  # releases the savepoint: the catalog stays for every example
        try:
            yield conn, catalog
        finally:
            outer.rollback()


usd = st.decimals(Decimal("0.01"), Decimal("400.00"), places=2)
jpy = st.integers(1, 40_000).map(Decimal)
rates = st.one_of(st.none(), st.decimals(Decimal("0"), Decimal("0.25"), places=4))


@st.composite
def scenarios(draw: st.DrawFn) -> dict[str, Any]:
    currency = draw(st.sampled_from(["USD", "JPY"]))
    picked = draw(st.lists(st.integers(0, PRODUCTS - 1), min_size=1, max_size=4, unique=True))
    lines = [(i, draw(st.integers(1, 5))) for i in picked]
    amounts = [draw(usd if currency == "USD" else jpy) for _ in range(PRODUCTS)]
    taxes = [draw(rates) for _ in range(PRODUCTS)]
    stock = [draw(st.sampled_from([100] * 12 + [0, 3])) for _ in range(PRODUCTS)]
    discount = draw(discounts(currency)) if draw(st.integers(0, 4)) else None
    return {
        "currency": currency,
        "lines": lines,
        "amounts": amounts,
        "taxes": taxes,
        "stock": stock,
        "discount": discount,
        "returning": draw(st.booleans()),
        "code": draw(st.sampled_from([CODE] * 6 + ["NOSUCH"])),
    }


@st.composite
def discounts(draw: st.DrawFn, currency: str) -> dict[str, Any]:
    kind = draw(st.sampled_from([m.DiscountType.PERCENTAGE, m.DiscountType.FIXED_AMOUNT]))
    if kind is m.DiscountType.PERCENTAGE:
        value = draw(st.decimals(Decimal("1"), Decimal("100"), places=2))
        code_currency: str | None = None
    else:
        value = draw(usd if currency == "USD" else jpy)
        code_currency = draw(st.sampled_from([currency] * 4 + ["EUR"]))
    minimum = draw(usd if currency == "USD" else jpy) if draw(st.integers(0, 2)) == 0 else None
    return {
        "type": kind,
        "value": value,
        "currency": code_currency,
        "minimum_amount": minimum,
        "first_time_only": draw(st.booleans()),
        "active": draw(st.sampled_from([True] * 6 + [False])),
        "valid_until": draw(st.sampled_from([None] * 6 + [NOW - timedelta(days=1)])),
        "max_uses": draw(st.sampled_from([None] * 6 + [0, 5])),
        "restricted": draw(st.lists(st.integers(0, PRODUCTS - 1), max_size=2, unique=True)),
    }


def _setup(s: Session, catalog: Catalog, sc: dict[str, Any]) -> None:
    for i, product_id in enumerate(catalog.products):
        s.execute(
            sa.update(m.Price)
            .where(m.Price.id == catalog.prices[product_id, sc["currency"]])
            .values(unit_amount=sc["amounts"][i])
        )
        s.execute(
            sa.update(m.Product)
            .where(m.Product.id == product_id)
            .values(stock_quantity=sc["stock"][i], tax_rate=sc["taxes"][i])
        )
    d = sc["discount"]
    if d is not None:
        discount = m.Discount(
            code=CODE,
            name=CODE,
            type=d["type"],
            value=d["value"],
            currency=d["currency"],
            minimum_amount=d["minimum_amount"],
            first_time_only=d["first_time_only"],
            active=d["active"],
            valid_until=d["valid_until"],
            max_uses=d["max_uses"],
        )
        s.add(discount)
        s.flush()
        for i in d["restricted"]:
            s.add(m.ProductDiscount(product_id=catalog.products[i], discount_id=discount.id))
    s.flush()


def _outcome(call: Any) -> Any:
    try:
        return call()
    except errors.PaykitError as exc:
        return exc


def _same_refusal(quoted: errors.PaykitError, placed: Any) -> None:
    assert isinstance(placed, errors.PaykitError), placed
    assert (type(placed), placed.code) == (type(quoted), quoted.code)


def _agree(quote: paykit.Quote, order: m.Order) -> None:
    assert (order.currency, order.subtotal, order.discount_amount) == (
        quote.currency,
        quote.subtotal,
        quote.discount_amount,
    )
    assert (order.tax_amount, order.total_amount) == (quote.tax_amount, quote.total_amount)
    assert str(order.total_amount) == str(quote.total_amount)  # same scale: to the cent
    items = [
        (i.price_id, i.product_id, i.quantity, i.unit_price, i.total_price) for i in order.items
    ]
    lines = [(x.price_id, x.product_id, x.quantity, x.unit_price, x.subtotal) for x in quote.lines]
    assert sorted(items) == sorted(lines)
    assert sum(x.total for x in quote.lines) == quote.total_amount
    assert sum(x.tax for x in quote.lines) == quote.tax_amount
    assert sum(x.discount for x in quote.lines) == quote.discount_amount


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sc=scenarios())
def test_quote_agrees_with_place_order(
    catalog_conn: tuple[Connection, Catalog], sc: dict[str, Any]
) -> None:
    conn, catalog = catalog_conn
    clock = FrozenClock(NOW)
    customer = catalog.returning_customer if sc["returning"] else catalog.new_customer
    items = [
        {"price_id": catalog.prices[catalog.products[i], sc["currency"]], "quantity": q}
        for i, q in sc["lines"]
    ]
    code = sc["code"] if sc["discount"] is not None or sc["code"] != CODE else None
    nested = conn.begin_nested()
    try:
        with Session(bind=conn, join_transaction_mode="create_savepoint") as s:
            _setup(s, catalog, sc)
            args = {"customer_id": customer, "items": items, "clock": clock}
            quote = _outcome(lambda: paykit.quote_order(s, **args, discount_code=code))

            def place(discount_code: str | None) -> Any:
                gateway = FakeGateway(clock=clock, namespace="quote")
                return paykit.place_order(
                    s, **args, billing_address=ADDRESS, gateway=gateway, discount_code=discount_code
                )

            if isinstance(quote, errors.PaykitError):
                # The cart's own refusal: place_order raises it with the code, or,
                # when the code does not apply (checked first there), without it.
                placed = _outcome(lambda: place(code))
                if isinstance(placed, errors.DiscountError) and code is not None:
                    placed = _outcome(lambda: place(None))
                _same_refusal(quote, placed)
                event(f"refused: {quote.code}")
                return
            if quote.discount_error is not None:
                refused = _outcome(lambda: place(code))
                assert isinstance(refused, errors.DiscountError), refused
                assert refused.code == quote.discount_error
                code = None
            event(f"placed, {quote.discount_code=}, {quote.discount_error=}")
            placed = place(code)
            _agree(quote, placed.order)
            assert placed.order.discount_amount == 0 or quote.discount_code == code
    finally:
        nested.rollback()
