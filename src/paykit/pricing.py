"""Pure order pricing: lines, discounts, allocation, tax and refund splits.

No database, no I/O, no clock: the services build the inputs below from
their rows, pass ``now`` and the discount usage counts in, and persist the
:class:`PricedOrder` that comes out. Every rule (check order, validity
window, half-up rounding, largest-remainder allocation, tax on the discounted
amount, the refund tax split) is written out in ``docs/pricing.md``.

All arithmetic is done on Python integers counted in the currency's minor
unit, so no decimal context, float or hidden rounding can change a result;
the only roundings are the documented half-up ones.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal, TypeAlias

from paykit._arguments import check_fields, checked
from paykit.clock import ensure_utc
from paykit.errors import (
    CurrencyMismatch,
    DiscountCurrencyMismatch,
    DiscountError,
    InvalidAmount,
    RefundExceedsPaid,
    ValidationError,
)
from paykit.money import (
    Currency,
    MoneyInput,
    _from_scaled_int,
    _scaled_int,
    get_currency,
    to_decimal,
)

__all__ = [
    "DISCOUNT_CHECK_ORDER",
    "DiscountRule",
    "DiscountType",
    "DiscountUsageCounts",
    "LineInput",
    "PricedLine",
    "PricedOrder",
    "RefundSplit",
    "allocate",
    "check_discount_eligibility",
    "discount_amount",
    "price_order",
    "refund_split",
    "refundable_amount",
]

DiscountType: TypeAlias = Literal["PERCENTAGE", "FIXED_AMOUNT"]
"""The two kinds of discount; ``paykit.models.DiscountType`` members are these strings."""

DISCOUNT_CHECK_ORDER: Final[tuple[str, ...]] = (
    "discount_inactive",
    "discount_not_yet_valid",
    "discount_expired",
    "currency_mismatch",
    "discount_exhausted",
    "discount_customer_limit",
    "discount_first_time_only",
    "discount_not_applicable",
    "discount_minimum_not_met",
)
"""Eligibility checks in the order they run; a refusal reports the first that fails."""

# Percentages carry at most 4 decimals (the column is Numeric(10, 4)), so a
# percentage is an integer count of 1/10000 %.
_PERCENT_PLACES: Final = 4
_PERCENT_SCALE: Final = 100 * 10**_PERCENT_PLACES
# Tax rates like 0.08875 need more than the column's 4 decimals; 12 is far
# beyond any real rate and keeps the integers small.
_RATE_PLACES: Final = 12
_RATE_SCALE: Final = 10**_RATE_PLACES


@dataclass(frozen=True, slots=True)
class LineInput:
    """One order line to price.

    ``key`` is opaque to paykit (a row id, a ``(product_id, price_id)``
    tuple, an index) and must be unique within an order; it comes back on
    the matching :class:`PricedLine`. ``unit_price`` must be exact in
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
class DiscountRule:
    """A discount code's terms, as stored on a ``Discount`` row.

    ``value`` is a percentage (``0 < value <= 100``, at most 4 decimals) for
    ``PERCENTAGE`` and an amount in ``currency`` (``> 0``) for
    ``FIXED_AMOUNT``. ``currency`` is required for ``FIXED_AMOUNT``; for
    ``PERCENTAGE`` it only matters when ``minimum_amount`` is set (the
    minimum is read in it; None means the order's currency). The validity
    window is ``valid_from <= now < valid_until`` with either end open when
    None. An empty ``product_ids`` means the whole order is eligible.
    """

    code: str
    type: DiscountType
    value: MoneyInput
    currency: str | None = None
    active: bool = True
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    minimum_amount: MoneyInput | None = None
    first_time_only: bool = False
    max_uses: int | None = None
    max_uses_per_customer: int | None = None
    product_ids: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        check_fields(self)


@dataclass(frozen=True, slots=True)
class DiscountUsageCounts:
    """The counts a discount's limits are checked against, read by the service.

    ``total_uses`` is the discount's use count so far, ``customer_uses`` this
    customer's, and ``customer_has_paid_order`` whether the customer has an
    earlier paid order (for ``first_time_only``). These checks are advisory:
    the service must still enforce the limits in the database.
    """

    total_uses: int = 0
    customer_uses: int = 0
    customer_has_paid_order: bool = False

    def __post_init__(self) -> None:
        check_fields(self)


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
class RefundSplit:
    """How one refund divides into net and tax, and where the order stands after it.

    ``amount = net + tax``. ``refunded_after`` and ``tax_refunded_after``
    are cumulative, this refund included; ``refundable_after`` is what can
    still be refunded.
    """

    currency: str
    amount: Decimal
    net: Decimal
    tax: Decimal
    refunded_after: Decimal
    tax_refunded_after: Decimal
    refundable_after: Decimal


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


# --- pricing -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    source: LineInput
    unit: int
    subtotal: int
    rate: int  # tax rate in 10**-12
    rate_decimal: Decimal | None


@dataclass(frozen=True, slots=True)
class _Rule:
    source: DiscountRule
    kind: DiscountType
    currency: Currency | None
    amount: int  # percent in 10**-4 %, or fixed amount in the rule currency's minor units
    minimum: Decimal | None
    product_ids: frozenset[str]


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
def check_discount_eligibility(
    discount: DiscountRule,
    lines: Sequence[LineInput],
    *,
    usage: DiscountUsageCounts,
    now: datetime,
) -> Decimal:
    """Check that ``discount`` applies to an order of ``lines``; return the eligible subtotal.

    Runs the checks of :data:`DISCOUNT_CHECK_ORDER` in that order and raises
    :class:`~paykit.errors.DiscountError` (``.code`` names the first check
    that failed; a currency mismatch is a
    :class:`~paykit.errors.DiscountCurrencyMismatch`). Malformed inputs raise
    :class:`~paykit.errors.InvalidAmount` or
    :class:`~paykit.errors.ValidationError` before any check runs.
    """
    cur, prepared = _prepare_lines(lines)
    rule = _validate_rule(discount)
    _, eligible_units = _check_eligibility(rule, cur, prepared, usage, now)
    return _from_scaled_int(eligible_units, cur.exponent)


@checked
def discount_amount(
    discount: DiscountRule, eligible_subtotal: MoneyInput, *, currency: str
) -> Decimal:
    """The discount on an eligible subtotal, without eligibility checks.

    ``PERCENTAGE``: ``eligible_subtotal * value / 100`` rounded half-up to
    the minor unit. ``FIXED_AMOUNT``: ``value``, capped at
    ``eligible_subtotal``; a fixed discount in another currency raises
    :class:`~paykit.errors.DiscountCurrencyMismatch`. Always
    ``0 <= result <= eligible_subtotal``.
    """
    cur = get_currency(currency)
    rule = _validate_rule(discount)
    _check_rule_currency(rule, cur)
    eligible = _units(eligible_subtotal, cur, "eligible_subtotal")
    return _from_scaled_int(_discount_units(rule, eligible), cur.exponent)


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


# --- refunds -------------------------------------------------------------------


@checked
def refundable_amount(*, total: MoneyInput, refunded: MoneyInput, currency: str) -> Decimal:
    """What can still be refunded of an order: ``total - refunded``.

    Raises :class:`~paykit.errors.InvalidAmount` if ``refunded`` is negative
    or above ``total``.
    """
    cur = get_currency(currency)
    total_units = _units(total, cur, "total")
    refunded_units = _units(refunded, cur, "refunded")
    if refunded_units > total_units:
        raise InvalidAmount(
            "refunded is more than the order total",
            details={"field": "refunded", "value": str(refunded)},
        )
    return _from_scaled_int(total_units - refunded_units, cur.exponent)


@checked
def refund_split(
    amount: MoneyInput | None,
    *,
    total: MoneyInput,
    tax: MoneyInput,
    currency: str,
    refunded: MoneyInput = 0,
    tax_refunded: MoneyInput | None = None,
) -> RefundSplit:
    """Split a refund of ``amount`` (None: everything left) into net and tax.

    ``total`` and ``tax`` are what the order charged; ``refunded`` and
    ``tax_refunded`` what earlier refunds returned. Cumulative refunded tax
    follows ``round_half_up(refunded_after * tax / total)``, clamped so that
    this refund's tax part lies in ``[0, amount]`` and neither net nor tax is
    refunded beyond what was charged. If every refund is split here, the
    cumulative tax is a function of the cumulative amount alone, so
    ``tax_refunded`` may be left None and is then derived from ``refunded``.

    A refund of everything left returns exactly the remaining tax, so refunds
    that add up to ``total`` return exactly ``tax``. ``amount <= 0`` raises
    :class:`~paykit.errors.InvalidAmount`; more than is refundable raises
    :class:`~paykit.errors.RefundExceedsPaid` (``refund_exceeds_paid``).
    """
    cur = get_currency(currency)
    total_u = _units(total, cur, "total")
    tax_u = _units(tax, cur, "tax")
    done_u = _units(refunded, cur, "refunded")
    if tax_u > total_u:
        raise _inconsistent("tax", tax, "tax is more than the order total")
    if done_u > total_u:
        raise _inconsistent("refunded", refunded, "refunded is more than the order total")
    if tax_refunded is None:
        done_tax_u = _tax_refunded_target(done_u, total_u, tax_u)
    else:
        done_tax_u = _units(tax_refunded, cur, "tax_refunded")
        if done_tax_u > min(tax_u, done_u) or done_u - done_tax_u > total_u - tax_u:
            raise _inconsistent(
                "tax_refunded", tax_refunded, "tax_refunded does not fit refunded, total and tax"
            )
    left_u = total_u - done_u
    if amount is None:
        amount_u = left_u
        if amount_u == 0:
            raise _exceeds(cur, left_u, left_u)
    else:
        amount_u = _signed_units(amount, cur, "amount")
        if amount_u <= 0:
            raise InvalidAmount(
                f"a refund must be positive, got {amount}",
                details={"field": "amount", "value": str(amount)},
            )
        if amount_u > left_u:
            raise _exceeds(cur, left_u, amount_u)

    after_u = done_u + amount_u
    tax_left = tax_u - done_tax_u
    net_left = (total_u - tax_u) - (done_u - done_tax_u)
    lowest = max(0, amount_u - net_left)
    highest = min(amount_u, tax_left)
    part = _tax_refunded_target(after_u, total_u, tax_u) - done_tax_u
    part = min(max(part, lowest), highest)
    exp = cur.exponent
    return RefundSplit(
        currency=cur.code,
        amount=_from_scaled_int(amount_u, exp),
        net=_from_scaled_int(amount_u - part, exp),
        tax=_from_scaled_int(part, exp),
        refunded_after=_from_scaled_int(after_u, exp),
        tax_refunded_after=_from_scaled_int(done_tax_u + part, exp),
        refundable_after=_from_scaled_int(total_u - after_u, exp),
    )


# --- internals -----------------------------------------------------------------


def _half_up(numerator: int, denominator: int) -> int:
    # round(numerator / denominator), ties up; both are >= 0 everywhere here.
    return (2 * numerator + denominator) // (2 * denominator)


def _largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    whole = sum(weights)
    if total == 0 or whole == 0:
        return [0] * len(weights)
    shares: list[int] = []
    remainders: list[int] = []
    for weight in weights:
        share, remainder = divmod(total * weight, whole)
        shares.append(share)
        remainders.append(remainder)
    left = total - sum(shares)
    if left:
        ranked = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
        for i in ranked[:left]:
            shares[i] += 1
    return shares


def _tax_refunded_target(refunded: int, total: int, tax: int) -> int:
    return _half_up(refunded * tax, total) if total else 0


def _signed_units(value: object, cur: Currency, field: str) -> int:
    units = _scaled_int(to_decimal(value, field=field), cur.exponent)
    if units is None:
        raise InvalidAmount(
            f"{field} {value!r} has more decimals than {cur.code} allows",
            details={"field": field, "value": str(value)},
        )
    return units


def _units(value: object, cur: Currency, field: str) -> int:
    units = _signed_units(value, cur, field)
    if units < 0:
        raise InvalidAmount(
            f"{field} must not be negative, got {value}",
            details={"field": field, "value": str(value)},
        )
    return units


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


def _validate_rule(rule: DiscountRule) -> _Rule:
    if not isinstance(rule, DiscountRule):
        raise ValidationError(
            f"expected DiscountRule, got {type(rule).__name__}", code="invalid_argument"
        )
    kind = rule.type
    currency = get_currency(rule.currency) if rule.currency is not None else None
    value = to_decimal(rule.value, field="value")
    if kind == "PERCENTAGE":
        scaled = _scaled_int(value, _PERCENT_PLACES)
        if scaled is None or not 0 < scaled <= _PERCENT_SCALE:
            raise InvalidAmount(
                f"a percentage discount must be > 0 and <= 100 with at most "
                f"{_PERCENT_PLACES} decimals, got {rule.value}",
                details={"field": "value", "value": str(rule.value), "discount_code": rule.code},
            )
        amount = scaled
    elif kind == "FIXED_AMOUNT":
        if currency is None:
            raise ValidationError(
                "a fixed-amount discount needs a currency",
                details={"field": "currency", "discount_code": rule.code},
            )
        amount = _units(value, currency, "value")
        if amount == 0:
            raise InvalidAmount(
                "a fixed-amount discount must be > 0",
                details={"field": "value", "value": str(rule.value), "discount_code": rule.code},
            )
    else:
        raise ValidationError(
            f"unknown discount type {kind!r}",
            details={"field": "type", "value": str(kind), "discount_code": rule.code},
        )
    minimum = None
    if rule.minimum_amount is not None:
        minimum = to_decimal(rule.minimum_amount, field="minimum_amount")
        if minimum < 0:
            raise InvalidAmount(
                "minimum_amount must not be negative",
                details={"field": "minimum_amount", "value": str(rule.minimum_amount)},
            )
    for name in ("max_uses", "max_uses_per_customer"):
        limit = getattr(rule, name)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or limit < 0
        ):
            raise ValidationError(
                f"{name} must be None or an int >= 0, got {limit!r}",
                details={"field": name, "discount_code": rule.code},
            )
    if isinstance(rule.product_ids, str | bytes):
        raise ValidationError(
            "product_ids must be a set of product ids, not a string", code="invalid_argument"
        )
    return _Rule(rule, kind, currency, amount, minimum, frozenset(rule.product_ids))


def _check_rule_currency(rule: _Rule, cur: Currency) -> None:
    # A percentage has no currency of its own; only its minimum does.
    if rule.currency is None or rule.currency.code == cur.code:
        return
    if rule.kind == "FIXED_AMOUNT" or rule.minimum is not None:
        raise DiscountCurrencyMismatch(
            f"discount {rule.source.code!r} is in {rule.currency.code}, the order is in {cur.code}",
            details={
                "discount_code": rule.source.code,
                "currency": rule.currency.code,
                "order_currency": cur.code,
            },
        )


def _check_eligibility(
    rule: _Rule,
    cur: Currency,
    lines: list[_Line],
    usage: DiscountUsageCounts,
    now: datetime,
) -> tuple[list[bool], int]:
    if not isinstance(usage, DiscountUsageCounts):
        raise ValidationError(
            f"expected DiscountUsageCounts, got {type(usage).__name__}", code="invalid_argument"
        )
    for name in ("total_uses", "customer_uses"):
        count = getattr(usage, name)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValidationError(
                f"usage.{name} must be an int >= 0, got {count!r}", code="invalid_argument"
            )
    now = ensure_utc(now)
    src = rule.source
    valid_from = ensure_utc(src.valid_from) if src.valid_from is not None else None
    valid_until = ensure_utc(src.valid_until) if src.valid_until is not None else None

    if not src.active:
        raise _refused(src, "discount_inactive", "is not active")
    if valid_from is not None and now < valid_from:
        raise _refused(
            src, "discount_not_yet_valid", "is not valid yet", valid_from=valid_from.isoformat()
        )
    if valid_until is not None and now >= valid_until:
        raise _refused(src, "discount_expired", "has expired", valid_until=valid_until.isoformat())
    _check_rule_currency(rule, cur)
    if src.max_uses is not None and usage.total_uses >= src.max_uses:
        raise _refused(src, "discount_exhausted", "has been used up")
    if src.max_uses_per_customer is not None and usage.customer_uses >= src.max_uses_per_customer:
        raise _refused(src, "discount_customer_limit", "has been used the maximum number of times")
    if src.first_time_only and usage.customer_has_paid_order:
        raise _refused(src, "discount_first_time_only", "is for a customer's first order only")
    if rule.product_ids:
        mask = [line.source.product_id in rule.product_ids for line in lines]
    else:
        mask = [True] * len(lines)
    if not any(mask):
        raise _refused(src, "discount_not_applicable", "does not apply to any item in the order")
    eligible = sum(line.subtotal for line, ok in zip(lines, mask, strict=True) if ok)
    if rule.minimum is not None:
        minimum = _scaled_int(rule.minimum, cur.exponent)
        if minimum is None:
            raise InvalidAmount(
                f"minimum_amount {src.minimum_amount} has more decimals than {cur.code} allows",
                details={"field": "minimum_amount", "value": str(src.minimum_amount)},
            )
        if eligible < minimum:
            raise _refused(
                src,
                "discount_minimum_not_met",
                f"needs a minimum of {_from_scaled_int(minimum, cur.exponent)} {cur.code}",
                minimum_amount=str(_from_scaled_int(minimum, cur.exponent)),
            )
    return mask, eligible


def _discount_units(rule: _Rule, eligible: int) -> int:
    if rule.kind == "PERCENTAGE":
        return _half_up(eligible * rule.amount, _PERCENT_SCALE)
    return min(rule.amount, eligible)


def _refused(rule: DiscountRule, code: str, reason: str, **details: str) -> DiscountError:
    return DiscountError(
        f"discount code {rule.code!r} {reason}",
        code=code,
        details={"discount_code": rule.code, **details},
    )


def _inconsistent(field: str, value: object, reason: str) -> InvalidAmount:
    return InvalidAmount(reason, details={"field": field, "value": str(value)})


def _exceeds(cur: Currency, left: int, asked: int) -> RefundExceedsPaid:
    refundable = _from_scaled_int(left, cur.exponent)
    requested = _from_scaled_int(asked, cur.exponent)
    message = (
        f"cannot refund {requested} {cur.code}: {refundable} {cur.code} is refundable"
        if left
        else "nothing is left to refund on this order"
    )
    return RefundExceedsPaid(
        message,
        details={"refundable": str(refundable), "requested": str(requested)},
    )
