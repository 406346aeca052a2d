"""Table tests for paykit.pricing: known orders, every refusal code, refund splits."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum

import pytest

from paykit.errors import (
    CurrencyMismatch,
    DiscountCurrencyMismatch,
    DiscountError,
    InvalidAmount,
    RefundExceedsPaid,
    UnsupportedCurrency,
    ValidationError,
)
from paykit.pricing import (
    DISCOUNT_CHECK_ORDER,
    DiscountRule,
    DiscountUsageCounts,
    LineInput,
    PricedOrder,
    allocate,
    check_discount_eligibility,
    discount_amount,
    price_order,
    refund_split,
    refundable_amount,
)

D = Decimal
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
FRESH = DiscountUsageCounts(total_uses=0, customer_uses=0, customer_has_paid_order=False)


def line(
    key: object = "a",
    price: str = "10.00",
    qty: int = 1,
    currency: str = "USD",
    tax: str | None = None,
    product: str | None = "prod_a",
) -> LineInput:
    return LineInput(key, product, D(price), qty, currency, D(tax) if tax is not None else None)


def pct(value: str, **kw: object) -> DiscountRule:
    return DiscountRule(code="SAVE", type="PERCENTAGE", value=D(value), **kw)  # type: ignore[arg-type]


def fixed(value: str, currency: str | None = "USD", **kw: object) -> DiscountRule:
    return DiscountRule(
        code="FLAT",
        type="FIXED_AMOUNT",
        value=D(value),
        currency=currency,
        **kw,  # type: ignore[arg-type]
    )


def priced(
    lines: list[LineInput],
    rule: DiscountRule | None = None,
    usage: DiscountUsageCounts = FRESH,
    now: datetime = NOW,
) -> PricedOrder:
    if rule is None:
        return price_order(lines)
    return price_order(lines, discount=rule, usage=usage, now=now)


def refusal(lines: list[LineInput], rule: DiscountRule, **kw: object) -> str:
    with pytest.raises(DiscountError) as info:
        priced(lines, rule, **kw)  # type: ignore[arg-type]
    return info.value.code


# --- known orders ----------------------------------------------------------------


class TestKnownOrders:
    def test_19_99_at_25_percent_is_14_99(self) -> None:
        order = priced([line(price="19.99")], pct("25"))
        # 19.99 * 0.25 = 4.9975, half-up to 5.00
        assert order.discount == D("5.00")
        assert order.total == D("14.99")
        assert str(order.total) == "14.99"
        assert order.discount_code == "SAVE"

    def test_no_discount(self) -> None:
        order = priced([line(price="19.99", qty=3, tax="0.0825")])
        assert order.subtotal == D("59.97")
        assert order.discount == 0
        assert order.tax == D("4.95")  # 4.947525
        assert order.total == D("64.92")
        assert order.discount_code is None

    def test_tax_is_charged_on_the_discounted_amount(self) -> None:
        order = priced([line(price="100.00", tax="0.0825")], pct("10"))
        assert order.discount == D("10.00")
        assert order.tax == D("7.43")  # 90.00 * 0.0825 = 7.425, half-up
        assert order.total == D("97.43")

    def test_tax_is_rounded_per_line(self) -> None:
        lines = [line("a", "0.05", tax="0.1"), line("b", "0.05", tax="0.1")]
        order = priced(lines)
        # each line: 0.005 -> 0.01; rounding the order sum (0.010) would give 0.01
        assert [pl.tax for pl in order.lines] == [D("0.01"), D("0.01")]
        assert order.tax == D("0.02")

    def test_jpy_has_no_decimals(self) -> None:
        order = priced([line(price="1500", qty=3, currency="jpy", tax="0.10")], pct("10"))
        assert order.currency == "JPY"
        assert (order.subtotal, order.discount, order.tax, order.total) == (
            D(4500),
            D(450),
            D(405),
            D(4455),
        )
        for amount in (order.subtotal, order.discount, order.tax, order.total):
            assert amount.as_tuple().exponent == 0
        assert str(order.lines[0].unit_price) == "1500"

    @pytest.mark.parametrize(
        ("price", "percent", "discount"),
        [("999", "1.5", "15"), ("1000", "33.3333", "333"), ("101", "0.5", "1"), ("99", "0.5", "0")],
    )
    def test_jpy_percentages_round_half_up_to_whole_yen(
        self, price: str, percent: str, discount: str
    ) -> None:
        order = priced([line(price=price, currency="JPY")], pct(percent))
        assert str(order.discount) == discount

    def test_jpy_price_with_decimals_is_refused(self) -> None:
        with pytest.raises(InvalidAmount, match="JPY"):
            priced([line(price="1500.50", currency="JPY")])
        # trailing zeros from a Numeric(10, 2) column are fine
        assert priced([line(price="1500.00", currency="JPY")]).total == 1500

    def test_percentage_with_four_decimals(self) -> None:
        order = priced([line(price="200.00")], pct("25.5"))
        assert order.discount == D("51.00")
        order = priced([line(price="10.00")], pct("0.0001"))
        assert order.discount == D("0.00")

    def test_hundred_percent_leaves_nothing_to_pay(self) -> None:
        order = priced(
            [line("a", "19.99", 2, tax="0.2"), line("b", "0.01", tax="0.07")], pct("100")
        )
        assert order.discount == order.subtotal == D("39.99")
        assert order.tax == 0
        assert order.total == 0

    def test_fixed_amount_is_capped_at_the_eligible_subtotal(self) -> None:
        order = priced([line(price="15.00", tax="0.1")], fixed("20.00"))
        assert order.discount == D("15.00")
        assert order.total == D("0.00")
        order = priced([line(price="15.00", tax="0.1")], fixed("5"))
        assert order.discount == D("5.00")
        assert order.total == D("11.00")

    def test_line_fields_add_up_and_keep_the_inputs(self) -> None:
        lines = [
            LineInput(("p1", "price_1"), "p1", D("9.99"), 2, "USD", D("0.2"), price_id="price_1"),
            LineInput(("p2", "price_2"), "p2", "5", 1, "USD", None, price_id="price_2"),
        ]
        order = priced(lines, pct("10"))
        first = order.line(("p1", "price_1"))
        assert first.price_id == "price_1"
        assert first.product_id == "p1"
        assert first.quantity == 2
        assert first.unit_price == D("9.99")
        assert first.tax_rate == D("0.2")
        assert order.line(("p2", "price_2")).tax_rate is None
        assert order.line(("p2", "price_2")).unit_price == D("5.00")
        for name in ("subtotal", "discount", "tax", "total"):
            assert sum(getattr(pl, name) for pl in order.lines) == getattr(order, name)
        with pytest.raises(KeyError):
            order.line("missing")

    def test_results_are_frozen(self) -> None:
        order = priced([line()])
        with pytest.raises(dataclasses.FrozenInstanceError):
            order.total = D(0)  # type: ignore[misc]

    def test_free_lines_price_to_zero(self) -> None:
        order = priced([line(price="0.00", tax="0.2")], pct("50"))
        assert (order.subtotal, order.discount, order.tax, order.total) == (D(0),) * 4


# --- allocation ----------------------------------------------------------------------


class TestAllocation:
    def test_three_line_tie_goes_to_the_first_line(self) -> None:
        lines = [line("a", "1.00"), line("b", "1.00"), line("c", "1.00")]
        order = priced(lines, fixed("0.10"))
        # exact share 0.0333... each; one cent left over, all remainders equal
        assert [pl.discount for pl in order.lines] == [D("0.04"), D("0.03"), D("0.03")]
        order = priced(lines, fixed("0.20"))
        assert [pl.discount for pl in order.lines] == [D("0.07"), D("0.07"), D("0.06")]

    def test_largest_remainder_wins_regardless_of_position(self) -> None:
        lines = [line("a", "10.00"), line("b", "20.00"), line("c", "30.00")]
        # exact shares 1.6667, 3.3333, 5.0000: the left-over cent goes to "a"
        order = priced(lines, fixed("10.00"))
        assert [pl.discount for pl in order.lines] == [D("1.67"), D("3.33"), D("5.00")]
        reordered = priced(list(reversed(lines)), fixed("10.00"))
        assert [pl.discount for pl in reordered.lines] == [D("5.00"), D("3.33"), D("1.67")]

    def test_ineligible_lines_get_nothing(self) -> None:
        lines = [
            line("a", "10.00", product="p1", tax="0.1"),
            line("b", "30.00", product="p2", tax="0.1"),
            line("c", "10.00", product=None, tax="0.1"),
        ]
        order = priced(lines, pct("50", product_ids=frozenset({"p2"})))
        assert [pl.eligible for pl in order.lines] == [False, True, False]
        assert [pl.discount for pl in order.lines] == [D(0), D("15.00"), D(0)]
        assert order.eligible_subtotal == D("30.00")
        assert [pl.tax for pl in order.lines] == [D("1.00"), D("1.50"), D("1.00")]

    @pytest.mark.parametrize(
        ("amount", "weights", "expected"),
        [
            ("0.02", ["1.00", "1.00", "1.00"], ["0.01", "0.01", "0.00"]),
            ("0.01", ["0.00", "5.00", "5.00"], ["0.00", "0.01", "0.00"]),
            ("1.00", ["0.00", "1.00"], ["0.00", "1.00"]),
            ("0.00", ["3.00", "4.00"], ["0.00", "0.00"]),
            ("0.00", ["0.00", "0.00"], ["0.00", "0.00"]),
            ("7", ["3", "3", "3"], ["3", "2", "2"]),
        ],
    )
    def test_allocate(self, amount: str, weights: list[str], expected: list[str]) -> None:
        currency = "JPY" if "." not in amount else "USD"
        result = allocate(amount, weights, currency=currency)
        assert [str(share) for share in result] == expected

    def test_allocate_refuses_more_than_the_weights(self) -> None:
        with pytest.raises(InvalidAmount):
            allocate("3.01", ["1.00", "2.00"], currency="USD")
        with pytest.raises(InvalidAmount):
            allocate("1.00", ["-1.00", "2.00"], currency="USD")


# --- eligibility ------------------------------------------------------------------------


class TestEligibility:
    def test_check_order_matches_the_documented_tuple(self) -> None:
        # A rule and an order that fail every check; fixing them one at a time
        # must surface the codes in DISCOUNT_CHECK_ORDER order.
        lines = [line(price="10.00", product="other")]
        rule = DiscountRule(
            code="ALL_WRONG",
            type="FIXED_AMOUNT",
            value=D("5"),
            currency="EUR",
            active=False,
            valid_from=NOW + timedelta(days=1),
            valid_until=NOW - timedelta(days=1),
            minimum_amount=D("100"),
            first_time_only=True,
            max_uses=1,
            max_uses_per_customer=1,
            product_ids=frozenset({"p1"}),
        )
        usage = DiscountUsageCounts(total_uses=1, customer_uses=1, customer_has_paid_order=True)
        fixes = [
            {"active": True},
            {"valid_from": None},
            {"valid_until": None},
            {"currency": "USD"},
            {"max_uses": None},
            {"max_uses_per_customer": None},
            {"first_time_only": False},
            {"product_ids": frozenset()},
            {"minimum_amount": None},
        ]
        seen = []
        for fix in fixes:
            seen.append(refusal(lines, rule, usage=usage))
            rule = dataclasses.replace(rule, **fix)  # type: ignore[arg-type]
        assert tuple(seen) == DISCOUNT_CHECK_ORDER
        assert priced(lines, rule, usage=usage).discount == D("5.00")

    def test_validity_window_edges(self) -> None:
        lines = [line()]
        start, end = NOW, NOW + timedelta(days=7)
        rule = pct("10", valid_from=start, valid_until=end)
        tick = timedelta(microseconds=1)
        assert priced(lines, rule, now=start).discount == D("1.00")  # from is inclusive
        assert priced(lines, rule, now=end - tick).discount == D("1.00")
        assert refusal(lines, rule, now=end) == "discount_expired"  # until is exclusive
        assert refusal(lines, rule, now=start - tick) == "discount_not_yet_valid"

    def test_open_ended_windows(self) -> None:
        lines = [line()]
        assert priced(lines, pct("10", valid_until=NOW + timedelta(seconds=1))).discount > 0
        assert priced(lines, pct("10", valid_from=NOW)).discount > 0
        assert refusal(lines, pct("10", valid_until=NOW)) == "discount_expired"

    def test_window_compares_instants_not_wall_clocks(self) -> None:
        plus_two = timezone(timedelta(hours=2))
        # 13:00+02:00 is 11:00 UTC, an hour before NOW
        rule = pct("10", valid_until=datetime(2025, 6, 1, 13, 0, tzinfo=plus_two))
        assert refusal([line()], rule) == "discount_expired"

    def test_naive_datetimes_are_refused(self) -> None:
        with pytest.raises(ValueError, match="naive"):
            priced([line()], pct("10"), now=datetime(2025, 1, 1))
        with pytest.raises(ValueError, match="naive"):
            priced([line()], pct("10", valid_from=datetime(2025, 1, 1)))

    def test_discount_needs_now_and_usage(self) -> None:
        with pytest.raises(ValueError, match="now"):
            price_order([line()], discount=pct("10"), usage=FRESH)
        with pytest.raises(ValueError, match="usage"):
            price_order([line()], discount=pct("10"), now=NOW)

    @pytest.mark.parametrize(
        ("max_uses", "uses", "ok"), [(5, 4, True), (5, 5, False), (5, 6, False), (0, 0, False)]
    )
    def test_max_uses(self, max_uses: int, uses: int, ok: bool) -> None:
        rule = pct("10", max_uses=max_uses)
        usage = DiscountUsageCounts(total_uses=uses)
        if ok:
            assert priced([line()], rule, usage=usage).discount == D("1.00")
        else:
            assert refusal([line()], rule, usage=usage) == "discount_exhausted"

    @pytest.mark.parametrize(("limit", "uses", "ok"), [(1, 0, True), (1, 1, False), (3, 2, True)])
    def test_max_uses_per_customer(self, limit: int, uses: int, ok: bool) -> None:
        rule = pct("10", max_uses_per_customer=limit)
        usage = DiscountUsageCounts(customer_uses=uses)
        if ok:
            assert priced([line()], rule, usage=usage).discount == D("1.00")
        else:
            assert refusal([line()], rule, usage=usage) == "discount_customer_limit"

    def test_first_time_only(self) -> None:
        rule = pct("10", first_time_only=True)
        assert priced([line()], rule).discount == D("1.00")
        returning = DiscountUsageCounts(customer_has_paid_order=True)
        assert refusal([line()], rule, usage=returning) == "discount_first_time_only"
        # without the flag a returning customer is fine
        assert priced([line()], pct("10"), usage=returning).discount == D("1.00")

    def test_inactive(self) -> None:
        assert refusal([line()], pct("10", active=False)) == "discount_inactive"

    def test_minimum_is_met_by_an_equal_eligible_subtotal(self) -> None:
        lines = [line("a", "30.00", product="p1"), line("b", "100.00", product="p2")]
        restricted = frozenset({"p1"})
        assert priced(lines, pct("10", minimum_amount=D("30.00"), product_ids=restricted)).discount
        # the ineligible line does not count towards the minimum
        rule = pct("10", minimum_amount=D("30.01"), product_ids=restricted)
        assert refusal(lines, rule) == "discount_minimum_not_met"
        assert priced(lines, pct("10", minimum_amount=D("130.00"))).discount == D("13.00")

    def test_product_restriction_with_no_matching_line(self) -> None:
        lines = [line(product="p1"), line("b", product=None)]
        rule = pct("10", product_ids=frozenset({"p9"}))
        assert refusal(lines, rule) == "discount_not_applicable"

    def test_fixed_discount_in_another_currency(self) -> None:
        with pytest.raises(DiscountCurrencyMismatch) as info:
            priced([line(currency="EUR")], fixed("5", currency="USD"))
        assert info.value.code == "currency_mismatch"
        assert isinstance(info.value, DiscountError)
        assert isinstance(info.value, CurrencyMismatch)
        assert info.value.details["order_currency"] == "EUR"

    def test_percentage_ignores_its_currency_unless_it_has_a_minimum(self) -> None:
        # Discount rows default to currency USD even for percentages.
        order = priced([line(currency="EUR")], pct("10", currency="USD"))
        assert order.discount == D("1.00")
        rule = pct("10", currency="USD", minimum_amount=D("5"))
        assert refusal([line(currency="EUR")], rule) == "currency_mismatch"
        # a currency-less minimum is read in the order's currency
        assert priced([line(currency="EUR")], pct("10", minimum_amount=D("5"))).discount

    def test_minimum_more_precise_than_the_order_currency(self) -> None:
        with pytest.raises(InvalidAmount, match="minimum_amount"):
            priced([line(price="1000", currency="JPY")], pct("10", minimum_amount=D("10.50")))

    def test_check_discount_eligibility_returns_the_eligible_subtotal(self) -> None:
        lines = [line("a", "12.50", 2, product="p1"), line("b", "3.00", product="p2")]
        rule = pct("10", product_ids=frozenset({"p1"}))
        assert check_discount_eligibility(rule, lines, usage=FRESH, now=NOW) == D("25.00")
        with pytest.raises(DiscountError) as info:
            check_discount_eligibility(pct("10", active=False), lines, usage=FRESH, now=NOW)
        assert info.value.code == "discount_inactive"
        assert info.value.details["discount_code"] == "SAVE"

    def test_models_strenum_is_accepted_as_the_type(self) -> None:
        class DiscountType(StrEnum):
            PERCENTAGE = "PERCENTAGE"
            FIXED_AMOUNT = "FIXED_AMOUNT"

        rule = DiscountRule("E", DiscountType.FIXED_AMOUNT, D("2.5000"), "USD")  # type: ignore[arg-type]
        assert priced([line()], rule).discount == D("2.50")


class TestDiscountAmount:
    @pytest.mark.parametrize(
        ("rule", "eligible", "expected"),
        [
            (pct("25"), "19.99", "5.00"),
            (pct("33.3333"), "0.03", "0.01"),
            (pct("50"), "0.01", "0.01"),  # 0.005 rounds half-up
            (pct("49.9999"), "0.01", "0.00"),
            (pct("100"), "123.45", "123.45"),
            (fixed("5.00"), "19.99", "5.00"),
            (fixed("25.5000"), "19.99", "19.99"),
            (fixed("5"), "0.00", "0.00"),
        ],
    )
    def test_amounts(self, rule: DiscountRule, eligible: str, expected: str) -> None:
        assert str(discount_amount(rule, D(eligible), currency="USD")) == expected

    def test_fixed_in_other_currency(self) -> None:
        with pytest.raises(DiscountCurrencyMismatch):
            discount_amount(fixed("5", currency="GBP"), D("10"), currency="USD")


# --- refused inputs --------------------------------------------------------------------


class TestRefusedInputs:
    @pytest.mark.parametrize("value", ["0", "-5", "100.0001", "25.12345", "1000"])
    def test_percentage_out_of_range(self, value: str) -> None:
        with pytest.raises(InvalidAmount) as info:
            priced([line()], pct(value))
        assert info.value.code == "invalid_amount"

    @pytest.mark.parametrize("value", ["0", "-1", "0.001"])
    def test_fixed_amount_out_of_range(self, value: str) -> None:
        with pytest.raises(InvalidAmount):
            priced([line()], fixed(value))

    def test_fixed_amount_needs_a_currency(self) -> None:
        with pytest.raises(ValidationError, match="currency"):
            priced([line()], fixed("5", currency=None))

    def test_unknown_discount_type(self) -> None:
        with pytest.raises(ValidationError, match="type must be DiscountType"):
            DiscountRule("X", "BOGO", D("1"))  # type: ignore[arg-type]

    def test_float_discount_value(self) -> None:
        with pytest.raises(InvalidAmount, match="float"):
            priced([line()], DiscountRule("X", "PERCENTAGE", 25.0))  # type: ignore[arg-type]

    @pytest.mark.parametrize("limit", [-1, True, 1.5, "3"])
    def test_bad_usage_limits(self, limit: object) -> None:
        with pytest.raises(ValidationError):
            priced([line()], pct("10", max_uses=limit))

    def test_bad_usage_counts(self) -> None:
        with pytest.raises(ValueError, match="total_uses"):
            priced([line()], pct("10"), usage=DiscountUsageCounts(total_uses=-1))

    def test_mixed_currencies(self) -> None:
        with pytest.raises(CurrencyMismatch) as info:
            priced(
                [line("a", currency="USD"), line("b", currency="usd"), line("c", currency="EUR")]
            )
        assert info.value.code == "currency_mismatch"
        assert not isinstance(info.value, DiscountError)
        assert info.value.details["line"] == 2

    @pytest.mark.parametrize("qty", [0, -1, True, 1.0, "2", None])
    def test_quantity(self, qty: object) -> None:
        with pytest.raises(ValidationError) as info:
            priced([line(qty=qty)])  # type: ignore[arg-type]
        assert info.value.details["field"] == "quantity"

    @pytest.mark.parametrize("price", [19.99, "-0.01", "abc", "10.001", True])
    def test_unit_price(self, price: object) -> None:
        with pytest.raises(InvalidAmount):
            priced([LineInput("a", "p", price, 1, "USD")])  # type: ignore[arg-type]

    @pytest.mark.parametrize("rate", ["8.25", "-0.01", "1.0000000000001", 0.0825])
    def test_tax_rate(self, rate: object) -> None:
        with pytest.raises(InvalidAmount) as info:
            priced([LineInput("a", "p", "10", 1, "USD", rate)])  # type: ignore[arg-type]
        assert info.value.details["field"] == "tax_rate"

    def test_unsupported_currency(self) -> None:
        with pytest.raises(UnsupportedCurrency):
            priced([line(currency="KWD")])

    def test_empty_order(self) -> None:
        with pytest.raises(ValidationError, match="at least one line"):
            price_order([])

    def test_duplicate_keys(self) -> None:
        with pytest.raises(ValidationError, match="duplicate"):
            priced([line("a"), line("a")])

    def test_wrong_line_type(self) -> None:
        with pytest.raises(ValidationError):
            price_order([{"unit_price": "1"}])  # type: ignore[list-item]


# --- refunds -----------------------------------------------------------------------------


class TestRefunds:
    def test_partial_then_rest(self) -> None:
        first = refund_split(D("50"), total=D("108.25"), tax=D("8.25"), currency="USD")
        # 50 * 8.25 / 108.25 = 3.8106...
        assert (first.net, first.tax) == (D("46.19"), D("3.81"))
        assert first.refundable_after == D("58.25")
        rest = refund_split(
            None, total=D("108.25"), tax=D("8.25"), currency="USD", refunded=first.refunded_after
        )
        assert rest.amount == D("58.25")
        assert (rest.net, rest.tax) == (D("53.81"), D("4.44"))
        assert first.tax + rest.tax == D("8.25")
        assert rest.tax_refunded_after == D("8.25")
        assert rest.refundable_after == 0

    def test_passing_tax_refunded_explicitly_gives_the_same_split(self) -> None:
        derived = refund_split(
            D("20"), total=D("108.25"), tax=D("8.25"), currency="USD", refunded=D("50")
        )
        explicit = refund_split(
            D("20"),
            total=D("108.25"),
            tax=D("8.25"),
            currency="USD",
            refunded=D("50"),
            tax_refunded=D("3.81"),
        )
        assert derived == explicit

    def test_history_from_another_scheme_is_clamped(self) -> None:
        # An earlier refund took no tax at all; the last refund takes all of it.
        split = refund_split(
            None,
            total=D("110.00"),
            tax=D("10.00"),
            currency="USD",
            refunded=D("100.00"),
            tax_refunded=D("0"),
        )
        assert (split.amount, split.net, split.tax) == (D("10.00"), D("0.00"), D("10.00"))

    def test_tax_part_is_clamped_to_the_refund_and_to_what_is_left(self) -> None:
        # Earlier refunds took net only (90 of 90 net); the formula alone would
        # put 10.00 of tax on a 5.00 refund.
        split = refund_split(
            D("5"), total=D("100"), tax=D("10"), currency="USD", refunded=D("90"), tax_refunded=D(0)
        )
        assert (split.net, split.tax) == (D("0.00"), D("5.00"))
        # Earlier refunds took all the tax; the formula alone would give back -4.00.
        split = refund_split(
            D("10"),
            total=D("100"),
            tax=D("10"),
            currency="USD",
            refunded=D("50"),
            tax_refunded=D(10),
        )
        assert (split.net, split.tax) == (D("10.00"), D("0.00"))

    def test_one_cent_refunds_add_up_exactly(self) -> None:
        refunded = D(0)
        tax_total = D(0)
        while refunded < D("0.30"):
            part = refund_split(
                D("0.01"), total=D("0.30"), tax=D("0.05"), currency="USD", refunded=refunded
            )
            assert part.tax in (0, D("0.01"))
            refunded, tax_total = part.refunded_after, tax_total + part.tax
            assert part.tax_refunded_after == tax_total
        assert tax_total == D("0.05")

    def test_jpy(self) -> None:
        split = refund_split(D("1000"), total=D("3300"), tax=D("300"), currency="JPY")
        assert (str(split.net), str(split.tax)) == ("909", "91")  # 90.9 -> 91

    def test_order_method(self) -> None:
        order = priced([line(price="100.00", tax="0.0825")])
        split = order.refund_split(D("10.00"))
        assert split.currency == "USD"
        assert split.tax == D("0.76")  # 10 * 8.25 / 108.25 = 0.762

    def test_more_than_refundable(self) -> None:
        with pytest.raises(RefundExceedsPaid) as info:
            refund_split(D("60"), total=D("100"), tax=D("0"), currency="USD", refunded=D("50"))
        assert info.value.code == "refund_exceeds_paid"
        assert info.value.details == {"refundable": "50.00", "requested": "60.00"}

    def test_nothing_left(self) -> None:
        with pytest.raises(RefundExceedsPaid, match="nothing"):
            refund_split(None, total=D("100"), tax=D("8"), currency="USD", refunded=D("100"))
        with pytest.raises(RefundExceedsPaid):
            refund_split(D("0.01"), total=D("0"), tax=D("0"), currency="USD")

    @pytest.mark.parametrize("amount", ["0", "-1.00", "0.00"])
    def test_zero_and_negative_refunds(self, amount: str) -> None:
        with pytest.raises(InvalidAmount) as info:
            refund_split(D(amount), total=D("100"), tax=D("8"), currency="USD")
        assert info.value.code == "invalid_amount"

    def test_refund_more_precise_than_currency(self) -> None:
        with pytest.raises(InvalidAmount):
            refund_split(D("1.005"), total=D("100"), tax=D("8"), currency="USD")

    @pytest.mark.parametrize(
        "history",
        [
            {"tax": D("101")},
            {"refunded": D("100.01")},
            {"refunded": D("10"), "tax_refunded": D("11")},
            {"refunded": D("10"), "tax_refunded": D("9")},  # more tax than charged
            {"refunded": D("95"), "tax_refunded": D("0")},  # more net than charged
        ],
    )
    def test_inconsistent_history(self, history: dict[str, Decimal]) -> None:
        kwargs: dict[str, Decimal] = {"total": D("100"), "tax": D("8"), **history}
        with pytest.raises(InvalidAmount):
            refund_split(D("1"), currency="USD", **kwargs)

    def test_refundable_amount(self) -> None:
        assert refundable_amount(total=D("10"), refunded=D("2.5"), currency="USD") == D("7.50")
        with pytest.raises(InvalidAmount):
            refundable_amount(total=D("10"), refunded=D("10.01"), currency="USD")
