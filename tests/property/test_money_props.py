"""Properties of paykit.money: quantization and minor-unit conversion, per currency."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paykit.errors import InvalidAmount
from paykit.money import (
    CURRENCIES,
    as_money,
    from_minor_units,
    get_currency,
    quantize,
    to_decimal,
    to_minor_units,
)

ALL_CODES = sorted(CURRENCIES)

# n * 10**-k with up to 8 decimals, mixed with exact ties (a trailing 5 one
# place past two or zero decimals), where half-up and half-even differ.
scaled = st.tuples(st.integers(-(10**14), 10**14), st.integers(0, 8)) | st.tuples(
    st.integers(-(10**12), 10**12).map(lambda m: 10 * m + 5), st.sampled_from([1, 3])
)


def decimal_of(n: int, places: int) -> Decimal:
    return Decimal(n).scaleb(-places)


# Each example is checked in every supported currency, so every currency sees
# every generated value (the profile's example count applies per currency).


@given(value=scaled)
def test_quantize_is_half_up_to_the_minor_unit(value: tuple[int, int]) -> None:
    n, k = value
    x = decimal_of(n, k)
    for code in ALL_CODES:
        cur = get_currency(code)
        q = quantize(x, code.lower())
        assert q.as_tuple().exponent == -cur.exponent, code
        # Oracle in exact rationals: nearest multiple of the quantum, ties away from zero.
        exact = abs(Fraction(n, 10**k)) * 10**cur.exponent
        floor = exact.numerator // exact.denominator
        nearest = floor + (1 if exact - floor >= Fraction(1, 2) else 0)
        expected = -nearest if n < 0 else nearest
        assert Fraction(q) * 10**cur.exponent == expected, code
        assert quantize(q, code) == q, code
        assert not (q.is_zero() and q.is_signed()), code


@given(units=st.integers(-(10**15), 10**15))
def test_minor_units_round_trip(units: int) -> None:
    for code in ALL_CODES:
        cur = get_currency(code)
        gateway = units * 10 ** (cur.gateway_exponent - cur.exponent)
        amount = from_minor_units(gateway, code)
        assert amount.as_tuple().exponent == -cur.exponent, code
        assert to_minor_units(amount, code) == gateway, code
        assert from_minor_units(to_minor_units(amount, code), code) == amount, code
        assert as_money(amount, code) == amount, code
        assert Fraction(amount) == Fraction(units, 10**cur.exponent), code


@given(units=st.integers(-(10**12), 10**12), extra=st.integers(1, 9))
def test_conversion_refuses_to_round(units: int, extra: int) -> None:
    for code in ALL_CODES:
        cur = get_currency(code)
        too_precise = decimal_of(units * 10 + extra, cur.exponent + 1)
        with pytest.raises(InvalidAmount):
            to_minor_units(too_precise, code)
        with pytest.raises(InvalidAmount):
            as_money(too_precise, code)
        # quantize is the explicit way, and lands within half a minor unit
        assert abs(quantize(too_precise, code) - too_precise) <= cur.quantum / 2, code


@given(value=st.floats(allow_nan=True, allow_infinity=True))
def test_floats_are_never_money(value: float) -> None:
    with pytest.raises(InvalidAmount):
        to_decimal(value)
    with pytest.raises(InvalidAmount):
        quantize(value, "USD")  # type: ignore[arg-type]


@given(n=st.integers(-(10**17), 10**17), k=st.integers(0, 10))
def test_plain_decimal_strings_mean_what_they_show(n: int, k: int) -> None:
    value = decimal_of(n, k)
    text = format(value, "f")
    assert to_decimal(text) == value
    assert to_decimal(text).as_tuple() == value.as_tuple()
    with pytest.raises(InvalidAmount):
        to_decimal(f"{n}e-{k}")
