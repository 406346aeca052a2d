"""``assemble`` builds the same output models as pydantic's validation does."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
import pytest

from paykit.services.catalog.out import PriceOut, ProductOut
from paykit.services.reads import OrderItemOut, Page, PaymentOut, assemble, assemble_all

_PRICE: dict[str, Any] = {
    "id": "pr1",
    "nickname": None,
    "unit_amount": Decimal("9.50"),
    "currency": "USD",
    "type": "ONE_TIME",
    "recurring": None,
}
_ITEM: dict[str, Any] = {
    "id": "i1",
    "product_id": "p1",
    "price_id": "pr1",
    "quantity": 2,
    "unit_price": Decimal("9.50"),
    "total_price": Decimal("19.00"),
    "download_count": 0,
    "access_expires_at": datetime(2030, 1, 1, tzinfo=UTC),
}
_PAYMENT: dict[str, Any] = {
    "status": "SUCCEEDED",
    "method": None,
    "payment_intent_id": None,
    "refunded_amount": Decimal("0.00"),
}


@pytest.mark.parametrize(
    ("model", "values"),
    [(PriceOut, _PRICE), (OrderItemOut, _ITEM), (PaymentOut, _PAYMENT)],
)
def test_assemble_equals_validation(model: Any, values: dict[str, Any]) -> None:
    built = assemble(model, dict(values))
    validated = model.model_validate(values)
    assert built == validated
    assert built.model_dump() == validated.model_dump()
    assert built.model_dump_json() == validated.model_dump_json()
    assert built.model_fields_set == validated.model_fields_set
    with pytest.raises(pydantic.ValidationError):  # still frozen
        built.id = "other"


def test_assemble_all_builds_each_row_as_validation_does() -> None:
    rows = [dict(_PRICE), {**_PRICE, "id": "pr2", "unit_amount": Decimal("1.00")}]
    built = assemble_all(PriceOut, [dict(row) for row in rows])
    assert built == [PriceOut.model_validate(row) for row in rows]
    assert [b.model_dump_json() for b in built] == [
        PriceOut.model_validate(row).model_dump_json() for row in rows
    ]
    # each model its own fields set: one copy's change never reaches another
    assert built[0].model_fields_set is not built[1].model_fields_set
    assert built[0].model_copy(update={"id": "x"}).id == "x"
    assert built[1].id == "pr2"


def test_assembled_pages_serialize_like_validated_ones() -> None:
    product: dict[str, Any] = {
        "id": "p1",
        "name": "P",
        "slug": "p",
        "short_description": None,
        "type": "ONE_TIME",
        "status": "PUBLISHED",
        "base_price": Decimal("9.50"),
        "currency": "USD",
        "featured": False,
        "tags": [],
        "images": [],
        "billing_interval": None,
        "trial_days": None,
        "created_at": datetime(2030, 1, 1, tzinfo=UTC),
        "published_at": None,
        "review_count": 0,
    }
    built = assemble(
        Page[ProductOut],
        {
            "items": [assemble(ProductOut, {**product, "prices": [assemble(PriceOut, _PRICE)]})],
            "next_cursor": None,
        },
    )
    validated = Page[ProductOut].model_validate(
        {"items": [{**product, "prices": [_PRICE]}], "next_cursor": None}
    )
    assert built == validated
    assert built.model_dump_json() == validated.model_dump_json()
    assert '"unit_amount":"9.50"' in built.model_dump_json()
