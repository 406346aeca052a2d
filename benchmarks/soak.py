"""Load with faults: mixed traffic from several workers against PostgreSQL, then the books.

    python benchmarks/soak.py [--seconds 300] [--workers 8] [--seed 1]

Each worker thread has its own Session on one engine (a fresh schema through
``search_path``, as benchmarks/check.py) and, until the time is up, picks a
random operation: ``checkout`` (``place_order`` committed, then ``pay_order``
committed; 15 % with a declining card first and the customer's second card
after, 15 % left unpaid), ``quote`` (``quote_order``), ``refund`` (``issue_refund`` of a
paid order, full or partial, by a SUPPORT user), ``cancel`` (``cancel_order``
of an unpaid order), ``discount`` (``apply_discount`` on an unpaid order),
``subscribe`` / ``change_subscription`` / ``cancel_subscription``, and
``webhook`` (delivers a few events the gateway emitted, shuffled, through
``paykit.webhooks.handle_webhook``; about a third are put back to be
delivered again).

The gateway is :class:`FaultyGateway`, a FakeGateway (thread-safe: it holds
its own lock over every check-act-record) that, with a seeded RNG, sleeps a
few milliseconds per call and on its money calls injects a ``5xx`` before the
call (``GatewayUnavailable``, nothing happened) or a ``timeout`` after the
call succeeded (``GatewayUnavailable`` with code ``gateway_timeout``: it
happened, the caller was not told). It emits the Stripe events the real
gateway would send (``payment_intent.succeeded`` / ``payment_failed`` /
``canceled``, ``refund.created``) at the moment it acts, so they race the
transactions that made the calls. The workers behave as docs/orders.md tells
a host to: roll back on any error; after ``GatewayUnavailable``, retry the
same call with the same idempotency key (up to 6 attempts); a serialization
failure or deadlock is retried too. Any other exception is an error and
fails the run.

At the end it runs the host's jobs (the clock moves on a day:
``release_expired_orders`` until none is left, then ``reconcile``), and then
the books: ``paykit.check`` must find nothing, and the gateway's ledger must
agree with the database to the cent (every captured payment minus its
refunds equals its order's total minus ``refunded_amount``; no money
captured without a paid order, no paid order without its captured money;
each order's succeeded Refund rows equal the gateway's refunds). Any mismatch
exits non-zero. It prints operations/s, each operation's count, outcome and
p50/p99 latency (an operation that found nothing to act on, such as a
cancellation with no unpaid order at hand, is listed as an outcome but not
timed or counted), and the faults injected and survived by kind.
``SOAK_DEBUG=1`` prints the traceback of any ``idempotency_conflict`` refusal.

PostgreSQL comes from PAYKIT_BENCH_DATABASE_URL (default: the test server);
the schema is dropped afterwards unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import paykit
from paykit import models as m
from paykit.errors import GatewayUnavailable, PaykitError, PaymentDeclined
from paykit.gateways import FakeGateway, GatewayPayment, GatewayRefund
from paykit.money import to_minor_units
from paykit.testing import sign_webhook, stripe_event
from paykit.webhooks import handle_webhook

PG_URL = os.environ.get(
    "PAYKIT_BENCH_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ADDRESS = {"line1": "1 Main St", "city": "Springfield", "country": "US"}
T0 = datetime(2025, 6, 1, tzinfo=UTC)
SECRET = "whsec_soak"
ATTEMPTS = 6
DECLINING_CARDS = ("pm_card_chargeDeclined", "pm_card_chargeDeclinedInsufficientFunds")
# Operation weights: checkouts dominate, as in a shop.
MIX = {
    "checkout": 30,
    "quote": 15,
    "refund": 10,
    "cancel": 6,
    "discount": 6,
    "subscribe": 5,
    "change_subscription": 4,
    "cancel_subscription": 3,
    "webhook": 12,
}


class FaultyGateway(FakeGateway):
    """A FakeGateway that injects latency, 5xx before and timeouts after its money calls.

    FakeGateway is thread-safe; the RNG and the counters here have a lock of their
    own. Events the real gateway would send are put in ``outbox`` when it acts
    (a list of its own: ``FakeGateway.events`` holds the fake's).
    """

    def __init__(
        self,
        *,
        clock: paykit.FrozenClock,
        seed: int,
        rate_5xx: float = 0.04,
        rate_timeout: float = 0.04,
        latency_ms: tuple[float, float] = (1.0, 6.0),
    ) -> None:
        super().__init__(clock=clock, namespace="soak")
        self.rng = random.Random(seed)
        self.rng_lock = threading.Lock()
        self.rate_5xx = rate_5xx
        self.rate_timeout = rate_timeout
        self.latency_ms = latency_ms
        self.injected: Counter[str] = Counter()
        self.outbox: list[dict[str, Any]] = []
        self.soak_clock = clock
        self.enabled = True

    def _draw(self) -> tuple[float, str | None]:
        with self.rng_lock:
            delay = self.rng.uniform(*self.latency_ms) / 1000
            roll = self.rng.random()
        if not self.enabled:
            return delay, None
        if roll < self.rate_5xx:
            return delay, "5xx"
        if roll < self.rate_5xx + self.rate_timeout:
            return delay, "timeout"
        return delay, None

    def _count(self, kind: str) -> None:
        with self.rng_lock:
            self.injected[kind] += 1
        FAULTS_SEEN.kinds.append(kind)

    def emit(self, event_type: str, obj: dict[str, Any]) -> None:
        event = stripe_event(event_type, obj, created=self.soak_clock.now())
        with self.rng_lock:
            self.outbox.append(event)

    def _faulty(self, operation: str, call: Callable[[], Any]) -> Any:
        delay, fault = self._draw()
        time.sleep(delay)
        if fault == "5xx":
            self._count("5xx")
            raise GatewayUnavailable(
                "injected: 503 from the gateway", details={"operation": operation}
            )
        result = call()
        if fault == "timeout":
            self._count("timeout")
            raise GatewayUnavailable(
                "injected: timed out after the gateway acted",
                code="gateway_timeout",
                details={"operation": operation},
            )
        return result

    def _payment_event(self, event_type: str, payment: GatewayPayment) -> None:
        self.emit(
            event_type,
            {
                "id": payment.id,
                "amount": payment.amount_minor,
                "currency": payment.currency.lower(),
                "status": str(payment.status),
                "customer": payment.customer_id,
                "payment_method": payment.payment_method_id,
                "metadata": dict(payment.metadata),
                "last_payment_error": (
                    {"decline_code": payment.decline_code} if payment.decline_code else None
                ),
            },
        )

    def _refund_event(self, refund: GatewayRefund) -> None:
        self.emit(
            "refund.created",
            {
                "id": refund.id,
                "payment_intent": refund.payment_id,
                "amount": refund.amount_minor,
                "currency": refund.currency.lower(),
                "status": str(refund.status),
                "reason": refund.reason,
                "failure_reason": refund.failure_reason,
                "metadata": {},
            },
        )

    def create_payment(self, **kw: Any) -> GatewayPayment:  # type: ignore[override]
        return self._faulty(
            "create_payment", lambda: super(FaultyGateway, self).create_payment(**kw)
        )  # type: ignore[no-any-return]

    def confirm_payment(self, payment_id: str, **kw: Any) -> GatewayPayment:  # type: ignore[override]
        def call() -> GatewayPayment:
            try:
                payment = super(FaultyGateway, self).confirm_payment(payment_id, **kw)
            except PaymentDeclined:
                self._count("decline")
                self._payment_event("payment_intent.payment_failed", self.payments[payment_id])
                raise
            if payment.status == "succeeded":
                self._payment_event("payment_intent.succeeded", payment)
            return payment

        return self._faulty("confirm_payment", call)  # type: ignore[no-any-return]

    def cancel_payment(self, payment_id: str, **kw: Any) -> GatewayPayment:  # type: ignore[override]
        def call() -> GatewayPayment:
            payment = super(FaultyGateway, self).cancel_payment(payment_id, **kw)
            self._payment_event("payment_intent.canceled", payment)
            return payment

        return self._faulty("cancel_payment", call)  # type: ignore[no-any-return]

    def update_payment_amount(self, payment_id: str, **kw: Any) -> GatewayPayment:  # type: ignore[override]
        return self._faulty(  # type: ignore[no-any-return]
            "update_payment_amount",
            lambda: super(FaultyGateway, self).update_payment_amount(payment_id, **kw),
        )

    def create_refund(self, **kw: Any) -> GatewayRefund:  # type: ignore[override]
        def call() -> GatewayRefund:
            refund = super(FaultyGateway, self).create_refund(**kw)
            self._refund_event(refund)
            return refund

        return self._faulty("create_refund", call)  # type: ignore[no-any-return]

    def create_subscription(self, **kw: Any) -> Any:  # type: ignore[override]
        return self._faulty(
            "create_subscription", lambda: super(FaultyGateway, self).create_subscription(**kw)
        )

    def update_subscription(self, subscription_id: str, **kw: Any) -> Any:  # type: ignore[override]
        return self._faulty(
            "update_subscription",
            lambda: super(FaultyGateway, self).update_subscription(subscription_id, **kw),
        )

    def cancel_subscription(self, subscription_id: str, **kw: Any) -> Any:  # type: ignore[override]
        return self._faulty(
            "cancel_subscription",
            lambda: super(FaultyGateway, self).cancel_subscription(subscription_id, **kw),
        )


class _FaultsSeen(threading.local):
    """The faults injected into the current worker's current operation."""

    def __init__(self) -> None:
        self.kinds: list[str] = []


FAULTS_SEEN = _FaultsSeen()


@dataclass
class Shop:
    """The catalog and the people the workers use, and what they share."""

    engine: sa.Engine
    gateway: FaultyGateway
    clock: paykit.FrozenClock
    customers: list[str]
    support_id: str
    prices: list[str]
    plans: list[str]
    codes: list[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    paid: list[str] = field(default_factory=list)
    unpaid: list[str] = field(default_factory=list)
    subscriptions: list[str] = field(default_factory=list)


@dataclass
class Stats:
    """Per-operation latencies and outcomes, faults survived, errors."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    survived: Counter[str] = field(default_factory=Counter)
    retries: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)


class GaveUp(Exception):
    """Every attempt hit the gateway being unavailable."""


def with_retries(session: Session, stats: Stats, call: Callable[[], Any]) -> Any:
    """``call`` in a transaction; after GatewayUnavailable, a serialization failure or a
    deadlock, roll back and run it again (the same idempotency keys: they are in ``call``)."""
    for _ in range(ATTEMPTS):
        try:
            result = call()
            session.commit()
            return result
        except GatewayUnavailable as exc:
            session.rollback()
            with stats.lock:
                stats.retries[exc.code] += 1
        except DBAPIError as exc:
            session.rollback()
            code = getattr(exc.orig, "sqlstate", None)
            if code not in ("40001", "40P01"):
                raise
            with stats.lock:
                stats.retries[f"sqlstate {code}"] += 1
        except BaseException:
            session.rollback()
            raise
    raise GaveUp


def _pick(rng: random.Random, items: list[str], lock: threading.Lock) -> str | None:
    with lock:
        return rng.choice(items) if items else None


def op_checkout(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    customer = rng.choice(shop.customers)
    items = [
        {"price_id": price, "quantity": rng.randint(1, 3)}
        for price in rng.sample(shop.prices, rng.randint(1, 2))
    ]
    code = rng.choice(shop.codes) if rng.random() < 0.3 else None
    key = uuid.uuid4().hex
    order = with_retries(
        s,
        stats,
        lambda: (
            paykit.place_order(
                s,
                customer_id=customer,
                items=items,
                billing_address=ADDRESS,
                gateway=shop.gateway,
                discount_code=code,
                clock=shop.clock,
                idempotency_key=key,
            ).order
        ),
    )
    order_id = order.id
    cards = ["pm_card_visa"]
    if rng.random() < 0.15:
        cards.insert(0, rng.choice(DECLINING_CARDS))
    if rng.random() < 0.1:
        cards = cards[:1]  # the customer walks away after a decline
    if rng.random() < 0.15:
        cards = []  # or leaves the order unpaid: for cancel, discount and the expiry job
    outcome = "placed"
    for attempt, card in enumerate(cards):
        pay_key = f"{key}:pay:{attempt}"
        try:
            with_retries(
                s,
                stats,
                lambda card=card, pay_key=pay_key: paykit.pay_order(
                    s,
                    order_id=order_id,
                    gateway=shop.gateway,
                    payment_method_id=card,
                    clock=shop.clock,
                    idempotency_key=pay_key,
                ),
            )
            outcome = "paid"
            break
        except PaymentDeclined:
            outcome = "declined"
    with shop.lock:
        (shop.paid if outcome == "paid" else shop.unpaid).append(order_id)
    return outcome


def op_quote(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    items = [{"price_id": rng.choice(shop.prices), "quantity": rng.randint(1, 5)}]
    code = rng.choice(shop.codes) if rng.random() < 0.5 else None
    quote = paykit.quote_order(
        s, customer_id=rng.choice(shop.customers), items=items, discount_code=code, clock=shop.clock
    )
    s.rollback()
    return "discount_refused" if quote.discount_error else "ok"


def op_refund(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    order_id = _pick(rng, shop.paid, shop.lock)
    if order_id is None:
        return "nothing"
    order = s.get(m.Order, order_id)
    assert order is not None
    left = order.total_amount - order.refunded_amount
    s.rollback()
    if left <= 0:
        return "nothing"
    amount = (
        None if rng.random() < 0.4 else max(Decimal("0.50"), (left / 3).quantize(Decimal("0.01")))
    )
    amount = None if amount is not None and amount >= left else amount
    key = uuid.uuid4().hex
    with_retries(
        s,
        stats,
        lambda: paykit.issue_refund(
            s,
            order_id=order_id,
            reason=m.RefundReason.REQUESTED_BY_CUSTOMER,
            gateway=shop.gateway,
            amount=amount,
            actor_id=shop.support_id,
            clock=shop.clock,
            idempotency_key=key,
        ),
    )
    return "full" if amount is None else "partial"


def op_cancel(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    order_id = _pick(rng, shop.unpaid, shop.lock)
    if order_id is None:
        return "nothing"
    order = with_retries(
        s,
        stats,
        lambda: paykit.cancel_order(s, order_id=order_id, gateway=shop.gateway, clock=shop.clock),
    )
    if order.status is m.OrderStatus.CANCELLED:
        with shop.lock:
            if order_id in shop.unpaid:
                shop.unpaid.remove(order_id)
    return str(order.status).lower()


def op_discount(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    order_id = _pick(rng, shop.unpaid, shop.lock)
    if order_id is None:
        return "nothing"
    code = rng.choice(shop.codes)
    with_retries(
        s,
        stats,
        lambda: paykit.apply_discount(
            s, order_id=order_id, code=code, gateway=shop.gateway, clock=shop.clock
        ),
    )
    return "applied"


def op_subscribe(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    key = uuid.uuid4().hex
    user = rng.choice(shop.customers)
    plan = rng.choice(shop.plans)
    sub = with_retries(
        s,
        stats,
        lambda: paykit.subscribe(
            s,
            user_id=user,
            price_id=plan,
            gateway=shop.gateway,
            payment_method_id="pm_card_visa",
            clock=shop.clock,
            idempotency_key=key,
        ),
    )
    with shop.lock:
        shop.subscriptions.append(sub.id)
    return str(sub.status).lower()


def op_change_subscription(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    sub_id = _pick(rng, shop.subscriptions, shop.lock)
    if sub_id is None:
        return "nothing"
    key = uuid.uuid4().hex
    change: dict[str, Any] = (
        {"quantity": rng.randint(1, 4)}
        if rng.random() < 0.5
        else {"price_id": rng.choice(shop.plans)}
    )
    with_retries(
        s,
        stats,
        lambda: paykit.change_subscription(
            s,
            subscription_id=sub_id,
            gateway=shop.gateway,
            clock=shop.clock,
            idempotency_key=key,
            **change,
        ),
    )
    return "changed"


def op_cancel_subscription(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    sub_id = _pick(rng, shop.subscriptions, shop.lock)
    if sub_id is None:
        return "nothing"
    key = uuid.uuid4().hex
    at_period_end = rng.random() < 0.5
    with_retries(
        s,
        stats,
        lambda: paykit.cancel_subscription(
            s,
            subscription_id=sub_id,
            gateway=shop.gateway,
            at_period_end=at_period_end,
            clock=shop.clock,
            idempotency_key=key,
        ),
    )
    return "at_period_end" if at_period_end else "now"


def deliver(s: Session, shop: Shop, event: dict[str, Any]) -> int:
    payload = json.dumps(event).encode()
    header = sign_webhook(payload, SECRET, timestamp=shop.clock.now())
    response = handle_webhook(
        s, payload, header, secrets=SECRET, gateway=shop.gateway, clock=shop.clock
    )
    s.commit()  # whatever the status: a failed event's inbox row is kept
    return response.status_code


def op_webhook(s: Session, shop: Shop, rng: random.Random, stats: Stats) -> str:
    with shop.gateway.rng_lock:
        events = shop.gateway.outbox
        rng.shuffle(events)
        batch = [events.pop() for _ in range(min(len(events), 3))]
    if not batch:
        return "nothing"
    codes = []
    for event in batch:
        try:
            codes.append(with_retries(s, stats, lambda event=event: deliver(s, shop, event)))
        except BaseException:
            with shop.gateway.rng_lock:
                shop.gateway.outbox.append(event)  # Stripe sends it again
            raise
        if rng.random() < 0.35:
            with shop.gateway.rng_lock:
                shop.gateway.outbox.append(event)  # delivered again later
    return "+".join(sorted(set(map(str, codes))))


OPERATIONS: dict[str, Callable[[Session, Shop, random.Random, Stats], str]] = {
    "checkout": op_checkout,
    "quote": op_quote,
    "refund": op_refund,
    "cancel": op_cancel,
    "discount": op_discount,
    "subscribe": op_subscribe,
    "change_subscription": op_change_subscription,
    "cancel_subscription": op_cancel_subscription,
    "webhook": op_webhook,
}


def worker(shop: Shop, stats: Stats, seed: int, deadline: float) -> None:
    rng = random.Random(seed)
    names = list(MIX)
    weights = [MIX[name] for name in names]
    with Session(shop.engine, expire_on_commit=False) as s:
        while time.monotonic() < deadline:
            name = rng.choices(names, weights)[0]
            FAULTS_SEEN.kinds = []
            started = time.perf_counter()
            try:
                outcome = OPERATIONS[name](s, shop, rng, stats)
            except GaveUp:
                outcome = "gave_up"
            except PaykitError as exc:
                s.rollback()
                outcome = f"refused:{exc.code}"
                if os.environ.get("SOAK_DEBUG") and exc.code == "idempotency_conflict":
                    import traceback

                    traceback.print_exc()
                    print(FAULTS_SEEN.kinds, exc.details)
            except Exception as exc:  # every other failure is a finding
                s.rollback()
                with stats.lock:
                    stats.errors.append(f"{name}: {type(exc).__name__}: {exc}"[:500])
                outcome = "ERROR"
            elapsed = time.perf_counter() - started
            with stats.lock:
                if outcome != "nothing":  # nothing to act on: not a measured operation
                    stats.latency[name].append(elapsed)
                stats.outcomes[name][outcome] += 1
                if outcome != "ERROR":
                    stats.survived.update(FAULTS_SEEN.kinds)


def build_shop(engine: sa.Engine, seed: int) -> Shop:
    clock = paykit.FrozenClock(T0)
    gateway = FaultyGateway(clock=clock, seed=seed)
    with Session(engine) as s, s.begin():
        customers = [m.User(email=f"c{n}@example.com", name=f"Customer {n}") for n in range(40)]
        support = m.User(email="support@example.com", name="Support", role=m.UserRole.SUPPORT)
        s.add_all([*customers, support])
        prices = []
        for n in range(6):
            product = m.Product(
                name=f"Widget {n}",
                description="A widget.",
                slug=f"widget-{n}",
                type=m.ProductType.ONE_TIME,
                status=m.ProductStatus.PUBLISHED,
                base_price=Decimal("9.99") + n * 5,
                tax_rate=Decimal("0.0825") if n % 2 else None,
                track_inventory=n < 3,
                stock_quantity=1_000_000 if n < 3 else 0,
            )
            prices.append(
                m.Price(
                    product=product,
                    stripe_price_id=f"price_widget_{n}",
                    unit_amount=product.base_price,
                    type=m.PriceType.ONE_TIME,
                )
            )
        plans = []
        for n, amount in enumerate((1000, 2500)):
            product = m.Product(
                name=f"Plan {n}",
                description="A plan.",
                slug=f"plan-{n}",
                type=m.ProductType.SUBSCRIPTION,
                status=m.ProductStatus.PUBLISHED,
                base_price=Decimal(amount) / 100,
            )
            plans.append(
                m.Price(
                    product=product,
                    stripe_price_id=gateway.add_price(unit_amount=amount, currency="usd"),
                    unit_amount=Decimal(amount) / 100,
                    type=m.PriceType.RECURRING,
                    recurring={"interval": "month", "interval_count": 1},
                )
            )
        codes = [
            m.Discount(
                code="TEN", name="10 %", type=m.DiscountType.PERCENTAGE, value=Decimal("10")
            ),
            m.Discount(
                code="FIVEOFF", name="5 off", type=m.DiscountType.FIXED_AMOUNT, value=Decimal("5")
            ),
            m.Discount(
                code="RARE",
                name="capped",
                type=m.DiscountType.PERCENTAGE,
                value=Decimal("20"),
                max_uses=200,
            ),
        ]
        s.add_all([*prices, *plans, *codes])
        s.flush()
        shop = Shop(
            engine=engine,
            gateway=gateway,
            clock=clock,
            customers=[c.id for c in customers],
            support_id=support.id,
            prices=[p.id for p in prices],
            plans=[p.id for p in plans],
            codes=[c.code for c in codes],
        )
    return shop


def host_jobs(shop: Shop, stats: Stats) -> dict[str, int]:
    """What the host's schedulers do: deliver what is left, release holds, reconcile."""
    shop.gateway.enabled = False  # the jobs run after the storm
    done: dict[str, int] = Counter()
    rng = random.Random(0)
    with Session(shop.engine, expire_on_commit=False) as s:
        while shop.gateway.outbox:
            op_webhook(s, shop, rng, stats)
            done["webhooks"] += 1
        shop.clock.advance(days=1)
        while True:
            released = paykit.release_expired_orders(s, gateway=shop.gateway, clock=shop.clock)
            s.commit()
            done["released"] += len(released)
            if not released:
                break
        report = paykit.reconcile(s, gateway=shop.gateway, clock=shop.clock)
        s.commit()
        print(f"reconcile: {report}")
        while shop.gateway.outbox:  # events of the jobs' own gateway calls
            op_webhook(s, shop, rng, stats)
            done["webhooks"] += 1
    return dict(done)


def check_ledger(shop: Shop) -> list[str]:
    """Every way the gateway's money and the database's disagree (empty: to the cent)."""
    problems: list[str] = []
    gateway = shop.gateway
    with Session(shop.engine) as s:
        orders = {o.stripe_payment_intent_id: o for o in s.scalars(sa.select(m.Order))}
        booked = dict(
            s.execute(
                sa.select(m.Refund.order_id, sa.func.sum(m.Refund.amount))
                .where(m.Refund.status == m.RefundStatus.SUCCEEDED)
                .group_by(m.Refund.order_id)
            ).all()
        )
        for payment in gateway.payments.values():
            if "paykit_reference" not in payment.metadata:
                continue
            captured = payment.amount_minor if payment.status == "succeeded" else 0
            refunded = gateway.amount_refunded(payment.id)
            order = orders.get(payment.id)
            if order is None:
                if captured - refunded != 0:
                    problems.append(f"{payment.id}: {captured - refunded} captured, no order")
                continue
            paid = order.payment_status in (m.PaymentStatus.SUCCEEDED, m.PaymentStatus.REFUNDED)
            db_net = (
                to_minor_units(order.total_amount - order.refunded_amount, order.currency)
                if paid
                else 0
            )
            if captured - refunded != db_net:
                problems.append(
                    f"order {order.id} ({order.status}/{order.payment_status}): gateway "
                    f"captured {captured} refunded {refunded}, database net {db_net}"
                )
            if captured and not paid:
                problems.append(f"order {order.id}: captured {captured} but {order.payment_status}")
            if to_minor_units(order.refunded_amount, order.currency) != refunded:
                problems.append(
                    f"order {order.id}: refunded_amount {order.refunded_amount}, gateway {refunded}"
                )
            if Decimal(booked.get(order.id, 0)) != order.refunded_amount:
                problems.append(f"order {order.id}: refund rows {booked.get(order.id)}")
        for order in orders.values():
            if order.payment_status is m.PaymentStatus.SUCCEEDED and order.total_amount > 0:
                payment = gateway.payments.get(order.stripe_payment_intent_id or "")
                if payment is None or payment.status != "succeeded":
                    problems.append(f"order {order.id} paid without a captured payment")
    return problems


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def run(
    seconds: float,
    workers: int,
    seed: int,
    keep: bool = False,
    tamper: Callable[[Shop], None] | None = None,
) -> dict[str, Any]:
    """One soak; returns the figures (``ok`` False when the books disagree or an error occurred).

    ``tamper`` (for the test that the books can fail) runs after the host's jobs,
    before the checks.
    """
    schema = f"pk_soak_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = paykit.create_engine(
        PG_URL, pool_size=workers + 2, connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        paykit.migrate(engine)
        shop = build_shop(engine, seed)
        stats = Stats()
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=worker, args=(shop, stats, seed * 1000 + n, deadline))
            for n in range(workers)
        ]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
        jobs = host_jobs(shop, stats)
        if tamper is not None:
            tamper(shop)
        with Session(engine) as s:
            report = paykit.check(s)
        problems = check_ledger(shop)
        total_ops = sum(len(v) for v in stats.latency.values())
        figures = {
            "seconds": round(wall, 1),
            "workers": workers,
            "seed": seed,
            "operations": total_ops,
            "ops_per_s": round(total_ops / wall, 1),
            "per_operation": {
                name: {
                    "count": len(stats.latency[name]),
                    "p50_ms": round(1000 * statistics.median(stats.latency[name]), 1),
                    "p99_ms": round(1000 * percentile(stats.latency[name], 0.99), 1),
                    "outcomes": dict(stats.outcomes[name].most_common()),
                }
                for name in MIX
                if stats.latency[name]
            },
            "faults_injected": dict(shop.gateway.injected),
            "faults_survived": dict(stats.survived),
            "retries": dict(stats.retries),
            "host_jobs": jobs,
            "check": "ok" if report.ok else report.format(),
            "ledger": "agrees to the cent" if not problems else problems[:20],
            "ledger_problems": len(problems),
            "errors": stats.errors[:20],
            "error_count": len(stats.errors),
            "ok": report.ok and not problems and not stats.errors,
        }
        with Session(engine) as s:
            figures["rows"] = {
                "orders": s.scalar(sa.select(sa.func.count()).select_from(m.Order)),
                "refunds": s.scalar(sa.select(sa.func.count()).select_from(m.Refund)),
                "webhook_events": s.scalar(sa.select(sa.func.count()).select_from(m.WebhookEvent)),
                "subscriptions": s.scalar(sa.select(sa.func.count()).select_from(m.Subscription)),
            }
        return figures
    finally:
        engine.dispose()
        if keep:
            print(f"schema kept: {schema}")
        else:
            with admin.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        admin.dispose()


def print_report(figures: dict[str, Any]) -> None:
    print(
        f"\nsoak: {figures['workers']} workers, {figures['seconds']} s, seed {figures['seed']}: "
        f"{figures['operations']} operations, {figures['ops_per_s']} operations/s"
    )
    print(f"\n{'operation':<20} {'count':>7} {'p50 ms':>8} {'p99 ms':>8}  outcomes")
    for name, row in figures["per_operation"].items():
        outcomes = ", ".join(f"{k} {v}" for k, v in row["outcomes"].items())
        print(f"{name:<20} {row['count']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8}  {outcomes}")
    print(f"\n{'fault':<20} {'injected':>9} {'survived':>9}")
    for kind in ("5xx", "timeout", "decline"):
        print(
            f"{kind:<20} {figures['faults_injected'].get(kind, 0):>9} "
            f"{figures['faults_survived'].get(kind, 0):>9}"
        )
    print(f"\nretries: {figures['retries']}")
    print(f"host jobs: {figures['host_jobs']}")
    print(f"rows: {figures['rows']}")
    print(f"paykit check: {figures['check']}")
    print(f"ledger: {figures['ledger']}")
    if figures["errors"]:
        print(f"errors ({figures['error_count']}):")
        for error in figures["errors"]:
            print(f"  {error}")
    print("\nRESULT: " + ("PASS" if figures["ok"] else "FAIL"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    parser.add_argument("--keep", action="store_true", help="keep the schema afterwards")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    figures = run(args.seconds, args.workers, args.seed, keep=args.keep)
    print_report(figures)
    print(f"load average after: {os.getloadavg()}")
    if args.json:
        print(json.dumps(figures, indent=2, default=str))
    sys.exit(0 if figures["ok"] else 1)


if __name__ == "__main__":
    main()
