"""Currencies and exact money values.

Money in paykit is a :class:`~decimal.Decimal` quantized to its currency's
minor unit (two decimals for USD, none for JPY). This module owns the
currency table, the one explicit rounding function (:func:`quantize`,
half-up) and the one place where amounts become a gateway's integer minor
units and back (:func:`to_minor_units`, :func:`from_minor_units`).

Accepted money inputs are ``Decimal``, ``int`` and ``str`` (plain decimal
notation such as ``"19.99"``). ``float`` and ``bool`` are refused, as are NaN
and infinities. Only :func:`quantize` rounds; every other function refuses an
amount that is more precise than its currency allows rather than round it.
See ``docs/pricing.md`` for the full rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, ROUND_HALF_UP, Context, Decimal
from types import MappingProxyType
from typing import Final, TypeAlias

from paykit._arguments import checked
from paykit.errors import InvalidAmount, UnsupportedCurrency

__all__ = [
    "CURRENCIES",
    "MINIMUM_CHARGES",
    "ROUNDING",
    "UNSUPPORTED_CURRENCIES",
    "Currency",
    "MoneyInput",
    "as_money",
    "check_chargeable",
    "from_minor_units",
    "get_currency",
    "minimum_charge",
    "normalize_currency",
    "quantize",
    "to_decimal",
    "to_minor_units",
]

MoneyInput: TypeAlias = Decimal | int | str
"""What paykit accepts as an amount: ``Decimal``, ``int`` or a decimal string."""

ROUNDING: Final = ROUND_HALF_UP
"""The one rounding mode paykit uses: half-up, ties away from zero."""

# The caller's thread-local decimal context may have a low precision or
# different traps; every operation here names its own context so a host
# that calls ``decimal.getcontext().prec = 6`` cannot change a total. Only
# exact operations (quantize, scaleb) may use it: an inexact division at
# this precision would try to produce MAX_PREC digits.
_EXACT: Final = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, rounding=ROUNDING)

# Far above any real price and far below sizes that make integer arithmetic
# slow; an amount this large is a bug or an attack, not an order.
_MAX_ABS: Final = Decimal(10) ** 18

# Plain decimal notation only: no exponent, no underscores, no whitespace,
# no non-ASCII digits, so a string means exactly what it shows.
_DECIMAL_STR: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True, slots=True)
class Currency:
    """One ISO 4217 currency as paykit handles it.

    ``exponent`` is the number of decimals paykit stores and quantizes to.
    ``gateway_exponent`` is the number of decimals in the gateway's integer
    amount; it differs from ``exponent`` only where the gateway keeps a legacy
    scale (Stripe sends ISK, now whole krónur only, in hundredths).
    """

    code: str
    exponent: int
    gateway_exponent: int

    @property
    def quantum(self) -> Decimal:
        """The minor unit as a Decimal: ``Decimal("0.01")``, or ``Decimal("1")`` for JPY."""
        return Decimal((0, (1,), -self.exponent))


# Stripe's presentment currencies, by exponent. Stripe's zero-decimal list
# is kept at exponent 0 even where ISO 4217 says otherwise (MGA), since that
# is the scale the gateway charges in.
_TWO_DECIMAL: Final = """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BRL BSD
    BWP BYN BZD CAD CDF CHF CNY COP CRC CVE CZK DKK DOP DZD EGP ETB EUR FJD FKP
    GBP GEL GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR JMD KES KGS KHR KYD KZT
    LAK LBP LKR LRD LSL MAD MDL MKD MMK MNT MOP MUR MVR MWK MXN MYR MZN NAD NGN
    NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD SCR SEK SGD
    SHP SLE SLL SOS SRD STD SZL THB TJS TOP TRY TTD TWD TZS UAH USD UYU UZS WST
    XCD YER ZAR ZMW
"""
_ZERO_DECIMAL: Final = "BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF"
_THREE_DECIMAL: Final = ("BHD", "JOD", "KWD", "OMR", "TND")


def _table() -> dict[str, Currency]:
    table = {code: Currency(code, 2, 2) for code in _TWO_DECIMAL.split()}
    table.update({code: Currency(code, 0, 0) for code in _ZERO_DECIMAL.split()})
    # Card networks accept whole krónur only; Stripe still counts ISK in
    # hundredths and requires multiples of 100.
    table["ISK"] = Currency("ISK", 0, 2)
    return dict(sorted(table.items()))


CURRENCIES: Final[Mapping[str, Currency]] = MappingProxyType(_table())
"""Every currency paykit can price and charge in, by upper-case ISO code."""

UNSUPPORTED_CURRENCIES: Final[Mapping[str, str]] = MappingProxyType(
    dict.fromkeys(_THREE_DECIMAL, "three-decimal currency: paykit stores money with two decimals")
)
"""Known currencies paykit refuses, with the reason given in the error."""


def normalize_currency(code: object) -> str:
    """Return the upper-case ISO code for ``code`` (any case), or raise.

    Raises :class:`~paykit.errors.UnsupportedCurrency` for a code that is not
    a string, is unknown, or is a known currency paykit cannot store (the
    three-decimal dinars).
    """
    return get_currency(code).code


@checked
def get_currency(code: object) -> Currency:
    """Look up a currency by ISO code, case-insensitively.

    Raises :class:`~paykit.errors.UnsupportedCurrency` (code
    ``unsupported_currency``) for an unknown or unsupported code.
    """
    if isinstance(code, str):
        found = CURRENCIES.get(code) or CURRENCIES.get(code.upper())
        if found is not None:
            return found
        reason = UNSUPPORTED_CURRENCIES.get(code.upper())
        if reason is not None:
            raise UnsupportedCurrency(
                f"currency {code.upper()} is not supported: {reason}",
                details={"currency": code.upper()},
            )
    raise UnsupportedCurrency(
        f"unknown currency code {code!r}",
        details={"currency": code if isinstance(code, str) else repr(code)},
    )


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Validate a money input and return it as a finite ``Decimal``, unrounded.

    Accepts ``Decimal``, ``int`` and ``str`` in plain decimal notation
    (``"19.99"``, ``"-5"``). Refuses, with
    :class:`~paykit.errors.InvalidAmount`: ``float`` (binary floats cannot
    hold most prices exactly), ``bool``, any other type, NaN and infinities,
    strings with exponents, spaces or underscores, and magnitudes of 10**18
    or more. ``field`` names the input in the error.
    """
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise _invalid(field, value, "a bool is not an amount")
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        if not _DECIMAL_STR.fullmatch(value):
            raise _invalid(field, value, "not a plain decimal number")
        result = Decimal(value)
    elif isinstance(value, float):
        raise _invalid(field, value, "floats are refused; pass a Decimal or a string")
    else:
        raise _invalid(field, value, f"expected Decimal, int or str, got {type(value).__name__}")
    if not result.is_finite():
        raise _invalid(field, value, "not a finite number")
    if abs(result) >= _MAX_ABS:
        raise _invalid(field, value, "too large")
    return result


@checked
def quantize(amount: MoneyInput, currency: str) -> Decimal:
    """Round ``amount`` to the currency's minor unit, half-up (ties away from zero).

    This is the only function in paykit that rounds an amount on purpose:
    ``quantize("4.9975", "USD") == Decimal("5.00")``,
    ``quantize("2.5", "JPY") == Decimal("3")``. The result always carries
    exactly the currency's number of decimals.
    """
    cur = get_currency(currency)
    value = to_decimal(amount)
    return _clean_zero(value.quantize(cur.quantum, rounding=ROUNDING, context=_EXACT))


@checked
def as_money(amount: MoneyInput, currency: str, *, field: str = "amount") -> Decimal:
    """Return ``amount`` at the currency's scale, refusing to round.

    ``as_money("10", "USD") == Decimal("10.00")`` and
    ``as_money("1500.00", "JPY") == Decimal("1500")``, but
    ``as_money("10.005", "USD")`` and ``as_money("1500.5", "JPY")`` raise
    :class:`~paykit.errors.InvalidAmount`: an amount more precise than its
    currency is a bug upstream, and :func:`quantize` is the explicit way to
    round one.
    """
    cur = get_currency(currency)
    value = to_decimal(amount, field=field)
    units = _scaled_int(value, cur.exponent)
    if units is None:
        raise _too_precise(field, amount, cur)
    return _from_scaled_int(units, cur.exponent)


@checked
def to_minor_units(amount: MoneyInput, currency: str) -> int:
    """Convert an amount to the gateway's integer minor units, exactly.

    ``to_minor_units(Decimal("19.99"), "usd") == 1999``,
    ``to_minor_units(500, "JPY") == 500``, ``to_minor_units(5, "ISK") == 500``.
    An amount more precise than the currency allows raises
    :class:`~paykit.errors.InvalidAmount` instead of being rounded; call
    :func:`quantize` first if rounding is what you mean. Negative amounts
    convert to negative integers.
    """
    cur = get_currency(currency)
    value = to_decimal(amount)
    units = _scaled_int(value, cur.exponent)
    if units is None:
        raise _too_precise("amount", amount, cur)
    scale: int = 10 ** (cur.gateway_exponent - cur.exponent)
    return units * scale


@checked
def from_minor_units(minor_units: int, currency: str) -> Decimal:
    """Convert a gateway's integer minor units to an amount at the currency's scale.

    ``from_minor_units(1999, "USD") == Decimal("19.99")``. The inverse of
    :func:`to_minor_units`. Refuses (:class:`~paykit.errors.InvalidAmount`) a
    non-int (``bool`` included) and, for ISK, a value that is not a whole
    number of krónur.
    """
    cur = get_currency(currency)
    if isinstance(minor_units, bool) or not isinstance(minor_units, int):
        raise _invalid("minor_units", minor_units, "gateway amounts are integers")
    scale: int = 10 ** (cur.gateway_exponent - cur.exponent)
    units, leftover = divmod(minor_units, scale)
    if leftover:
        raise _invalid(
            "minor_units",
            minor_units,
            f"{cur.code} amounts must be a multiple of {scale} minor units",
        )
    result = _from_scaled_int(units, cur.exponent)
    if abs(result) >= _MAX_ABS:
        raise _invalid("minor_units", minor_units, "too large")
    return result


# Integer helpers shared with paykit.pricing, which does its arithmetic on
# integers counted in minor units so no decimal context can round anything.


def _scaled_int(value: Decimal, places: int) -> int | None:
    """``value * 10**places`` as an int, or None if that is not a whole number."""
    if not value.is_finite():
        raise _invalid("amount", value, "not a finite number")
    if value.is_zero():
        return 0
    if value.adjusted() < -places:
        # Nonzero and below one unit: not whole. Checked first so that a tiny
        # exponent (1E-999999) never becomes a huge integer denominator.
        return None
    numerator, denominator = value.as_integer_ratio()
    units, leftover = divmod(numerator * 10**places, denominator)
    return None if leftover else units


def _from_scaled_int(units: int, places: int) -> Decimal:
    """The Decimal ``units / 10**places``, carrying exactly ``places`` decimals."""
    return Decimal(units).scaleb(-places, _EXACT)


def _clean_zero(value: Decimal) -> Decimal:
    # -0.00 compares equal to 0 but prints with a sign; never show it.
    return value.copy_abs() if value.is_zero() else value


def _invalid(field: str, value: object, reason: str) -> InvalidAmount:
    return InvalidAmount(
        f"invalid {field} {value!r}: {reason}",
        details={"field": field, "value": str(value)},
    )


def _too_precise(field: str, value: object, cur: Currency) -> InvalidAmount:
    return _invalid(
        field,
        value,
        f"{cur.code} allows {cur.exponent} decimal places; round with quantize() first",
    )


# Stripe's minimum charge amounts ("Minimum and maximum charge amounts",
# https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts), in
# major units. Stripe refuses a smaller charge with ``amount_too_small``.
_MINIMUMS: Final = {
    "USD": "0.50", "AED": "2.00", "AUD": "0.50", "BGN": "1.00", "BRL": "0.50",
    "CAD": "0.50", "CHF": "0.50", "CZK": "15.00", "DKK": "2.50", "EUR": "0.50",
    "GBP": "0.30", "HKD": "4.00", "HUF": "175.00", "INR": "0.50", "JPY": "50",
    "MXN": "10.00", "MYR": "2.00", "NOK": "3.00", "NZD": "0.50", "PLN": "2.00",
    "RON": "2.00", "SEK": "3.00", "SGD": "0.50", "THB": "10.00",
}  # fmt: skip

MINIMUM_CHARGES: Final[Mapping[str, Decimal]] = MappingProxyType(
    {code: Decimal(value) for code, value in _MINIMUMS.items()}
)
"""The smallest amount a card payment may charge, per currency (Stripe's table).

A currency missing from the table has Stripe's rule "the equivalent of 0.50
USD", which depends on the day's exchange rate; paykit then only requires one
minor unit and leaves the final word to the gateway.
"""


def minimum_charge(currency: str) -> Decimal:
    """The smallest non-zero amount a payment in ``currency`` may be for."""
    cur = get_currency(currency)
    found = MINIMUM_CHARGES.get(cur.code)
    if found is not None:
        return found
    return from_minor_units(1, cur.code)


def check_chargeable(amount: Decimal, currency: str) -> None:
    """Refuse a non-zero ``amount`` below the currency's minimum charge.

    Zero is allowed: a free order needs no payment at all. Raises
    :class:`~paykit.errors.InvalidAmount` with code ``amount_below_minimum``.
    """
    minimum = minimum_charge(currency)
    if 0 < amount < minimum:
        raise InvalidAmount(
            f"{amount} {currency} is below the minimum charge of {minimum} {currency}",
            code="amount_below_minimum",
            details={"amount": str(amount), "currency": currency, "minimum": str(minimum)},
        )
