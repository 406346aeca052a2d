"""Order lines: the input of pricing, and their checked, integer form."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Final

from paykit._arguments import check_fields
from paykit.errors import CurrencyMismatch, InvalidAmount, ValidationError
from paykit.money import Currency, MoneyInput, _scaled_int, get_currency, to_decimal
from paykit.pricing._units import _units

__all__ = ["LineInput"]


# Tax rates like 0.08875 need more than the column's 4 decimals; 12 is far
# beyond any real rate and keeps the integers small.
_RATE_PLACES: Final = 12
_RATE_SCALE: Final = 10**_RATE_PLACES


@dataclass(frozen=True, slots=True)
class LineInput:
    """One order line to price.

    ``key`` is opaque to paykit (a row id, a ``(product_id, price_id)``
    tuple, an index) and must be unique within an order; it comes back on
    the matching :class:`~paykit.pricing.PricedLine`. ``unit_price`` must be exact in
    ``currency`` (no more decimals than the currency has) and ``>= 0``;
    ``quantity`` is an ``int >= 1``; ``tax_rate`` is a fraction such as
    ``Decimal("0.0825")`` between 0 and 1, or None for no tax.
    """

    key: Hashable
    product_id: str | None
    unit_price: MoneyInput
    quantity: int
    currency: str
    tax_rate: MoneyInput | None = None
    price_id: str | None = None

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, slots=True)
class _Line:
    source: LineInput
    unit: int
    subtotal: int
    rate: int  # tax rate in 10**-12
    rate_decimal: Decimal | None


def _prepare_lines(lines: Sequence[LineInput]) -> tuple[Currency, list[_Line]]:
    if isinstance(lines, str | bytes) or not isinstance(lines, Iterable):
        raise ValidationError("lines must be a sequence of LineInput", code="invalid_argument")
    items = list(lines)
    if not items:
        raise ValidationError("an order needs at least one line", details={"field": "lines"})
    for item in items:
        if not isinstance(item, LineInput):
            raise ValidationError(
                f"expected LineInput, got {type(item).__name__}", code="invalid_argument"
            )
    cur = get_currency(items[0].currency)
    seen: set[Hashable] = set()
    prepared: list[_Line] = []
    for index, item in enumerate(items):
        line_cur = get_currency(item.currency)
        if line_cur.code != cur.code:
            raise CurrencyMismatch(
                f"line {index} is in {line_cur.code}, the order is in {cur.code}",
                details={"line": index, "currency": line_cur.code, "order_currency": cur.code},
            )
        if item.key in seen:
            raise ValidationError(
                f"duplicate line key {item.key!r}", details={"field": "key", "line": index}
            )
        seen.add(item.key)
        quantity = item.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise ValidationError(
                f"quantity must be an int >= 1, got {quantity!r}",
                details={"field": "quantity", "line": index, "value": repr(quantity)},
            )
        unit = _units(item.unit_price, cur, "unit_price")
        rate_decimal: Decimal | None = None
        rate = 0
        if item.tax_rate is not None:
            rate_decimal = to_decimal(item.tax_rate, field="tax_rate")
            scaled = _scaled_int(rate_decimal, _RATE_PLACES)
            if scaled is None or not 0 <= scaled <= _RATE_SCALE:
                raise InvalidAmount(
                    f"tax_rate must be a fraction between 0 and 1 with at most "
                    f"{_RATE_PLACES} decimals, got {item.tax_rate}",
                    details={"field": "tax_rate", "line": index, "value": str(item.tax_rate)},
                )
            rate = scaled
        prepared.append(_Line(item, unit, unit * quantity, rate, rate_decimal))
    return cur, prepared
