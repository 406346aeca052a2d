"""Quotes: price a cart exactly as ``place_order`` would, without writing anything.

The figures come from the same code path ``place_order`` uses
(``orders._price_checked``: read, price, check stock and storable amounts), so
a quote and the order placed right after it with the same inputs and clock
agree to the cent. No gateway is called and nothing is flushed or written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import pydantic
from pydantic import Field
from sqlalchemy.orm import Session

from paykit._arguments import checked
from paykit.clock import Clock, resolve_clock
from paykit.errors import DiscountError
from paykit.pricing import PricedOrder
from paykit.schemas.base import StrictModel, validate
from paykit.schemas.orders import OrderLine, PlaceOrderInput
from paykit.services.orders import _price_checked

__all__ = ["Quote", "QuoteLine", "quote_order"]


class _QuoteInput(StrictModel):
    customer_id: Annotated[str, Field(min_length=1, max_length=64)]
    items: Annotated[list[OrderLine], Field(min_length=1, max_length=100)]
    discount_code: Annotated[str, Field(min_length=1, max_length=64)] | None = None

    @pydantic.field_validator("items")
    @classmethod
    def _distinct_prices(cls, items: list[OrderLine]) -> list[OrderLine]:
        # One line per price, refused exactly as place_order refuses it.
        return PlaceOrderInput._distinct_prices(items)


@dataclass(frozen=True, slots=True)
class QuoteLine:
    """One priced line of a quote, in the quote's currency."""

    price_id: str
    product_id: str
    quantity: int
    unit_price: Decimal
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class Quote:
    """What ``place_order`` would charge for a cart now.

    ``discount_code`` is the code that was applied (None when none was given or
    it does not apply); ``discount_error`` is the stable code of the
    ``DiscountError`` ``place_order`` would raise for the given code (e.g.
    ``discount_expired``), in which case the figures are those without it.
    """

    customer_id: str
    currency: str
    subtotal: Decimal
    discount_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal
    lines: tuple[QuoteLine, ...]
    discount_code: str | None = None
    discount_error: str | None = None


@checked
def quote_order(
    session: Session,
    *,
    customer_id: str,
    items: Sequence[Mapping[str, Any]],
    discount_code: str | None = None,
    clock: Clock | None = None,
) -> Quote:
    """Price a cart as :func:`paykit.place_order` would, writing nothing.

    ``items`` are ``{"price_id": ..., "quantity": ...}`` mappings, as for
    ``place_order``. A discount code that does not apply is reported in
    ``Quote.discount_error`` instead of raised, and the cart is priced without
    it. Every other refusal (``ValidationError``, an unknown price
    ``NotFound``, an unavailable product, ``InsufficientStock``, an amount below
    the minimum charge or too large ``InvalidAmount``) raises exactly what
    ``place_order`` would. No gateway is called; the session is not flushed, so
    the host's unflushed changes are not seen.
    """
    data = validate(
        _QuoteInput,
        {"customer_id": customer_id, "items": list(items), "discount_code": discount_code},
    )
    now = resolve_clock(clock).now()
    lines = [(line.price_id, line.quantity) for line in data.items]
    error: str | None = None
    try:
        _, _, _, priced = _price_checked(session, data.customer_id, lines, data.discount_code, now)
    except DiscountError as exc:
        error = exc.code
        _, _, _, priced = _price_checked(session, data.customer_id, lines, None, now)
    return _quote(data.customer_id, priced, error)


def _quote(customer_id: str, priced: PricedOrder, error: str | None) -> Quote:
    return Quote(
        customer_id=customer_id,
        currency=priced.currency,
        subtotal=priced.subtotal,
        discount_amount=priced.discount,
        tax_amount=priced.tax,
        total_amount=priced.total,
        lines=tuple(
            QuoteLine(
                price_id=str(line.price_id),
                product_id=str(line.product_id),
                quantity=line.quantity,
                unit_price=line.unit_price,
                subtotal=line.subtotal,
                discount=line.discount,
                tax=line.tax,
                total=line.total,
            )
            for line in priced.lines
        ),
        discount_code=priced.discount_code,
        discount_error=error,
    )
