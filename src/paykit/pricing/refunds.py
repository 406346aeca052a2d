"""Refunds: what is still refundable, and how a refund splits into net and tax."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from paykit._arguments import checked
from paykit.errors import InvalidAmount, RefundExceedsPaid
from paykit.money import Currency, MoneyInput, _from_scaled_int, get_currency
from paykit.pricing._units import _half_up, _signed_units, _units

__all__ = ["RefundSplit", "refund_split", "refundable_amount"]


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


def _tax_refunded_target(refunded: int, total: int, tax: int) -> int:
    return _half_up(refunded * tax, total) if total else 0


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
