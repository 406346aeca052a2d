"""Properties of paykit.pricing: discount bounds, allocation, tax and refunds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, event, given
from hypothesis import strategies as st

from paykit.errors import DiscountError, InvalidAmount, RefundExceedsPaid
from paykit.money import CURRENCIES, get_currency
from paykit.pricing import (
    DiscountRule,
    DiscountUsageCounts,
    LineInput,
    PricedOrder,
    RefundSplit,
    allocate,
    discount_amount,
    price_order,
    refund_split,
)

NOW = datetime(2025, 6, 1, tzinfo=UTC)
FRESH = DiscountUsageCounts()
PRODUCTS = ("p1", "p2", "p3", None)

currencies = st.sampled_from(sorted(CURRENCIES))


def money(units: int, code: str) -> Decimal:
    return Decimal(units).scaleb(-get_currency(code).exponent)


def units_of(amount: Decimal, code: str) -> int:
    scaled = amount.scaleb(get_currency(code).exponent)
    assert scaled == scaled.to_integral_value()
    return int(scaled)


tax_rates = st.one_of(
    st.none(),
    st.integers(0, 10**4).map(lambda n: Decimal(n).scaleb(-4)),  # 0 .. 1 in 0.0001 steps
    st.sampled_from([Decimal("0.0825"), Decimal("0.08875"), Decimal("0.2"), Decimal("1")]),
)


@dataclass(frozen=True)
class Order:
    currency: str
    lines: list[LineInput]

    @property
    def subtotal_units(self) -> int:
        return sum(
            units_of(Decimal(line.unit_price), self.currency) * line.quantity for line in self.lines
        )


@st.composite
def orders(draw: st.DrawFn, max_lines: int = 8, currency: str | None = None) -> Order:
    code = currency or draw(currencies)
    count = draw(st.integers(1, max_lines))
    lines = [
        LineInput(
            key=index,
            product_id=draw(st.sampled_from(PRODUCTS)),
            unit_price=money(draw(st.integers(0, 10**6)), code),
            quantity=draw(st.integers(1, 20)),
            currency=draw(st.sampled_from([code, code.lower()])),
            tax_rate=draw(tax_rates),
        )
        for index in range(count)
    ]
    return Order(code, lines)


percentages = st.integers(1, 100 * 10**4).map(lambda n: Decimal(n).scaleb(-4))
product_sets = st.sampled_from(
    [frozenset(), frozenset({"p1"}), frozenset({"p2", "p3"}), frozenset({"p9"})]
)


@st.composite
def rules(draw: st.DrawFn, currency: str) -> DiscountRule:
    products = draw(product_sets)
    if draw(st.booleans()):
        return DiscountRule("PCT", "PERCENTAGE", draw(percentages), product_ids=products)
    value = money(draw(st.integers(1, 10**8)), currency)
    return DiscountRule("FIX", "FIXED_AMOUNT", value, currency, product_ids=products)


def price(order: Order, rule: DiscountRule | None = None) -> PricedOrder | None:
    """The priced order, or None when the rule is refused (no eligible line)."""
    if rule is None:
        return price_order(order.lines)
    try:
        return price_order(order.lines, discount=rule, usage=FRESH, now=NOW)
    except DiscountError as error:
        if error.code != "discount_not_applicable":
            raise
        return None


def check_sums(result: PricedOrder) -> None:
    assert result.total == result.subtotal - result.discount + result.tax
    assert result.total >= 0
    for name in ("subtotal", "discount", "tax", "total"):
        assert sum(getattr(line, name) for line in result.lines) == getattr(result, name)
    for line in result.lines:
        assert line.total == line.subtotal - line.discount + line.tax
        assert 0 <= line.discount <= line.subtotal
        assert line.tax >= 0
        if not line.eligible:
            assert line.discount == 0


# --- discounts ------------------------------------------------------------------------


@given(data=st.data())
def test_discount_is_between_zero_and_the_eligible_subtotal(data: st.DataObject) -> None:
    order = data.draw(orders())
    rule = data.draw(rules(order.currency))
    result = price(order, rule)
    if result is None:
        assert rule.product_ids
        assert not any(line.product_id in rule.product_ids for line in order.lines)
        return
    assert 0 <= result.discount <= result.eligible_subtotal <= result.subtotal
    check_sums(result)
    eligible = sum((line.subtotal for line in result.lines if line.eligible), start=Decimal(0))
    assert eligible == result.eligible_subtotal
    assert result.discount == discount_amount(rule, eligible, currency=order.currency)


@given(order=orders())
def test_total_is_subtotal_minus_discount_plus_tax(order: Order) -> None:
    result = price(order)
    assert result is not None
    assert result.discount == 0
    assert units_of(result.subtotal, order.currency) == order.subtotal_units
    check_sums(result)


@given(data=st.data())
def test_a_discount_never_raises_tax(data: st.DataObject) -> None:
    order = data.draw(orders())
    without = price(order)
    with_discount = price(order, data.draw(rules(order.currency)))
    assert without is not None
    assume(with_discount is not None)
    assert with_discount is not None
    assert with_discount.tax <= without.tax
    for plain, discounted in zip(without.lines, with_discount.lines, strict=True):
        assert discounted.tax <= plain.tax
        assert discounted.subtotal == plain.subtotal
    assert with_discount.total <= without.total


@given(order=orders(), percent=st.sampled_from(["0", "0.0000", "-0.0001", "-5"]))
def test_zero_or_negative_percentage_is_refused(order: Order, percent: str) -> None:
    rule = DiscountRule("ZERO", "PERCENTAGE", Decimal(percent))
    with pytest.raises(InvalidAmount):
        price_order(order.lines, discount=rule, usage=FRESH, now=NOW)


@given(order=orders(), tiny=st.integers(1, 100).map(lambda n: Decimal(n).scaleb(-4)))
def test_a_tiny_percentage_gives_a_small_non_negative_discount(order: Order, tiny: Decimal) -> None:
    result = price(order, DiscountRule("TINY", "PERCENTAGE", tiny))
    assert result is not None
    assert result.discount >= 0
    # at most 0.01 % of the subtotal, plus half a minor unit of rounding
    limit = Fraction(result.subtotal) / 10**4 + Fraction(get_currency(order.currency).quantum) / 2
    assert Fraction(result.discount) <= limit
    check_sums(result)


@given(order=orders())
def test_hundred_percent_makes_the_total_exactly_zero(order: Order) -> None:
    result = price(order, DiscountRule("FREE", "PERCENTAGE", Decimal(100)))
    assert result is not None
    assert result.discount == result.subtotal
    assert result.tax == 0
    assert result.total == 0
    check_sums(result)


@given(order=orders(), extra=st.integers(0, 10**6))
def test_fixed_discount_at_or_above_the_subtotal(order: Order, extra: int) -> None:
    value = money(order.subtotal_units + extra, order.currency)
    assume(value > 0)
    result = price(order, DiscountRule("BIG", "FIXED_AMOUNT", value, order.currency))
    assert result is not None
    assert result.discount == result.subtotal
    assert result.total >= 0
    assert result.total == 0  # nothing left to tax either
    check_sums(result)


# --- allocation --------------------------------------------------------------------------


# Small weights make equal remainders (ties) common; large ones make them rare.
weights_lists = st.lists(st.integers(0, 10**6) | st.integers(0, 4), min_size=1, max_size=10)


@st.composite
def allocations(draw: st.DrawFn) -> tuple[int, list[int]]:
    weights = draw(weights_lists)
    amount = draw(st.integers(0, sum(weights)))
    return amount, weights


def allocate_units(amount: int, weights: list[int], code: str = "USD") -> list[int]:
    shares = allocate(money(amount, code), [money(w, code) for w in weights], currency=code)
    return [units_of(share, code) for share in shares]


@given(case=allocations())
def test_allocation_sums_exactly_and_stays_within_one_unit(case: tuple[int, list[int]]) -> None:
    amount, weights = case
    shares = allocate_units(amount, weights)
    assert sum(shares) == amount
    whole = sum(weights)
    for share, weight in zip(shares, weights, strict=True):
        exact = Fraction(amount * weight, whole) if whole else Fraction(0)
        assert abs(share - exact) < 1
        assert 0 <= share <= weight
        if weight == 0:
            assert share == 0


def bonus_lines(amount: int, weights: list[int]) -> set[int]:
    """Indexes that the documented rule gives an extra unit, from first principles."""
    whole = sum(weights)
    if not whole:
        return set()
    floors = [amount * w // whole for w in weights]
    remainders = [amount * w % whole for w in weights]
    left = amount - sum(floors)
    ranked = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    return set(ranked[:left])


@given(case=allocations(), data=st.data())
def test_permuting_lines_permutes_shares_up_to_the_tie_rule(
    case: tuple[int, list[int]], data: st.DataObject
) -> None:
    amount, weights = case
    order = data.draw(st.permutations(range(len(weights))))
    permuted = [weights[i] for i in order]
    shares = allocate_units(amount, weights)
    permuted_shares = allocate_units(amount, permuted)
    whole = sum(weights)
    floors = [amount * w // whole if whole else 0 for w in weights]

    # Everyone gets the floor of the exact share in any order; the extra units
    # go to the largest remainders, ties to the line that comes first.
    assert {i for i, s in enumerate(shares) if s > floors[i]} == bonus_lines(amount, weights)
    assert {i for i, s in enumerate(permuted_shares) if s > floors[order[i]]} == bonus_lines(
        amount, permuted
    )
    # Lines whose remainder is not tied with another's keep their share exactly.
    remainders = [amount * w % whole if whole else 0 for w in weights]
    bonus = bonus_lines(amount, weights)
    if bonus and any(
        remainders[i] == min(remainders[j] for j in bonus) for i in set(range(len(weights))) - bonus
    ):
        event("a tie at the cut-off decides a unit")
    for new_position, old_position in enumerate(order):
        if remainders.count(remainders[old_position]) == 1:
            assert permuted_shares[new_position] == shares[old_position]


@given(
    weights=st.lists(st.integers(1, 10**6), min_size=1, max_size=10, unique=True),
    data=st.data(),
)
def test_with_distinct_remainders_permutation_commutes(
    weights: list[int], data: st.DataObject
) -> None:
    amount = data.draw(st.integers(0, sum(weights)))
    remainders = [amount * w % sum(weights) for w in weights]
    assume(len(set(remainders)) == len(remainders))
    order = data.draw(st.permutations(range(len(weights))))
    shares = allocate_units(amount, weights)
    permuted_shares = allocate_units(amount, [weights[i] for i in order])
    assert permuted_shares == [shares[i] for i in order]


@given(data=st.data())
def test_order_discount_allocation_matches_allocate(data: st.DataObject) -> None:
    order = data.draw(orders())
    rule = data.draw(rules(order.currency))
    result = price(order, rule)
    assume(result is not None)
    assert result is not None
    weights = [line.subtotal if line.eligible else Decimal(0) for line in result.lines]
    expected = allocate(result.discount, weights, currency=order.currency)
    assert tuple(line.discount for line in result.lines) == expected


# --- eligibility window -------------------------------------------------------------------


offsets = st.one_of(st.none(), st.integers(-(10**6), 10**6))


@given(start=offsets, end=offsets, at=st.integers(-(10**6), 10**6))
def test_validity_window_is_from_inclusive_until_exclusive(
    start: int | None, end: int | None, at: int
) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    valid_from = base + timedelta(seconds=start) if start is not None else None
    valid_until = base + timedelta(seconds=end) if end is not None else None
    now = base + timedelta(seconds=at)
    rule = DiscountRule(
        "W", "PERCENTAGE", Decimal(10), valid_from=valid_from, valid_until=valid_until
    )
    lines = [LineInput("a", "p1", Decimal("10.00"), 1, "USD")]
    inside = (valid_from is None or valid_from <= now) and (
        valid_until is None or now < valid_until
    )
    if inside:
        assert price_order(lines, discount=rule, usage=FRESH, now=now).discount == Decimal("1.00")
    else:
        with pytest.raises(DiscountError) as info:
            price_order(lines, discount=rule, usage=FRESH, now=now)
        expected = (
            "discount_not_yet_valid"
            if valid_from is not None and now < valid_from
            else "discount_expired"
        )
        assert info.value.code == expected


# --- refunds --------------------------------------------------------------------------------


@st.composite
def charged(draw: st.DrawFn) -> tuple[str, int, int]:
    code = draw(currencies)
    total = draw(st.integers(1, 10**8))
    tax = draw(st.integers(0, total))
    return code, total, tax


def split_units(
    code: str,
    total: int,
    tax: int,
    amount: int | None,
    refunded: int,
    tax_refunded: int | None = None,
) -> RefundSplit:
    return refund_split(
        None if amount is None else money(amount, code),
        total=money(total, code),
        tax=money(tax, code),
        currency=code,
        refunded=money(refunded, code),
        tax_refunded=None if tax_refunded is None else money(tax_refunded, code),
    )


def half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


@given(order=charged(), steps=st.lists(st.integers(1, 10**8), max_size=12))
def test_partial_refunds_never_exceed_and_a_full_sequence_sums_exactly(
    order: tuple[str, int, int], steps: list[int]
) -> None:
    code, total, tax = order
    refunded = tax_refunded = 0
    amounts: list[int] = []
    for step in steps:
        if refunded == total:
            break
        amount = min(step, total - refunded)
        split = split_units(code, total, tax, amount, refunded)
        part_tax = units_of(split.tax, code)
        assert split.net + split.tax == split.amount == money(amount, code)
        assert 0 <= part_tax <= amount
        refunded += amount
        tax_refunded += part_tax
        amounts.append(amount)
        assert units_of(split.refunded_after, code) == refunded <= total
        assert units_of(split.tax_refunded_after, code) == tax_refunded <= tax
        assert refunded - tax_refunded <= total - tax
        assert units_of(split.refundable_after, code) == total - refunded
        # the documented scheme: cumulative tax tracks cumulative amount x tax / total
        assert tax_refunded == half_up(Fraction(refunded * tax, total))
    if refunded < total:
        last = split_units(code, total, tax, None, refunded)
        refunded += units_of(last.amount, code)
        tax_refunded += units_of(last.tax, code)
        amounts.append(units_of(last.amount, code))
    assert sum(amounts) == refunded == total
    assert tax_refunded == tax
    with pytest.raises(RefundExceedsPaid):
        split_units(code, total, tax, 1, total)


@given(order=charged(), data=st.data())
def test_refunded_tax_never_exceeds_charged_tax_even_after_foreign_history(
    order: tuple[str, int, int], data: st.DataObject
) -> None:
    code, total, tax = order
    # any history that did not over-refund net or tax, however it was split
    refunded = data.draw(st.integers(0, total - 1))
    tax_refunded = data.draw(st.integers(max(0, refunded - (total - tax)), min(tax, refunded)))
    amount = data.draw(st.integers(1, total - refunded))
    split = split_units(code, total, tax, amount, refunded, tax_refunded)
    part_tax = units_of(split.tax, code)
    assert 0 <= part_tax <= amount
    assert tax_refunded + part_tax <= tax
    assert (refunded + amount) - (tax_refunded + part_tax) <= total - tax
    if refunded + amount == total:
        assert tax_refunded + part_tax == tax
    with pytest.raises(RefundExceedsPaid):
        split_units(code, total, tax, total - refunded + 1, refunded, tax_refunded)
