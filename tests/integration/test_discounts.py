"""paykit.services.discounts: every rule of a code, and taking and releasing a use,
on SQLite and PostgreSQL (the API subscriptions are meant to share with orders)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.errors import DiscountError, ValidationError
from paykit.services import discounts

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _code(
    session: Session, code: str = "RULES", *, products: tuple[str, ...] = (), **kw: Any
) -> m.Discount:
    row = m.Discount(
        code=code,
        name=code,
        type=kw.pop("type", m.DiscountType.PERCENTAGE),
        value=kw.pop("value", Decimal("10")),
        **kw,
    )
    session.add(row)
    session.flush()
    for product_id in products:
        session.add(m.ProductDiscount(product_id=product_id, discount_id=row.id))
    session.flush()
    return row


def _check(
    session: Session, customer: m.User, product: m.Product, **kw: Any
) -> discounts.DiscountRef:
    args: dict[str, Any] = {
        "code": "rules",
        "customer_id": customer.id,
        "product_ids": [product.id],
        "amount": Decimal("50.00"),
        "currency": "USD",
        "now": NOW,
    }
    args.update(kw)
    return discounts.check_discount(session, **args)


def _refused(session: Session, customer: m.User, product: m.Product, **kw: Any) -> str:
    with pytest.raises(DiscountError) as refused:
        _check(session, customer, product, **kw)
    return refused.value.code


def test_check_discount_finds_the_code_whatever_the_case(session: Session) -> None:
    row = _code(session, "Rules", max_uses=5)
    ref = _check(session, f.user(session), f.product(session), code="RULES")
    assert (ref.id, ref.code, ref.current_uses) == (row.id, "Rules", 0)
    assert ref.rule.max_uses == 5


def test_check_discount_refuses_every_rule_with_the_order_codes(session: Session) -> None:
    customer, product, other = f.user(session), f.product(session), f.product(session)
    assert _refused(session, customer, product, code="NOPE") == "discount_not_found"
    row = _code(session, active=False)
    assert _refused(session, customer, product) == "discount_inactive"
    row.active = True
    row.valid_from = NOW + timedelta(days=1)
    session.flush()
    assert _refused(session, customer, product) == "discount_not_yet_valid"
    row.valid_from, row.valid_until = None, NOW
    session.flush()
    assert _refused(session, customer, product) == "discount_expired"
    row.valid_until, row.max_uses, row.current_uses = None, 2, 2
    session.flush()
    assert _refused(session, customer, product) == "discount_exhausted"
    row.max_uses, row.current_uses, row.minimum_amount = None, 0, Decimal("60.00")
    session.flush()
    assert _refused(session, customer, product) == "discount_minimum_not_met"
    assert _check(session, customer, product, amount=Decimal("60.00")).id == row.id
    row.minimum_amount = None
    session.add(m.ProductDiscount(product_id=other.id, discount_id=row.id))
    session.flush()
    assert _refused(session, customer, product) == "discount_not_applicable"
    # Covered when any of the products is: a subscription names one, a cart several.
    assert _check(session, customer, product, product_ids=[product.id, other.id]).id == row.id


@pytest.mark.partial_state("one step of the discount module, without the order around it")
def test_check_discount_counts_the_customers_uses_and_earlier_orders(session: Session) -> None:
    customer, product = f.user(session), f.product(session)
    row = _code(session, max_uses_per_customer=1, first_time_only=True)
    ref = _check(session, customer, product)
    discounts.take_use(
        session, ref, customer_id=customer.id, order_id=None, amount_saved=Decimal(0), now=NOW
    )
    assert _refused(session, customer, product) == "discount_customer_limit"
    row.max_uses_per_customer = None
    session.flush()
    # A use held without an order is not an earlier order; a paid order is.
    assert _check(session, customer, product).id == row.id
    f.order(session, customer, payment_status=m.PaymentStatus.SUCCEEDED)
    assert _refused(session, customer, product) == "discount_first_time_only"
    # Another customer is unaffected.
    assert _check(session, f.user(session), product).id == row.id


def test_check_customer_limits_is_exact_inside_the_transaction(session: Session) -> None:
    customer = f.user(session)
    row = _code(session, max_uses_per_customer=1)
    ref = discounts.load(session, "RULES")
    discounts.check_customer_limits(session, ref, customer_id=customer.id, order_id=None)
    discounts.take_use(
        session, ref, customer_id=customer.id, order_id=None, amount_saved=Decimal(0), now=NOW
    )
    # The rule object was read before the use: the guard counts again.
    with pytest.raises(DiscountError) as refused:
        discounts.check_customer_limits(session, ref, customer_id=customer.id, order_id=None)
    assert refused.value.code == "discount_customer_limit"
    assert row.id == ref.id


@pytest.mark.partial_state("one step of the discount module, without the order around it")
def test_take_use_counts_records_and_refuses_when_used_up(session: Session) -> None:
    customer = f.user(session)
    order = f.order(session, customer)
    row = _code(session, max_uses=1)
    ref = discounts.load(session, "rules")
    discounts.take_use(
        session, ref, customer_id=customer.id, order_id=order.id, amount_saved=Decimal("5"), now=NOW
    )
    usage = session.scalars(sa.select(m.DiscountUsage)).one()
    assert (usage.discount_id, usage.user_id, usage.order_id) == (row.id, customer.id, order.id)
    assert usage.amount_saved == Decimal("5.00")
    with pytest.raises(DiscountError) as refused:
        discounts.take_use(
            session, ref, customer_id=customer.id, order_id=None, amount_saved=Decimal(0), now=NOW
        )
    assert refused.value.code == "discount_exhausted"
    session.refresh(row)
    assert row.current_uses == 1
    assert session.scalar(sa.select(sa.func.count()).select_from(m.DiscountUsage)) == 1


def test_take_use_refuses_a_code_deactivated_since_it_was_read(session: Session) -> None:
    customer = f.user(session)
    row = _code(session)
    ref = discounts.load(session, "rules")
    row.active = False
    session.flush()
    with pytest.raises(DiscountError) as refused:
        discounts.take_use(
            session, ref, customer_id=customer.id, order_id=None, amount_saved=Decimal(0), now=NOW
        )
    assert refused.value.code == "discount_exhausted"
    assert session.scalar(sa.select(sa.func.count()).select_from(m.DiscountUsage)) == 0


def test_release_use_by_order_and_by_usage(session: Session) -> None:
    customer = f.user(session)
    order = f.order(session, customer)
    row = _code(session)
    ref = discounts.load(session, "rules")
    for order_id in (order.id, None):
        discounts.take_use(
            session,
            ref,
            customer_id=customer.id,
            order_id=order_id,
            amount_saved=Decimal(0),
            now=NOW,
        )
    session.refresh(row)
    assert row.current_uses == 2
    discounts.release_use(session, order_id=order.id, now=NOW)
    session.refresh(row)
    assert row.current_uses == 1
    left = session.scalars(sa.select(m.DiscountUsage)).one()
    assert left.order_id is None
    discounts.release_use(session, usage_id=left.id, now=NOW)
    session.refresh(row)
    assert row.current_uses == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(m.DiscountUsage)) == 0
    # Releasing what is not held changes nothing and never goes below zero.
    discounts.release_use(session, order_id=order.id, now=NOW)
    session.refresh(row)
    assert row.current_uses == 0
    with pytest.raises(ValidationError):
        discounts.release_use(session, now=NOW)
