"""Properties of paykit.pricing.proration: exact lines, bounds, symmetry, monotony."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paykit.errors import InvalidAmount, UnsupportedCurrency, ValidationError
from paykit.money import CURRENCIES, get_currency
from paykit.pricing.proration import period_amount, prorate_change, remaining_fraction

START = datetime(2026, 1, 1, tzinfo=UTC)
currencies = st.sampled_from(sorted(CURRENCIES))
units = st.integers(min_value=0, max_value=10**7)
seats = st.integers(min_value=1, max_value=500)
lengths = st.integers(min_value=1, max_value=366 * 86_400)


def money(value: int, code: str) -> Decimal:
    return Decimal(value).scaleb(-get_currency(code).exponent)


def units_of(amount: Decimal, code: str) -> int:
    scaled = amount.scaleb(get_currency(code).exponent)
    assert scaled == scaled.to_integral_value()
    return int(scaled)


def half_up(numerator: int, denominator: int) -> int:
    """An independent rounding: Fraction arithmetic, ties away from zero."""
    exact = Fraction(numerator, denominator)
    floor = exact.numerator // exact.denominator
    return floor + (1 if exact - floor >= Fraction(1, 2) else 0)


@st.composite
def changes(draw: st.DrawFn) -> dict[str, object]:
    code = draw(currencies)
    length = draw(lengths)
    elapsed = draw(st.integers(min_value=0, max_value=length))
    return {
        "currency": code,
        "period_start": START,
        "period_end": START + timedelta(seconds=length),
        "at": START + timedelta(seconds=elapsed),
        "old_unit_amount": money(draw(units), code),
        "old_quantity": draw(seats),
        "new_unit_amount": money(draw(units), code),
        "new_quantity": draw(seats),
    }


@given(changes())
def test_lines_are_the_exact_fraction_rounded_half_up(args: dict[str, object]) -> None:
    change = prorate_change(**args)  # type: ignore[arg-type]
    code = str(args["currency"])
    end, at = args["period_end"], args["at"]
    assert isinstance(end, datetime)
    assert isinstance(at, datetime)
    remaining = int((end - at).total_seconds())
    length = int((end - START).total_seconds())
    assert change.fraction == Fraction(remaining, length)
    expected = {}
    if (args["old_unit_amount"], args["old_quantity"]) != (
        args["new_unit_amount"],
        args["new_quantity"],
    ):
        old = units_of(args["old_unit_amount"], code) * int(args["old_quantity"])  # type: ignore[arg-type,call-overload]
        new = units_of(args["new_unit_amount"], code) * int(args["new_quantity"])  # type: ignore[arg-type,call-overload]
        expected = {
            "credit": -half_up(old * remaining, length),
            "charge": half_up(new * remaining, length),
        }
    got = {line.kind: units_of(line.amount, code) for line in change.lines}
    assert got == {kind: value for kind, value in expected.items() if value}
    assert units_of(change.net, code) == sum(got.values())
    for line in change.lines:
        assert line.amount.as_tuple().exponent == -get_currency(code).exponent
        assert line.period_start == at
        assert line.period_end == end


@given(changes())
def test_a_line_never_exceeds_a_full_period(args: dict[str, object]) -> None:
    change = prorate_change(**args)  # type: ignore[arg-type]
    code = str(args["currency"])
    for line in change.lines:
        side = "old" if line.kind == "credit" else "new"
        full = period_amount(
            unit_amount=args[f"{side}_unit_amount"],  # type: ignore[arg-type]
            quantity=args[f"{side}_quantity"],  # type: ignore[arg-type]
            currency=code,
        )
        assert abs(line.amount) <= full
        assert (line.amount < 0) == (line.kind == "credit")


@given(changes())
def test_going_there_and_back_at_once_nets_to_zero(args: dict[str, object]) -> None:
    there = prorate_change(**args)  # type: ignore[arg-type]
    back = prorate_change(
        currency=args["currency"],  # type: ignore[arg-type]
        period_start=args["period_start"],  # type: ignore[arg-type]
        period_end=args["period_end"],  # type: ignore[arg-type]
        at=args["at"],  # type: ignore[arg-type]
        old_unit_amount=args["new_unit_amount"],  # type: ignore[arg-type]
        old_quantity=args["new_quantity"],  # type: ignore[arg-type]
        new_unit_amount=args["old_unit_amount"],  # type: ignore[arg-type]
        new_quantity=args["old_quantity"],  # type: ignore[arg-type]
    )
    assert there.net + back.net == 0


@given(changes(), st.integers(min_value=0, max_value=366 * 86_400))
def test_a_later_change_moves_less_money(args: dict[str, object], later_by: int) -> None:
    end = args["period_end"]
    at = args["at"]
    assert isinstance(end, datetime)
    assert isinstance(at, datetime)
    later = min(end, at + timedelta(seconds=later_by))
    first = prorate_change(**args)  # type: ignore[arg-type]
    second = prorate_change(**{**args, "at": later})  # type: ignore[arg-type]
    for kind in ("credit", "charge"):
        a = sum(abs(line.amount) for line in first.lines if line.kind == kind)
        b = sum(abs(line.amount) for line in second.lines if line.kind == kind)
        assert b <= a


@given(changes())
def test_the_edges_of_the_period(args: dict[str, object]) -> None:
    at_start = prorate_change(**{**args, "at": START})  # type: ignore[arg-type]
    code = str(args["currency"])
    old = period_amount(
        unit_amount=args["old_unit_amount"],  # type: ignore[arg-type]
        quantity=args["old_quantity"],  # type: ignore[arg-type]
        currency=code,
    )
    new = period_amount(
        unit_amount=args["new_unit_amount"],  # type: ignore[arg-type]
        quantity=args["new_quantity"],  # type: ignore[arg-type]
        currency=code,
    )
    if at_start.lines:
        assert at_start.net == new - old
    at_end = prorate_change(**{**args, "at": args["period_end"]})  # type: ignore[arg-type]
    assert at_end.lines == ()
    assert at_end.net == 0


def test_the_documented_example() -> None:
    change = prorate_change(
        currency="USD",
        period_start=START,
        period_end=datetime(2026, 1, 31, tzinfo=UTC),
        at=datetime(2026, 1, 16, tzinfo=UTC),
        old_unit_amount="10.00",
        old_quantity=3,
        new_unit_amount="10.00",
        new_quantity=5,
    )
    assert [line.amount for line in change.lines] == [Decimal("-15.00"), Decimal("25.00")]
    assert change.net == Decimal("10.00")


def test_zero_decimal_currency_rounds_to_whole_units() -> None:
    change = prorate_change(
        currency="JPY",
        period_start=START,
        period_end=START + timedelta(days=3),
        at=START + timedelta(days=1),
        old_unit_amount=100,
        old_quantity=1,
        new_unit_amount=200,
        new_quantity=1,
    )
    # 2/3 of 100 = 66.67 -> 67; 2/3 of 200 = 133.33 -> 133.
    assert [line.amount for line in change.lines] == [Decimal("-67"), Decimal("133")]
    assert change.net == Decimal("66")


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("at", START - timedelta(seconds=1), ValidationError),
        ("at", datetime(2026, 1, 2), ValidationError),
        ("period_end", START, ValidationError),
        ("old_quantity", -1, ValidationError),
        ("new_quantity", True, ValidationError),
        ("old_unit_amount", Decimal("-1.00"), InvalidAmount),
        ("new_unit_amount", Decimal("1.001"), InvalidAmount),
        ("currency", "XXX", UnsupportedCurrency),
    ],
)
def test_bad_input_is_refused(field: str, value: object, error: type[Exception]) -> None:
    args: dict[str, object] = {
        "currency": "USD",
        "period_start": START,
        "period_end": START + timedelta(days=30),
        "at": START + timedelta(days=10),
        "old_unit_amount": Decimal("10.00"),
        "old_quantity": 1,
        "new_unit_amount": Decimal("12.00"),
        "new_quantity": 2,
        field: value,
    }
    with pytest.raises(error):
        prorate_change(**args)  # type: ignore[arg-type]


def test_remaining_fraction_is_exact() -> None:
    third = remaining_fraction(
        period_start=START, period_end=START + timedelta(days=3), at=START + timedelta(days=2)
    )
    assert third == Fraction(1, 3)
