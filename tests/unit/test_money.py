"""Table tests for paykit.money: the currency table, quantize, exact conversion."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest

from paykit.errors import InvalidAmount, MoneyError, UnsupportedCurrency
from paykit.money import (
    CURRENCIES,
    UNSUPPORTED_CURRENCIES,
    as_money,
    from_minor_units,
    get_currency,
    normalize_currency,
    quantize,
    to_decimal,
    to_minor_units,
)

STRIPE_ZERO_DECIMAL = {
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
}  # fmt: skip


class TestCurrencyTable:
    def test_covers_stripe_presentment_currencies(self) -> None:
        assert len(CURRENCIES) >= 135
        for code in ("USD", "EUR", "GBP", "CAD", "AUD", "CHF", "INR", "BRL", "MXN", "ZMW"):
            assert CURRENCIES[code].exponent == 2

    def test_zero_decimal_currencies_are_exactly_stripes_list_plus_isk(self) -> None:
        zero = {code for code, cur in CURRENCIES.items() if cur.exponent == 0}
        assert zero == STRIPE_ZERO_DECIMAL | {"ISK"}
        for code in STRIPE_ZERO_DECIMAL:
            assert CURRENCIES[code].gateway_exponent == 0

    def test_every_other_currency_has_two_decimals(self) -> None:
        for code, cur in CURRENCIES.items():
            assert cur.code == code
            assert len(code) == 3
            assert code.isupper()
            assert cur.exponent in (0, 2)
            if code != "ISK":
                assert cur.gateway_exponent == cur.exponent

    def test_isk_is_whole_kronur_sent_in_hundredths(self) -> None:
        isk = get_currency("isk")
        assert (isk.exponent, isk.gateway_exponent) == (0, 2)

    def test_quantum(self) -> None:
        assert get_currency("USD").quantum == Decimal("0.01")
        assert str(get_currency("JPY").quantum) == "1"

    @pytest.mark.parametrize("code", ["usd", "Usd", "USD", "uSd"])
    def test_codes_are_case_insensitive(self, code: str) -> None:
        assert normalize_currency(code) == "USD"

    @pytest.mark.parametrize("code", ["BHD", "JOD", "KWD", "OMR", "TND", "kwd"])
    def test_three_decimal_currencies_are_refused(self, code: str) -> None:
        assert code.upper() in UNSUPPORTED_CURRENCIES
        with pytest.raises(UnsupportedCurrency, match="three-decimal") as info:
            get_currency(code)
        assert info.value.code == "unsupported_currency"
        assert info.value.http_status == 422
        with pytest.raises(UnsupportedCurrency):
            to_minor_units(Decimal("1.000"), code)

    @pytest.mark.parametrize("code", ["XXX", "US", "USDD", "", " usd", "usd ", 840, None, b"USD"])
    def test_unknown_codes_are_refused(self, code: object) -> None:
        with pytest.raises(UnsupportedCurrency) as info:
            get_currency(code)
        assert info.value.code == "unsupported_currency"
        assert isinstance(info.value, MoneyError)


class TestToDecimal:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (Decimal("19.99"), Decimal("19.99")),
            (5, Decimal(5)),
            ("19.99", Decimal("19.99")),
            ("-0.5", Decimal("-0.5")),
            ("+3", Decimal(3)),
            ("007.10", Decimal("7.10")),
        ],
    )
    def test_accepts_decimal_int_and_plain_strings(self, value: object, expected: Decimal) -> None:
        assert to_decimal(value) == expected

    @pytest.mark.parametrize(
        "value",
        [
            19.99,
            0.0,
            True,
            False,
            Decimal("NaN"),
            Decimal("sNaN"),
            Decimal("Infinity"),
            Decimal("-Infinity"),
            "NaN",
            "Infinity",
            "1e3",
            "1E-2",
            "1_000",
            " 1.00",
            "1.00\n",
            "1,00",
            "",
            ".5",
            "5.",
            "١٢",  # Arabic-Indic digits: Decimal() would accept them
            None,
            [1],
            10**18,
            Decimal("-1E+18"),
        ],
    )
    def test_refuses_everything_else(self, value: object) -> None:
        with pytest.raises(InvalidAmount) as info:
            to_decimal(value)
        assert info.value.code == "invalid_amount"

    def test_error_names_the_field(self) -> None:
        with pytest.raises(InvalidAmount) as info:
            to_decimal(1.5, field="unit_price")
        assert info.value.details["field"] == "unit_price"
        assert "float" in info.value.message


class TestQuantize:
    @pytest.mark.parametrize(
        ("amount", "currency", "expected"),
        [
            ("4.9975", "USD", "5.00"),
            ("4.995", "USD", "5.00"),
            ("4.994999", "USD", "4.99"),
            ("0.005", "EUR", "0.01"),
            ("0.0049", "EUR", "0.00"),
            ("-4.995", "USD", "-5.00"),  # ties go away from zero
            ("-0.001", "USD", "0.00"),  # never a signed zero
            ("10", "USD", "10.00"),
            ("2.5", "JPY", "3"),
            ("3.5", "JPY", "4"),  # not banker's rounding
            ("1499.49", "JPY", "1499"),
            ("1499.50", "KRW", "1500"),
            ("12.5", "ISK", "13"),
            (Decimal("1E+2"), "VND", "100"),
        ],
    )
    def test_half_up(self, amount: str | Decimal, currency: str, expected: str) -> None:
        result = quantize(amount, currency)
        assert result == Decimal(expected)
        assert str(result) == expected

    def test_ignores_the_callers_decimal_context(self) -> None:
        with decimal.localcontext() as ctx:
            ctx.prec = 3
            ctx.rounding = decimal.ROUND_DOWN
            assert quantize("123456.785", "USD") == Decimal("123456.79")
            assert to_minor_units("123456.78", "USD") == 12345678

    def test_refuses_float(self) -> None:
        with pytest.raises(InvalidAmount):
            quantize(4.9975, "USD")  # type: ignore[arg-type]


class TestExactConversion:
    @pytest.mark.parametrize(
        ("amount", "currency", "minor"),
        [
            (Decimal("19.99"), "usd", 1999),
            (Decimal("0.01"), "EUR", 1),
            (Decimal("0"), "USD", 0),
            (Decimal("10.50"), "GBP", 1050),
            (Decimal("10.500"), "GBP", 1050),  # trailing zeros are still exact
            (Decimal("-3.25"), "USD", -325),
            (500, "JPY", 500),
            ("1500", "jpy", 1500),
            (Decimal("1500.00"), "JPY", 1500),
            (Decimal("15000"), "KRW", 15000),
            (Decimal("5"), "ISK", 500),
            (Decimal("99999999.99"), "USD", 9999999999),
        ],
    )
    def test_to_and_from_minor_units(self, amount: object, currency: str, minor: int) -> None:
        assert to_minor_units(amount, currency) == minor  # type: ignore[arg-type]
        back = from_minor_units(minor, currency)
        assert back == Decimal(str(amount))
        assert -back.as_tuple().exponent == get_currency(currency).exponent  # type: ignore[operator]

    @pytest.mark.parametrize(
        ("amount", "currency"),
        [("19.999", "USD"), ("0.001", "EUR"), ("1500.5", "JPY"), ("0.1", "KRW"), ("5.5", "ISK")],
    )
    def test_never_rounds_silently(self, amount: str, currency: str) -> None:
        with pytest.raises(InvalidAmount, match="quantize"):
            to_minor_units(amount, currency)
        with pytest.raises(InvalidAmount):
            as_money(amount, currency)
        # the explicit route works
        assert to_minor_units(quantize(amount, currency), currency) >= 0

    @pytest.mark.parametrize("minor", [True, 1.0, "100", Decimal(100), None])
    def test_from_minor_units_wants_an_int(self, minor: object) -> None:
        with pytest.raises(InvalidAmount):
            from_minor_units(minor, "USD")  # type: ignore[arg-type]

    @pytest.mark.parametrize("minor", [150, 1, 99, -50])
    def test_isk_fractions_from_the_gateway_are_refused(self, minor: int) -> None:
        with pytest.raises(InvalidAmount, match="multiple of 100"):
            from_minor_units(minor, "ISK")

    def test_as_money_sets_the_scale(self) -> None:
        assert str(as_money("10", "USD")) == "10.00"
        assert str(as_money(Decimal("1500.00"), "JPY")) == "1500"
        assert str(as_money("-0.00", "USD")) == "0.00"
