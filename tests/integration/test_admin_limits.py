"""Admin input the columns cannot hold is a ValidationError, with limits read from the columns.

Every numeric field of an admin input schema that names a column of the model it
writes is found here, and the column's type (``NUMERIC(p, s)``, ``INTEGER``)
gives the values that must be refused; no limit is written down twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests import factories as f

from paykit import models as m
from paykit.clock import FrozenClock
from paykit.errors import ValidationError
from paykit.models.types import ExactDecimal
from paykit.schemas.admin import (
    DiscountInput,
    DiscountUpdate,
    PriceInput,
    ProductInput,
    ProductUpdate,
)
from paykit.schemas.base import validate
from paykit.security import Actor
from paykit.services import admin

CLOCK = FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))
PRODUCT = {
    "name": "Pro plan",
    "description": "Everything, monthly.",
    "base_price": "29.00",
    "type": "ONE_TIME",
    "slug": "limits-plan",
}
# Each admin schema, the model it writes, and a valid payload to vary one field of.
SCHEMAS: list[tuple[type[pydantic.BaseModel], type[m.Base], dict[str, Any]]] = [
    (ProductInput, m.Product, PRODUCT),
    (ProductUpdate, m.Product, {}),
    (PriceInput, m.Price, {"stripe_price_id": "price_x", "unit_amount": "1.00"}),
    (
        DiscountInput,
        m.Discount,
        {"code": "LIMITS", "name": "n", "type": "FIXED_AMOUNT", "value": "1"},
    ),
    (DiscountUpdate, m.Discount, {}),
]
INT_BITS = {sa.SmallInteger: 15, sa.Integer: 31, sa.BigInteger: 63}


def _too_big_or_too_fine(column: sa.Column[Any]) -> list[Any]:
    kind = column.type
    if isinstance(kind, ExactDecimal):
        whole = Decimal(10) ** (kind.precision - kind.scale)
        return [str(whole), str(whole * 10), str(Decimal(1).scaleb(-(kind.scale + 1)))]
    bits = next(b for t, b in INT_BITS.items() if type(kind) is t)
    return [2**bits, -(2**bits) - 1]


def bounded_fields() -> list[tuple[type[pydantic.BaseModel], str, sa.Column[Any], dict[str, Any]]]:
    found = []
    for schema, model, payload in SCHEMAS:
        table = model.__table__
        for name in schema.model_fields:
            column = table.c.get(name)
            if column is not None and isinstance(column.type, (ExactDecimal, sa.Integer)):
                found.append((schema, name, column, payload))
    return found


FIELDS = bounded_fields()


def test_the_bounded_fields_are_found() -> None:
    names = {f"{schema.__name__}.{name}" for schema, name, _, _ in FIELDS}
    assert {
        "ProductInput.base_price",
        "ProductInput.tax_rate",
        "ProductInput.stock_quantity",
        "ProductUpdate.tax_rate",
        "PriceInput.unit_amount",
        "DiscountInput.value",
        "DiscountInput.minimum_amount",
        "DiscountInput.max_uses",
        "DiscountUpdate.max_uses",
    } <= names


@pytest.mark.parametrize(
    ("schema", "name", "column", "payload"),
    FIELDS,
    ids=[f"{s.__name__}.{n}" for s, n, _, _ in FIELDS],
)
def test_values_past_the_column_are_refused(
    schema: type[pydantic.BaseModel], name: str, column: sa.Column[Any], payload: dict[str, Any]
) -> None:
    for bad in _too_big_or_too_fine(column):
        with pytest.raises(ValidationError) as caught:
            validate(schema, {**payload, name: bad})
        assert caught.value.code == "validation_error"
        assert caught.value.details["errors"][0]["loc"] == [name]


# Each field's own floor, said here independently of the schema (a schema whose
# floor was silently replaced by its column's range shows the wrong floor in its
# JSON schema too): the first value refused, the smallest accepted.
FLOORS: list[tuple[type[pydantic.BaseModel], dict[str, Any], str, Any, Any]] = [
    (ProductInput, PRODUCT, "stock_quantity", -1, 0),
    (ProductUpdate, {}, "stock_quantity", -5, 0),
    (ProductInput, PRODUCT, "base_price", "0", "0.01"),
    (ProductUpdate, {}, "base_price", "0", "0.01"),
    (ProductInput, PRODUCT, "tax_rate", "-0.0001", "0"),
    (PriceInput, SCHEMAS[2][2], "unit_amount", "-0.01", "0"),
    (DiscountInput, SCHEMAS[3][2], "value", "0", "0.01"),
    (DiscountInput, SCHEMAS[3][2], "max_uses", 0, 1),
    (DiscountInput, SCHEMAS[3][2], "max_uses_per_customer", 0, 1),
    (DiscountInput, SCHEMAS[3][2], "minimum_amount", "-0.01", "0"),
    (DiscountUpdate, {}, "max_uses", 0, 1),
    (DiscountUpdate, {}, "max_uses", -3, 1),
]


@pytest.mark.parametrize(
    ("schema", "payload", "name", "refused", "accepted"),
    FLOORS,
    ids=[f"{s.__name__}.{n}={r}" for s, _, n, r, _ in FLOORS],
)
def test_each_field_keeps_its_own_floor_beside_its_column_range(
    schema: type[pydantic.BaseModel],
    payload: dict[str, Any],
    name: str,
    refused: Any,
    accepted: Any,
) -> None:
    with pytest.raises(ValidationError) as caught:
        validate(schema, {**payload, name: refused})
    assert caught.value.details["errors"][0]["loc"] == [name]
    assert getattr(validate(schema, {**payload, name: accepted}), name) == (
        Decimal(accepted) if isinstance(accepted, str) else accepted
    )


@pytest.fixture
def boss(session: Session) -> Actor:
    return Actor.of(f.user(session, role=m.UserRole.ADMIN))


def _rows(session: Session) -> tuple[int, int, list[Any]]:
    session.flush()
    return (
        session.scalar(sa.select(sa.func.count()).select_from(m.Product)) or 0,
        session.scalar(sa.select(sa.func.count()).select_from(m.Price)) or 0,
        session.execute(sa.select(m.Product.base_price, m.Product.tax_rate)).all(),
    )


@pytest.mark.parametrize(
    "change",
    [{"tax_rate": "0.12345"}, {"base_price": "1e8"}, {"base_price": Decimal("100000000")}],
)
def test_services_refuse_what_the_columns_cannot_hold(
    session: Session, boss: Actor, change: dict[str, Any]
) -> None:
    product = admin.create_product(session, actor=boss, data=PRODUCT, clock=CLOCK)
    before = _rows(session)
    with pytest.raises(ValidationError):
        admin.create_product(
            session, actor=boss, data={**PRODUCT, "slug": "other-plan", **change}, clock=CLOCK
        )
    with pytest.raises(ValidationError):
        admin.update_product(session, actor=boss, product_id=product.id, changes=change)
    if "base_price" in change:
        with pytest.raises(ValidationError):
            admin.create_price(
                session,
                actor=boss,
                product_id=product.id,
                data={"stripe_price_id": "price_big", "unit_amount": change["base_price"]},
            )
    assert _rows(session) == before


def test_the_largest_value_a_column_holds_is_stored(session: Session, boss: Actor) -> None:
    product = admin.create_product(
        session,
        actor=boss,
        data={**PRODUCT, "base_price": "99999999.99", "tax_rate": "0.1234"},
        clock=CLOCK,
    )
    session.expire_all()
    stored = session.get(m.Product, product.id)
    assert stored is not None
    assert (stored.base_price, stored.tax_rate) == (Decimal("99999999.99"), Decimal("0.1234"))


def test_deleting_a_product_sets_deleted_at_and_restoring_clears_it(
    session: Session, boss: Actor
) -> None:
    product = admin.create_product(session, actor=boss, data=PRODUCT, clock=CLOCK)
    later = FrozenClock(datetime(2026, 4, 1, tzinfo=UTC))
    admin.update_product(
        session, actor=boss, product_id=product.id, changes={"status": "DELETED"}, clock=later
    )
    assert (product.status, product.deleted_at) == (m.ProductStatus.DELETED, later.now())
    admin.update_product(
        session, actor=boss, product_id=product.id, changes={"status": "DRAFT"}, clock=later
    )
    assert (product.status, product.deleted_at) == (m.ProductStatus.DRAFT, None)
    born_deleted = admin.create_product(
        session, actor=boss, data={**PRODUCT, "slug": "gone", "status": "DELETED"}, clock=later
    )
    assert born_deleted.deleted_at == later.now()


@pytest.mark.partial_state(
    "a discount with current_uses and no usage rows, to reach the limit quickly"
)
def test_a_refused_discount_update_leaves_nothing_changed(session: Session) -> None:
    # Found by the public-surface sweep: the max_uses check ran after earlier
    # fields had been set, so the refusal left a dirty Discount behind.
    staff = Actor.of(f.user(session, role=m.UserRole.ADMIN))
    discount = m.Discount(
        code="USED", name="Used", type=m.DiscountType.PERCENTAGE, value=Decimal("5"), current_uses=3
    )
    session.add(discount)
    session.flush()
    with pytest.raises(ValidationError) as refused:
        admin.update_discount(
            session,
            actor=staff,
            discount_id=discount.id,
            changes={"name": "Renamed", "description": "new", "max_uses": 2},
        )
    assert refused.value.code == "max_uses_below_current"
    assert not session.dirty
    session.refresh(discount)
    assert discount.name == "Used"


def test_a_discount_cannot_end_before_it_starts(session: Session) -> None:
    # DiscountInput refuses such a window; an update could make one.
    staff = Actor.of(f.user(session, role=m.UserRole.ADMIN))
    start = datetime(2026, 4, 1, tzinfo=UTC)
    discount = m.Discount(
        code="LATER",
        name="Later",
        type=m.DiscountType.PERCENTAGE,
        value=Decimal("5"),
        valid_from=start,
    )
    session.add(discount)
    session.flush()
    for until in (start, datetime(2026, 3, 1, tzinfo=UTC)):
        with pytest.raises(ValidationError) as refused:
            admin.update_discount(
                session,
                actor=staff,
                discount_id=discount.id,
                changes={"name": "Renamed", "valid_until": until.isoformat()},
                clock=CLOCK,
            )
        assert refused.value.details["errors"][0]["loc"] == ["valid_until"]
        assert not session.dirty
    later = datetime(2026, 5, 1, tzinfo=UTC)
    changed = admin.update_discount(
        session, actor=staff, discount_id=discount.id, changes={"valid_until": later}, clock=CLOCK
    )
    assert changed.valid_until == later
