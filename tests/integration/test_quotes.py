"""quote_order: the figures, the discount's eligibility code, refusals, and no writes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import InsufficientStock, InvalidAmount, NotFound, ValidationError

CLOCK = FrozenClock(datetime(2042, 6, 1, tzinfo=UTC))


def _counts(session: Session) -> tuple[int, ...]:
    tables = (m.Order, m.OrderItem, m.AuditLog, m.DiscountUsage, m.IdempotencyKey)
    return tuple(
        int(session.scalar(sa.select(sa.func.count()).select_from(t)) or 0) for t in tables
    )


def _cart(session: Session) -> tuple[m.User, m.Product, m.Price]:
    user = f.user(session)
    product = f.product(session, tax_rate=Decimal("0.1000"), track_inventory=True, stock_quantity=5)
    return user, product, f.price(session, product, unit_amount=Decimal("19.99"))


def test_a_quote_prices_lines_and_writes_nothing(session: Session) -> None:
    user, product, price = _cart(session)
    session.add(
        m.Discount(code="TENOFF", name="10", type=m.DiscountType.PERCENTAGE, value=Decimal("10"))
    )
    session.flush()
    before = _counts(session)
    quote = paykit.quote_order(
        session,
        customer_id=user.id,
        items=[{"price_id": price.id, "quantity": 3}],
        discount_code="TENOFF",
        clock=CLOCK,
    )
    assert _counts(session) == before
    assert not session.new
    assert not session.dirty
    assert (quote.subtotal, quote.discount_amount) == (Decimal("59.97"), Decimal("6.00"))
    assert (quote.tax_amount, quote.total_amount) == (Decimal("5.40"), Decimal("59.37"))
    assert (quote.discount_code, quote.discount_error, quote.currency) == ("TENOFF", None, "USD")
    (line,) = quote.lines
    assert (line.price_id, line.product_id, line.quantity) == (price.id, product.id, 3)
    assert (line.unit_price, line.subtotal, line.discount, line.tax, line.total) == (
        Decimal("19.99"),
        Decimal("59.97"),
        Decimal("6.00"),
        Decimal("5.40"),
        Decimal("59.37"),
    )


@pytest.mark.parametrize(
    ("discount", "error"),
    [
        ({"valid_until": CLOCK.now() - timedelta(days=1)}, "discount_expired"),
        ({"active": False}, "discount_inactive"),
        (None, "discount_not_found"),
    ],
)
def test_a_code_that_does_not_apply_is_reported_not_raised(
    session: Session, discount: dict[str, object] | None, error: str
) -> None:
    user, _, price = _cart(session)
    if discount is not None:
        session.add(
            m.Discount(
                code="NOPE",
                name="n",
                type=m.DiscountType.PERCENTAGE,
                value=Decimal("50"),
                **discount,
            )
        )
        session.flush()
    quote = paykit.quote_order(
        session,
        customer_id=user.id,
        items=[{"price_id": price.id}],
        discount_code="NOPE",
        clock=CLOCK,
    )
    assert (quote.discount_error, quote.discount_code) == (error, None)
    assert (quote.discount_amount, quote.total_amount) == (Decimal("0.00"), Decimal("21.99"))


def test_other_refusals_raise_as_place_order_would(session: Session) -> None:
    user, _, price = _cart(session)
    with pytest.raises(InsufficientStock):
        paykit.quote_order(
            session, customer_id=user.id, items=[{"price_id": price.id, "quantity": 6}]
        )
    with pytest.raises(NotFound):
        paykit.quote_order(session, customer_id=user.id, items=[{"price_id": "nope"}])
    cheap = f.price(session, f.product(session), unit_amount=Decimal("0.10"))
    with pytest.raises(InvalidAmount) as caught:
        paykit.quote_order(session, customer_id=user.id, items=[{"price_id": cheap.id}])
    assert caught.value.code == "amount_below_minimum"
    with pytest.raises(ValidationError):
        paykit.quote_order(session, customer_id=user.id, items=[])
    with pytest.raises(ValidationError):
        paykit.quote_order(
            session, customer_id=user.id, items=[{"price_id": price.id}, {"price_id": price.id}]
        )
