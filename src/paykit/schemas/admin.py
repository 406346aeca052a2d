"""Input of the admin services: products (seed 5.1's ``productSchema``), prices, discounts."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
import sqlalchemy as sa
from pydantic import Field

from paykit.models.base import Base
from paykit.models.catalog import Price, Product
from paykit.models.discounts import Discount
from paykit.models.enums import DiscountType, PriceType, ProductStatus, ProductType
from paykit.models.types import ExactDecimal
from paykit.schemas.base import StrictModel

__all__ = ["DiscountInput", "DiscountUpdate", "PriceInput", "ProductInput", "ProductUpdate"]

Slug = Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$", max_length=200)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$")]
# Money arrives as Decimal or a decimal string; a float is refused by strict mode.
Money = Annotated[Decimal, Field(strict=False, allow_inf_nan=False)]


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("money must be a Decimal, an int or a decimal string, not a float")
    return value


MoneyIn = Annotated[Money, pydantic.BeforeValidator(_no_float)]
# What the columns hold (seed: Decimal(10,2) money, (5,4) tax rates, (10,4) discount
# values), said here so a value past its column is a field error, not a driver error.
Amount = Annotated[MoneyIn, Field(max_digits=10, decimal_places=2)]
Rate = Annotated[MoneyIn, Field(ge=0, le=1, max_digits=5, decimal_places=4)]
DiscountValue = Annotated[MoneyIn, Field(gt=0, max_digits=10, decimal_places=4)]
INT32_MAX = 2**31 - 1  # an INTEGER column

_INT_BITS = ((sa.SmallInteger, 16), (sa.BigInteger, 64), (sa.Integer, 32))


def _fits(model: type[Base], name: str, **bounds: Any) -> Any:
    """Field constraints that keep a value inside the column ``model.name`` can hold,
    together with the field's own ``bounds`` (``ge=1``, ``gt=0``, ``le=1``).

    Read from the column's type, so a limit is never written down twice:
    ``NUMERIC(p, s)`` allows ``s`` decimals and ``p - s`` whole digits, an
    integer column its signed range. A value past them is a ``ValidationError``
    instead of a database error at flush. The field's bounds go in the same
    ``Field``: two ``Field``s in one ``Annotated`` do not add up, the later one's
    ``ge`` replaces the earlier one's (so ``Field(ge=1), Field(ge=-2**31)``
    once let ``max_uses=0`` and a stock of -5 through).
    """
    kind = model.__table__.c[name].type
    if isinstance(kind, ExactDecimal):
        return Field(max_digits=kind.precision, decimal_places=kind.scale, **bounds)
    bits = next(b for t, b in _INT_BITS if isinstance(kind, t))
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    ge = max(low, bounds.pop("ge", low))
    le = min(high, bounds.pop("le", high))
    return Field(ge=ge, le=le, **bounds)


class ProductInput(StrictModel):
    """A new product: the seed's ``productSchema`` plus what the table needs."""

    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(min_length=10, max_length=20_000)]
    base_price: Annotated[MoneyIn, _fits(Product, "base_price", gt=0)]
    type: ProductType
    billing_interval: Literal["month", "year"] | None = None
    slug: Slug
    currency: CurrencyCode = "USD"
    short_description: Annotated[str, Field(max_length=500)] | None = None
    status: ProductStatus = ProductStatus.DRAFT
    tax_rate: Annotated[MoneyIn, _fits(Product, "tax_rate", ge=0, le=1)] | None = None
    track_inventory: bool = False
    stock_quantity: Annotated[int, _fits(Product, "stock_quantity", ge=0)] = 0

    @pydantic.model_validator(mode="after")
    def _interval(self) -> ProductInput:
        if (self.type is ProductType.SUBSCRIPTION) != (self.billing_interval is not None):
            raise ValueError("billing_interval is required for, and only for, subscriptions")
        return self


class ProductUpdate(StrictModel):
    """Product fields an admin may change; a field left out is left alone."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(min_length=10, max_length=20_000)] | None = None
    short_description: Annotated[str, Field(max_length=500)] | None = None
    base_price: Annotated[MoneyIn, _fits(Product, "base_price", gt=0)] | None = None
    status: ProductStatus | None = None
    tax_rate: Annotated[MoneyIn, _fits(Product, "tax_rate", ge=0, le=1)] | None = None
    featured: bool | None = None
    track_inventory: bool | None = None
    stock_quantity: Annotated[int, _fits(Product, "stock_quantity", ge=0)] | None = None


class PriceInput(StrictModel):
    """A price of a product, mirrored from the gateway's price object."""

    stripe_price_id: Annotated[str, Field(min_length=1, max_length=255)]
    unit_amount: Annotated[MoneyIn, _fits(Price, "unit_amount", ge=0)]
    currency: CurrencyCode = "USD"
    type: PriceType = PriceType.ONE_TIME
    nickname: Annotated[str, Field(max_length=200)] | None = None
    interval: Literal["day", "week", "month", "year"] | None = None
    interval_count: Annotated[int, Field(ge=1, le=365)] = 1

    @pydantic.model_validator(mode="after")
    def _recurring(self) -> PriceInput:
        if (self.type is PriceType.RECURRING) != (self.interval is not None):
            raise ValueError("interval is required for, and only for, recurring prices")
        return self


class DiscountInput(StrictModel):
    """A new discount code."""

    code: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{3,64}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2000)] | None = None
    type: DiscountType
    value: Annotated[MoneyIn, _fits(Discount, "value", gt=0)]
    currency: CurrencyCode | None = "USD"
    max_uses: Annotated[int, _fits(Discount, "max_uses", ge=1)] | None = None
    max_uses_per_customer: Annotated[int, _fits(Discount, "max_uses_per_customer", ge=1)] | None = (
        None
    )
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    minimum_amount: Annotated[MoneyIn, _fits(Discount, "minimum_amount", ge=0)] | None = None
    first_time_only: bool = False
    active: bool = True
    product_ids: Annotated[list[str], Field(max_length=1000)] = Field(default_factory=list)

    @pydantic.model_validator(mode="after")
    def _rules(self) -> DiscountInput:
        # The seed's check_discount_percentage, said before the database says it.
        if self.type is DiscountType.PERCENTAGE and self.value > 100:
            raise ValueError("a percentage discount is at most 100")
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        for moment in (self.valid_from, self.valid_until):
            if moment is not None and moment.tzinfo is None:
                raise ValueError("validity dates must be timezone-aware")
        return self


class DiscountUpdate(StrictModel):
    """Discount fields an admin may change after creation."""

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None
    active: bool | None = None
    max_uses: Annotated[int, _fits(Discount, "max_uses", ge=1)] | None = None
    valid_until: datetime | None = None

    @pydantic.field_validator("valid_until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("valid_until must be timezone-aware")
        return value
