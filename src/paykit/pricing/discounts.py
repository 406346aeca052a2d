"""Discount rules: their terms, the eligibility checks in order, and the amount."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Final, Literal, TypeAlias

from paykit._arguments import check_fields, checked
from paykit.clock import ensure_utc
from paykit.errors import DiscountCurrencyMismatch, DiscountError, InvalidAmount, ValidationError
from paykit.money import (
    Currency,
    MoneyInput,
    _from_scaled_int,
    _scaled_int,
    get_currency,
    to_decimal,
)
from paykit.pricing._units import _half_up, _units
from paykit.pricing.lines import LineInput, _Line, _prepare_lines

__all__ = [
    "DISCOUNT_CHECK_ORDER",
    "DiscountRule",
    "DiscountType",
    "DiscountUsageCounts",
    "check_discount_eligibility",
    "discount_amount",
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
class _Rule:
    source: DiscountRule
    kind: DiscountType
    currency: Currency | None
    amount: int  # percent in 10**-4 %, or fixed amount in the rule currency's minor units
    minimum: Decimal | None
    product_ids: frozenset[str]


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
