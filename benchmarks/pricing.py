"""Micro-benchmark: paykit.pricing.price_order against a naive inline reference.

Run with ``python benchmarks/pricing.py``. Prices one 10-line USD order with a
25.5 % discount restricted to some products and per-line tax, first through
``price_order`` (validation, eligibility checks, integer arithmetic, result
dataclasses) and then through a hand-written reference that does the same
arithmetic inline on Decimals with no validation. Both must produce the same
totals; the script prints microseconds per order for each and the ratio.
"""

from __future__ import annotations

import sys
import timeit
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from paykit.pricing import DiscountRule, DiscountUsageCounts, LineInput, price_order

CENT = Decimal("0.01")
NOW = datetime(2025, 6, 1, tzinfo=UTC)
USAGE = DiscountUsageCounts(total_uses=3, customer_uses=0, customer_has_paid_order=False)
RULE = DiscountRule(
    code="SPRING",
    type="PERCENTAGE",
    value=Decimal("25.5"),
    currency="USD",
    valid_from=datetime(2025, 1, 1, tzinfo=UTC),
    valid_until=datetime(2026, 1, 1, tzinfo=UTC),
    minimum_amount=Decimal("10.00"),
    max_uses=100,
    max_uses_per_customer=1,
    product_ids=frozenset({"p0", "p2", "p3", "p5", "p7", "p8"}),
)
LINES = [
    LineInput(
        key=i,
        product_id=f"p{i}",
        unit_price=Decimal(f"{7 + 3 * i}.{(37 * i) % 100:02d}"),
        quantity=1 + i % 4,
        currency="USD",
        tax_rate=Decimal("0.0825") if i % 3 else Decimal("0.2"),
    )
    for i in range(10)
]


def naive(lines: list[LineInput], rule: DiscountRule) -> tuple[Decimal, Decimal, Decimal]:
    """The same arithmetic, inline: no validation, no result objects."""
    subtotals = [Decimal(line.unit_price) * line.quantity for line in lines]
    eligible = [line.product_id in rule.product_ids for line in lines]
    base = sum((s for s, ok in zip(subtotals, eligible, strict=True) if ok), Decimal(0))
    discount = (base * Decimal(rule.value) / 100).quantize(CENT, ROUND_HALF_UP)
    # largest remainder in cents, ties to the earlier line
    whole = int(base * 100)
    total_cents = int(discount * 100)
    shares, remainders = [], []
    for s, ok in zip(subtotals, eligible, strict=True):
        q, r = divmod(total_cents * int(s * 100), whole) if ok else (0, 0)
        shares.append(q)
        remainders.append(r)
    for i in sorted(range(len(lines)), key=lambda i: (-remainders[i], i))[
        : total_cents - sum(shares)
    ]:
        shares[i] += 1
    tax = Decimal(0)
    for line, s, share in zip(lines, subtotals, shares, strict=True):
        taxable = s - Decimal(share) / 100
        tax += (taxable * Decimal(line.tax_rate or 0)).quantize(CENT, ROUND_HALF_UP)
    subtotal = sum(subtotals, Decimal(0))
    return discount, tax, subtotal - discount + tax


def per_order_us(fn: object, number: int) -> float:
    timer = timeit.Timer(fn)  # type: ignore[arg-type]
    best = min(timer.repeat(repeat=7, number=number))
    return best / number * 1e6


def main() -> int:
    order = price_order(LINES, discount=RULE, usage=USAGE, now=NOW)
    reference = naive(LINES, RULE)
    if (order.discount, order.tax, order.total) != reference:
        print(f"MISMATCH: paykit {order.discount, order.tax, order.total} vs {reference}")
        return 1
    number = 2000
    paykit_us = per_order_us(
        lambda: price_order(LINES, discount=RULE, usage=USAGE, now=NOW), number
    )
    naive_us = per_order_us(lambda: naive(LINES, RULE), number)
    print(f"10-line order, discount {order.discount}, tax {order.tax}, total {order.total} USD")
    print(f"paykit.price_order : {paykit_us:8.1f} us/order")
    print(f"naive reference    : {naive_us:8.1f} us/order")
    print(f"ratio              : {paykit_us / naive_us:8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
