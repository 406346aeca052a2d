"""Input of the order services."""

from __future__ import annotations

from typing import Annotated

import pydantic
from pydantic import Field

from paykit.schemas.base import StrictModel

__all__ = ["Address", "OrderLine", "PlaceOrderInput"]

Text = Annotated[str, Field(min_length=1, max_length=200)]


class Address(StrictModel):
    """A postal address (billing or shipping), stored as JSON on the order."""

    name: Text | None = None
    line1: Text
    line2: Text | None = None
    city: Text
    state: Text | None = None
    postal_code: Annotated[str, Field(min_length=1, max_length=20)] | None = None
    country: Annotated[str, Field(pattern=r"^[A-Za-z]{2}$")]

    @pydantic.field_validator("country")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class OrderLine(StrictModel):
    """One line: a price (paykit's ``Price.id``) and how many."""

    price_id: Annotated[str, Field(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 1


class PlaceOrderInput(StrictModel):
    """Everything :func:`paykit.place_order` accepts besides its collaborators."""

    customer_id: Annotated[str, Field(min_length=1, max_length=64)]
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    billing_address: Address
    shipping_address: Address | None = None
    discount_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    payment_method_id: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    notes: Annotated[str, Field(max_length=2000)] | None = None
    metadata: dict[str, Annotated[str, Field(max_length=500)]] = Field(
        default_factory=dict, max_length=20
    )

    @pydantic.field_validator("items")
    @classmethod
    def _distinct_prices(cls, items: list[OrderLine]) -> list[OrderLine]:
        seen: set[str] = set()
        for line in items:
            if line.price_id in seen:
                raise ValueError(
                    f"price {line.price_id} appears twice; use one line with a quantity"
                )
            seen.add(line.price_id)
        return items
