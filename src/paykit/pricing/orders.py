"""Order pricing: line subtotals, the discount and its allocation, tax and total."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from paykit._arguments import checked
from paykit.errors import InvalidAmount, ValidationError
from paykit.money import MoneyInput, _from_scaled_int, get_currency
from paykit.pricing._units import _half_up, _largest_remainder, _units
from paykit.pricing.discounts import (
    DiscountRule,
    DiscountUsageCounts,
    _check_eligibility,
    _discount_units,
    _validate_rule,
)
from paykit.pricing.lines import _RATE_SCALE, LineInput, _prepare_lines
from paykit.pricing.refunds import RefundSplit, refund_split

__all__ = ["PricedLine", "PricedOrder", "allocate", "price_order"]


@dataclass(frozen=True, slots=True)
class PricedLine:
    """One priced line; maps to an ``OrderItem`` row.

    ``subtotal = unit_price * quantity`` (``OrderItem.total_price``),
    ``discount`` is this line's share of the order discount (0 when the line
    is not ``eligible``), ``tax`` is charged on ``subtotal - discount``, and
    ``total = subtotal - discount + tax``.
    """

    key: Hashable
    product_id: str | None
    price_id: str | None
    unit_price: Decimal
    quantity: int
    tax_rate: Decimal | None
    eligible: bool
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal


@dataclass(frozen=True, slots=True)
class PricedOrder:
    """A priced order; maps to an ``Order`` row and its ``OrderItem`` rows.

    ``subtotal``, ``discount``, ``tax`` and ``total`` are the sums of the
    same fields over ``lines`` (``Order.subtotal``, ``discount_amount``,
    ``tax_amount``, ``total_amount``), and ``total = subtotal - discount +
    tax >= 0``. ``eligible_subtotal`` is the part of ``subtotal`` the
    discount applied to; ``discount_code`` is None without a discount.
    """

    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: Decimal
    discount: Decimal
    tax: Decimal
    total: Decimal
    eligible_subtotal: Decimal
    discount_code: str | None = None

    def line(self, key: Hashable) -> PricedLine:
        """The priced line with this ``key``; raises ``KeyError`` if there is none."""
        for priced in self.lines:
            if priced.key == key:
                return priced
        raise KeyError(key)

    def refund_split(
        self,
        amount: MoneyInput | None = None,
        *,
        refunded: MoneyInput = 0,
        tax_refunded: MoneyInput | None = None,
    ) -> RefundSplit:
        """:func:`refund_split` for this order's ``total`` and ``tax``."""
        return refund_split(
            amount,
            total=self.total,
            tax=self.tax,
            currency=self.currency,
            refunded=refunded,
            tax_refunded=tax_refunded,
        )


@checked
def price_order(
    lines: Sequence[LineInput],
    *,
    discount: DiscountRule | None = None,
    usage: DiscountUsageCounts | None = None,
    now: datetime | None = None,
) -> PricedOrder:
    """Price an order: line subtotals, the discount, its allocation, tax and total.

    All lines must share one currency (:class:`~paykit.errors.CurrencyMismatch`
    otherwise). With a ``discount``, ``usage`` and an aware ``now`` are
    required, the discount is checked in :data:`DISCOUNT_CHECK_ORDER` (a
    refusal raises :class:`~paykit.errors.DiscountError` with its code), its
    amount is computed on the eligible subtotal and allocated across the
    eligible lines by largest remainder, and each line is taxed half-up on
    its discounted amount.
    """
    cur, prepared = _prepare_lines(lines)
    exp = cur.exponent
    mask = [True] * len(prepared)
    eligible_units = sum(line.subtotal for line in prepared)
    discount_units = 0
    code: str | None = None
    if discount is not None:
        if usage is None or now is None:
            raise ValidationError(
                "pricing with a discount needs both usage= and now=", code="invalid_argument"
            )
        rule = _validate_rule(discount)
        mask, eligible_units = _check_eligibility(rule, cur, prepared, usage, now)
        discount_units = _discount_units(rule, eligible_units)
        code = discount.code
    weights = [line.subtotal if ok else 0 for line, ok in zip(prepared, mask, strict=True)]
    shares = _largest_remainder(discount_units, weights)

    priced: list[PricedLine] = []
    subtotal = tax = 0
    for line, ok, share in zip(prepared, mask, shares, strict=True):
        line_tax = _half_up((line.subtotal - share) * line.rate, _RATE_SCALE)
        subtotal += line.subtotal
        tax += line_tax
        src = line.source
        priced.append(
            PricedLine(
                key=src.key,
                product_id=src.product_id,
                price_id=src.price_id,
                unit_price=_from_scaled_int(line.unit, exp),
                quantity=src.quantity,
                tax_rate=line.rate_decimal,
                eligible=ok,
                subtotal=_from_scaled_int(line.subtotal, exp),
                discount=_from_scaled_int(share, exp),
                tax=_from_scaled_int(line_tax, exp),
                total=_from_scaled_int(line.subtotal - share + line_tax, exp),
            )
        )
    # Shares never exceed their line and taxes are >= 0, so the total cannot
    # go below zero; no clamp is needed (docs/pricing.md has the argument).
    return PricedOrder(
        currency=cur.code,
        lines=tuple(priced),
        subtotal=_from_scaled_int(subtotal, exp),
        discount=_from_scaled_int(discount_units, exp),
        tax=_from_scaled_int(tax, exp),
        total=_from_scaled_int(subtotal - discount_units + tax, exp),
        eligible_subtotal=_from_scaled_int(eligible_units, exp),
        discount_code=code,
    )


@checked
def allocate(
    amount: MoneyInput, weights: Sequence[MoneyInput], *, currency: str
) -> tuple[Decimal, ...]:
    """Split ``amount`` across ``weights`` pro rata, by largest remainder.

    Each weight first gets the floor of its exact share (in minor units);
    the units left over go one each to the weights with the largest
    remainders, ties to the earlier weight. The shares sum exactly to
    ``amount``, each is within one minor unit of its exact share and never
    above its weight, and a zero weight gets zero. Requires
    ``0 <= amount <= sum(weights)`` and every weight ``>= 0``, all exact in
    ``currency``.
    """
    cur = get_currency(currency)
    total = _units(amount, cur, "amount")
    units = [_units(w, cur, "weight") for w in weights]
    if total > sum(units):
        raise InvalidAmount(
            "cannot allocate more than the sum of the weights",
            details={"field": "amount", "value": str(amount)},
        )
    shares = _largest_remainder(total, units)
    return tuple(_from_scaled_int(share, cur.exponent) for share in shares)
