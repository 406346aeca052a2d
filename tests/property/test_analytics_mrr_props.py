"""Property: MRR from the history equals MRR from the story, every day, whatever the delivery.

Random subscription stories (creations, upgrades and downgrades between prices
of one currency, quantity changes, trials, past-due spells, cancellations,
reactivations; several currencies and intervals; some states with a second
item of another price and interval) are delivered to
``sync_subscription`` as webhooks in a shuffled order with duplicates. For
every day of the story, ``paykit.mrr`` must equal MRR computed here, from the
story alone, with arithmetic of this file's own; ``mrr_movements`` must equal
the movements computed here the same way, and its invariant must hold exactly.
"""

from __future__ import annotations

import decimal
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session
from tests import factories as f

import paykit
from paykit import models as m
from paykit.clock import FrozenClock
from paykit.gateways.base import GatewaySubscription, GatewaySubscriptionItem
from paykit.services.subscriptions import sync_subscription

T0 = datetime(2026, 3, 1, tzinfo=UTC)
CUSTOMERS = 3

#: (stripe price id, currency, unit amount, interval, interval_count)
PRICES: tuple[tuple[str, str, str, str, int], ...] = (
    ("p_usd_m", "USD", "29.00", "month", 1),
    ("p_usd_m_big", "USD", "99.99", "month", 1),
    ("p_usd_q", "USD", "10.00", "month", 3),
    ("p_usd_y", "USD", "100.00", "year", 1),
    ("p_usd_w", "USD", "0.05", "week", 1),
    ("p_usd_d", "USD", "1.01", "day", 7),
    ("p_eur_m", "EUR", "19.99", "month", 1),
    ("p_eur_y2", "EUR", "333.33", "year", 2),
    ("p_eur_w2", "EUR", "7.77", "week", 2),
    ("p_jpy_m", "JPY", "980", "month", 1),
    ("p_jpy_y", "JPY", "10001", "year", 1),
)
CURRENCIES = ("USD", "EUR", "JPY")
#: How many times a month each interval unit is billed, as a ratio (numerator, denominator).
PER_MONTH = {"month": (1, 1), "year": (1, 12), "week": (52, 12), "day": (365, 12)}
STATUSES = ("trialing", "active", "past_due", "canceled", "unpaid", "incomplete")
COUNTING = {"active", "past_due"}


@dataclass(frozen=True)
class Event:
    sub: int
    customer: int
    at: datetime
    price: int
    quantity: int
    status: str
    #: a second item (another price of the currency, maybe another interval), 2 seats
    extra: int | None = None


def monthly(price: int, quantity: int, extra: int | None = None) -> Decimal:
    """This file's own normalisation: exact long division of every item's amount, summed,
    then half-up to 4 places once (per subscription, not per item)."""
    items = [(price, quantity)] + ([] if extra is None else [(extra, 2)])
    with decimal.localcontext(prec=60):
        exact = Decimal(0)
        for slot, seats in items:
            _, _, amount, interval, count = PRICES[slot]
            num, den = PER_MONTH[interval]
            exact += Decimal(amount) * seats * num / (den * count)
    return exact.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def _story_steps() -> st.SearchStrategy[list[tuple[int, int, int, str, int | None]]]:
    """A subscription's states: (seconds since the previous one, price slot, quantity, status,
    offset of a second item's slot or None)."""
    gap = st.one_of(st.integers(1, 72).map(lambda hours: hours * 3600), st.integers(1, 3 * 86400))
    extra = st.one_of(st.none(), st.integers(1, 5))
    step = st.tuples(gap, st.integers(0, 2), st.integers(1, 5), st.sampled_from(STATUSES), extra)
    return st.lists(step, min_size=1, max_size=6)


@st.composite
def stories(draw: st.DrawFn) -> tuple[list[Event], list[int]]:
    events: list[Event] = []
    for sub in range(draw(st.integers(1, 5))):
        customer = draw(st.integers(0, CUSTOMERS - 1))
        currency = draw(st.sampled_from(CURRENCIES))
        slots = [i for i, p in enumerate(PRICES) if p[1] == currency]
        at = T0 + timedelta(seconds=draw(st.integers(0, 5 * 86400)))
        for n, (gap, slot, quantity, status, offset) in enumerate(draw(_story_steps())):
            at = at if n == 0 else at + timedelta(seconds=gap)
            price = slots[slot % len(slots)]
            extra = None if offset is None else slots[(slot + offset) % len(slots)]
            extra = None if extra == price else extra
            events.append(Event(sub, customer, at, price, quantity, status, extra))
    # Every event at least once, in any order, some again.
    extra = draw(st.lists(st.integers(0, len(events) - 1), max_size=4))
    order = draw(st.permutations(list(range(len(events))) + extra))
    return events, order


def _snapshot(event: Event) -> GatewaySubscription:
    stripe_price, currency, *_ = PRICES[event.price]
    trial = event.status == "trialing"
    return GatewaySubscription(
        id=f"sub_prop_{event.sub}",
        customer_id=f"cus_prop_{event.customer}",
        status=event.status,  # type: ignore[arg-type]
        price_id=stripe_price,
        product_id=None,
        quantity=event.quantity,
        unit_amount_minor=None,
        currency=currency,
        current_period_start=event.at,
        current_period_end=event.at + timedelta(days=30),
        cancel_at_period_end=False,
        canceled_at=event.at if event.status == "canceled" else None,
        trial_start=event.at if trial else None,
        trial_end=event.at + timedelta(days=14) if trial else None,
        items=()
        if event.extra is None
        else tuple(
            GatewaySubscriptionItem(
                id=None,
                price_id=PRICES[slot][0],
                product_id=None,
                quantity=seats,
                unit_amount_minor=None,
            )
            for slot, seats in ((event.price, event.quantity), (event.extra, 2))
        ),
    )


def _setup(session: Session) -> None:
    for n in range(CUSTOMERS):
        f.user(session, stripe_customer_id=f"cus_prop_{n}")
    product = f.product(session, type=m.ProductType.SUBSCRIPTION)
    for stripe_price, currency, amount, interval, count in PRICES:
        f.price(
            session,
            product,
            stripe_price_id=stripe_price,
            currency=currency,
            unit_amount=Decimal(amount),
            type=m.PriceType.RECURRING,
            recurring={"interval": interval, "interval_count": count},
        )
    session.flush()


def _end_of(day: date) -> datetime:
    """The last instant of a UTC day: a day is [00:00, 24:00), so the next midnight is not in it."""
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, microseconds=-1)


def model_mrr(events: list[Event], at: datetime) -> dict[tuple[int, str], Decimal]:
    """MRR per (customer, currency) at ``at``, from the story: each subscription's latest state."""
    latest: dict[int, Event] = {}
    for event in sorted(events, key=lambda e: e.at):
        if event.at <= at:
            latest[event.sub] = event
    out: dict[tuple[int, str], Decimal] = defaultdict(lambda: Decimal("0.0000"))
    for event in latest.values():
        if event.status in COUNTING:
            amount = monthly(event.price, event.quantity, event.extra)
            out[event.customer, PRICES[event.price][1]] += amount
    return out


def model_movements(
    events: list[Event], first: date, start: date, end: date, currency: str
) -> dict[str, Decimal]:
    """Movements from ``start`` to ``end`` by day-end values from ``first`` (before any event)."""
    kinds = ("new", "expansion", "contraction", "churned", "reactivation")
    sums = dict.fromkeys(kinds, Decimal("0.0000"))
    before = model_mrr(events, _end_of(first))
    ever = {
        customer for (customer, code), value in before.items() if code == currency and value > 0
    }
    day = first + timedelta(days=1)
    while day <= end:
        after = model_mrr(events, _end_of(day))
        for customer in range(CUSTOMERS):
            old, new = before[customer, currency], after[customer, currency]
            if day >= start and old != new:
                if old == 0:
                    sums["reactivation" if customer in ever else "new"] += new
                elif new == 0:
                    sums["churned"] += old
                elif new > old:
                    sums["expansion"] += new - old
                else:
                    sums["contraction"] += old - new
            if new > 0:
                ever.add(customer)
        before = after
        day += timedelta(days=1)
    return sums


def _check(session: Session, events: list[Event], lo: date, hi: date) -> None:
    day = lo
    while day <= hi:
        expected = model_mrr(events, _end_of(day))
        for currency in CURRENCIES:
            want = sum((v for (_, c), v in expected.items() if c == currency), Decimal("0.0000"))
            assert paykit.mrr(session, at=_end_of(day), currency=currency) == want, (day, currency)
        day += timedelta(days=1)
    middle = lo + (hi - lo) / 2
    for start, end in (
        (lo + timedelta(days=1), hi),
        (middle, hi),
        (lo + timedelta(days=1), middle),
    ):
        for currency in CURRENCIES:
            moved = paykit.mrr_movements(session, start=start, end=end, currency=currency)
            assert moved.balanced
            assert (
                moved.start_mrr
                + moved.new
                + moved.reactivation
                + moved.expansion
                - moved.contraction
                - moved.churned
                == moved.end_mrr
            )
            prior = start - timedelta(days=1)
            assert moved.start_mrr == paykit.mrr(session, at=_end_of(prior), currency=currency)
            assert moved.end_mrr == paykit.mrr(session, at=_end_of(end), currency=currency)
            want = model_movements(events, lo, start, end, currency)
            got = {k: getattr(moved, k) for k in want}
            assert got == want, (start, end, currency)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(story=stories())
def test_mrr_matches_the_story_every_day(session: Session, story: Any) -> None:
    if not getattr(session, "_mrr_setup", False):
        _setup(session)
        session._mrr_setup = True  # type: ignore[attr-defined]
    events, order = story
    last = max(e.at for e in events)
    clock = FrozenClock(last + timedelta(hours=1))
    with session.begin_nested() as attempt:
        for index in order:
            event = events[index]
            sync_subscription(session, _snapshot(event), clock=clock, event_created=event.at)
        lo = T0.date() - timedelta(days=2)  # a day before any change: nobody was ever paying
        _check(session, events, lo, last.date() + timedelta(days=1))
        attempt.rollback()
